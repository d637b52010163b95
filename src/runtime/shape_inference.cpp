#include "runtime/shape_inference.h"

#include "runtime/ops/op_registry.h"

namespace dfmpc {

std::map<std::string, Shape> infer_shapes(const Graph& g, int64_t batch) {
  std::map<std::string, Tensor> values;
  for (const auto& in : g.inputs) {
    Shape s = in.shape;
    if (!s.empty() && s[0] < 0) s[0] = batch;
    values[in.name] = Tensor::zeros(s);
  }
  auto get = [&](const std::string& v) -> const Tensor* {
    if (v.empty()) return nullptr;
    if (g.is_const(v)) return &g.constant(v);
    return &values.at(v);
  };
  for (const auto& n : g.nodes) {
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) ins.push_back(get(in));
    std::vector<Tensor*> outs;
    for (const auto& o : n.outputs) outs.push_back(&values[o]);
    checked_op(n).run(n, g.opset, ins, outs);
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [k, t] : values) shapes[k] = t.shape;
  for (const auto& [k, t] : g.initializers) shapes[k] = t.shape;
  return shapes;
}

}  // namespace dfmpc
