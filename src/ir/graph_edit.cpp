#include "ir/graph_edit.h"

#include <set>

namespace dfmpc {

std::string fresh_name(const Graph& g, const std::string& base) {
  std::set<std::string> used;
  for (const auto& [k, v] : g.initializers) used.insert(k);
  for (const auto& n : g.nodes) {
    used.insert(n.name);
    used.insert(n.inputs.begin(), n.inputs.end());
    used.insert(n.outputs.begin(), n.outputs.end());
  }
  for (const auto& v : g.inputs) used.insert(v.name);
  for (const auto& v : g.outputs) used.insert(v.name);
  std::string name = base;
  for (int i = 1; used.count(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

Tensor& own_constant(Graph& g, int n, size_t k, int64_t create_zeros) {
  Node& node = g.nodes[n];
  if (node.inputs.size() <= k || node.inputs[k].empty()) {
    if (create_zeros <= 0) throw ModelError(node.where() + ": input " + std::to_string(k) + " is absent");
    const std::string name = fresh_name(g, node.name + "_bias");
    node.inputs.resize(k + 1);
    node.inputs[k] = name;
    return g.initializers[name] = Tensor::zeros({create_zeros});
  }
  const std::string old = node.inputs[k];
  if (!g.is_const(old) || !g.constant(old).is_f32())
    throw ModelError(node.where() + ": input '" + old + "' is not an FP32 constant");
  if (g.consumers_of(old).size() > 1 || g.is_graph_output(old)) {
    const std::string name = fresh_name(g, old);
    g.initializers[name] = g.constant(old);
    node.inputs[k] = name;
  }
  return g.constant(node.inputs[k]);
}

}  // namespace dfmpc
