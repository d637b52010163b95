#include "passes/strip_qdq.h"

namespace dfmpc {

int strip_activation_qdq(Graph& g) {
  int stripped = 0;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    Node& dq = g.nodes[k];
    if (dq.op != "DequantizeLinear" || dq.inputs.empty() || g.is_const(dq.inputs[0])) continue;
    const int p = g.producer_of(dq.inputs[0]);
    if (p < 0 || g.nodes[p].op != "QuantizeLinear") continue;
    const std::string x = g.nodes[p].inputs.at(0), y = dq.outputs.at(0);
    ++stripped;
    if (g.is_graph_output(y)) {  // the output keeps its name
      dq = Node{dq.name, "Identity", {x}, {y}, {}};
      continue;
    }
    for (size_t j = k + 1; j < g.nodes.size(); ++j)
      for (auto& in : g.nodes[j].inputs)
        if (in == y) in = x;
  }
  if (stripped) g.prune();  // the pairs nobody reads any more
  return stripped;
}

}  // namespace dfmpc
