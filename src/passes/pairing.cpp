#include "passes/pairing.h"

#include <set>

namespace dfmpc {
namespace {

bool const_input(const Graph& g, const Node& n, size_t k) {
  return n.inputs.size() > k && !n.inputs[k].empty() && g.is_const(n.inputs[k]);
}

// The one node reading v, or why there is none; -1 on failure.
int sole_reader(const Graph& g, const std::string& v, std::string& why) {
  if (g.is_graph_output(v)) {
    why = "its output is a graph output";
    return -1;
  }
  const auto c = g.consumers_of(v);
  if (c.size() != 1) {
    why = "its output has " + std::to_string(c.size()) + " consumers";
    return -1;
  }
  return c[0];
}

// Tries to pair conv `a`; on failure returns false and sets `why`.
bool match_pair(const Graph& g, int a, LayerPair& p, std::string& why) {
  const Node& conv = g.nodes[a];
  p = LayerPair{};
  p.low = a;
  std::string v = conv.outputs[0];
  int k = sole_reader(g, v, why);
  if (k < 0) return false;
  if (g.nodes[k].op == "BatchNormalization") {
    const Node& bn = g.nodes[k];
    for (size_t i = 1; i < 5; ++i)
      if (!const_input(g, bn, i)) return why = "its BatchNormalization has non-constant parameters", false;
    p.bn = k;
    v = bn.outputs[0];
    if ((k = sole_reader(g, v, why)) < 0) return why = "its BN " + why.substr(4), false;
  }
  if (g.nodes[k].op != "Relu") {
    why = "it is followed by " + g.nodes[k].op + ", not (BN and) ReLU";
    return false;
  }
  p.relu = k;
  v = g.nodes[k].outputs[0];
  if ((k = sole_reader(g, v, why)) < 0) return why = "its ReLU " + why.substr(4), false;
  const Node& next = g.nodes[k];
  if (next.op != "Conv" || next.inputs[0] != v || !const_input(g, next, 1)) {
    why = "its ReLU feeds " + next.op + ", not a conv";
    return false;
  }
  p.high = k;
  return true;
}

}  // namespace

bool is_weight_layer(const Graph& g, const Node& n) {
  return (n.op == "Conv" || n.op == "Gemm" || n.op == "MatMul") && const_input(g, n, 1) &&
         g.constant(n.inputs[1]).is_f32();
}

PairingPlan find_pairs(const Graph& g) {
  PairingPlan plan;
  std::set<int> used;
  std::vector<std::string> why(g.nodes.size());
  for (int a = 0; a < static_cast<int>(g.nodes.size()); ++a) {
    if (used.count(a) || g.nodes[a].op != "Conv" || !is_weight_layer(g, g.nodes[a])) continue;
    LayerPair p;
    if (match_pair(g, a, p, why[a]) && !used.count(p.high)) {
      plan.pairs.push_back(p);
      used.insert(a);
      used.insert(p.high);
    } else if (why[a].empty()) {
      why[a] = "its partner is already the low layer of another pair";
    }
  }
  for (int k = 0; k < static_cast<int>(g.nodes.size()); ++k)
    if (!used.count(k) && is_weight_layer(g, g.nodes[k])) {
      plan.edge_layers.push_back(k);
      plan.edge_reasons.push_back(g.nodes[k].op != "Conv" ? g.nodes[k].op + " layer" : why[k]);
    }
  return plan;
}

}  // namespace dfmpc
