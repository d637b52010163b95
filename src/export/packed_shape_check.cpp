#include "export/packed_shape_check.h"

#include "runtime/shape_inference.h"

namespace dfmpc {

void check_packed_shapes(const Graph& skeleton, const PackedWeights& weights, const std::string& what) {
  for (const auto& in : skeleton.inputs)
    for (size_t k = 1; k < in.shape.size(); ++k)
      if (in.shape[k] < 0) return;  // spatial size known only from the data: checked when it runs
  Graph g = skeleton;
  for (const auto& [name, w] : weights) {
    // Conv reads only its weight's shape during inference; others read values, so get zeros
    // (small: Gemm / MatMul weights).
    bool shape_only = true;
    for (int c : g.consumers_of(name)) {
      const Node& n = g.nodes[static_cast<size_t>(c)];
      shape_only = shape_only && n.op == "Conv" && n.inputs.size() > 1 && n.inputs[1] == name && n.inputs[0] != name;
    }
    Tensor& t = g.initializers.at(name);
    if (shape_only) t.shape = w.shape;
    else t = Tensor::zeros(w.shape);
  }
  try {
    infer_shapes(g, 1);
  } catch (const ModelError& e) {
    throw ModelError(what + ": a stored tensor does not fit the graph: " + e.what());
  }
}

}  // namespace dfmpc
