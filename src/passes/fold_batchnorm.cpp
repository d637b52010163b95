#include "passes/fold_batchnorm.h"

#include <set>

#include "runtime/fusion.h"

namespace dfmpc {

namespace {

bool foldable(const Graph& g, const Node& bn, int& conv) {
  if (bn.op != "BatchNormalization" || bn.inputs.size() < 5 || bn.outputs.size() != 1) return false;
  for (size_t i = 1; i < 5; ++i)
    if (bn.inputs[i].empty() || !g.is_const(bn.inputs[i]) || !g.constant(bn.inputs[i]).is_f32()) return false;
  conv = g.producer_of(bn.inputs[0]);
  if (conv < 0) return false;
  const Node& c = g.nodes[conv];
  if (c.op != "Conv" || c.inputs.size() < 2 || !g.is_const(c.inputs[1])) return false;
  if (c.inputs.size() > 2 && !c.inputs[2].empty() && !g.is_const(c.inputs[2])) return false;
  if (g.is_graph_output(c.outputs[0]) || g.consumers_of(c.outputs[0]).size() != 1) return false;
  const int64_t co = g.constant(c.inputs[1]).dim(0);
  for (size_t i = 1; i < 5; ++i)
    if (g.constant(bn.inputs[i]).numel() != co) return false;
  return true;
}

}  // namespace

BnStats fold_batchnorm(Graph& g) {
  BnStats stats;
  std::vector<std::string> params;  // BN parameters, dropped at the end if now unread
  for (size_t k = 0; k < g.nodes.size();) {
    int c = -1;
    if (!foldable(g, g.nodes[k], c)) {
      ++k;
      continue;
    }
    const Node bn = g.nodes[k];  // copy: the node is erased below
    const Tensor &gamma = g.constant(bn.inputs[1]), &beta = g.constant(bn.inputs[2]);
    const int64_t co = gamma.numel();
    // Stats are keyed by conv name, so it must be non-empty and unique.
    int same = 0;
    for (const auto& n : g.nodes) same += n.name == g.nodes[c].name;
    if (g.nodes[c].name.empty() || same > 1) g.nodes[c].name = fresh_name(g, "Conv_folded");
    Tensor& w = own_constant(g, c, 1);
    Tensor& b = own_constant(g, c, 2, co);
    fold_bn_into_conv(w.f, b.f, co, gamma, beta, g.constant(bn.inputs[3]), g.constant(bn.inputs[4]),
                      bn.attr_f("epsilon", 1e-5f));
    stats[g.nodes[c].name] = BnParams{gamma.f, beta.f};
    g.nodes[c].outputs[0] = bn.outputs[0];
    params.insert(params.end(), bn.inputs.begin() + 1, bn.inputs.begin() + 5);
    g.nodes.erase(g.nodes.begin() + static_cast<long>(k));
  }
  for (const auto& p : params)
    if (g.consumers_of(p).empty() && !g.is_graph_output(p)) g.initializers.erase(p);
  return stats;
}

}  // namespace dfmpc
