#include "quant/stats/graph_shapes.h"

#include "runtime/ops/conv_geom.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/op_util.h"

namespace dfmpc {
namespace {

// The checks ops::conv makes before it computes anything, and its output shape.
void conv_shape_only(const Node& n, std::span<const Tensor* const> in, Tensor& out) {
  const Tensor& x = need(n, in, 0);
  const Tensor& w = need(n, in, 1);
  const ConvGeom g = conv_geom(n, x.shape, w.shape);
  const Tensor* b = in.size() > 2 ? in[2] : nullptr;
  if (b && b->numel() != g.c_out) throw ModelError(n.where() + ": bias size does not match output channels");
  prepare_f32(out, {x.shape[0], g.c_out, g.out_h(), g.out_w()});
}

}  // namespace

std::map<std::string, Shape> graph_shapes(const Graph& g, int64_t batch) {
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
    const OpDef& op = checked_op(n);
    if (n.op == "Conv") conv_shape_only(n, ins, *outs.at(0));
    else op.run(n, g.opset, ins, outs);
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [k, t] : values) shapes[k] = t.shape;
  for (const auto& [k, t] : g.initializers) shapes[k] = t.shape;
  return shapes;
}

}  // namespace dfmpc
