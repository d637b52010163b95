#include "runtime/shape_inference.h"

#include <optional>
#include <span>

#include "runtime/ops/conv_geom.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/op_util.h"

namespace dfmpc {
namespace {

// Numpy broadcast of two shapes (ModelError when they do not broadcast).
Shape broadcast(const Node& n, const Shape& a, const Shape& b) {
  Shape r(std::max(a.size(), b.size()), 1);
  for (size_t k = 0; k < r.size(); ++k) {
    const int64_t x = k < r.size() - a.size() ? 1 : a[k - (r.size() - a.size())];
    const int64_t y = k < r.size() - b.size() ? 1 : b[k - (r.size() - b.size())];
    if (x != y && x != 1 && y != 1)
      throw ModelError(n.where() + ": shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    r[k] = x == 1 ? y : x;
  }
  return r;
}

// An activation that carries its shape only (its values, those of an all-zero input, are
// never needed).
bool data_free(const Tensor* t) { return t && t->is_f32() && t->f.empty() && t->numel() > 0; }

// The output shape of the ops whose shape follows from their input shapes alone (the bulk
// of a CNN), or nullopt: those run on zero tensors instead. Except for Conv, only on a
// data-free first input, so shape arithmetic (Shape -> Gather -> Mul ...) still runs.
std::optional<Shape> shape_only(const Node& n, std::span<const Tensor* const> in) {
  if (n.outputs.size() != 1 || in.empty() || !in[0]) return std::nullopt;
  const Shape& x = in[0]->shape;
  if (n.op != "Conv" && !data_free(in[0])) return std::nullopt;
  if (n.op == "Conv") {
    const Tensor& w = need(n, in, 1);
    const ConvGeom g = conv_geom(n, x, w.shape);
    const Tensor* b = in.size() > 2 ? in[2] : nullptr;
    if (b && b->numel() != g.c_out) throw ModelError(n.where() + ": bias size does not match output channels");
    return Shape{x[0], g.c_out, g.out_h(), g.out_w()};
  }
  if (n.op == "BatchNormalization" || n.op == "Relu" || n.op == "Clip" || n.op == "Identity" || n.op == "Dropout" ||
      n.op == "QuantizeLinear" || n.op == "DequantizeLinear")
    return x;
  if ((n.op == "Add" || n.op == "Sub" || n.op == "Mul" || n.op == "Div") && in.size() == 2 && in[1])
    return broadcast(n, x, in[1]->shape);
  if (n.op == "MaxPool" || n.op == "AveragePool") {
    const PoolGeom g = pool_geom(n, x);
    return Shape{x[0], g.c, g.oh, g.ow};
  }
  if (n.op == "GlobalAveragePool" && x.size() >= 2) {
    Shape r(x.size(), 1);
    r[0] = x[0], r[1] = x[1];
    return r;
  }
  return std::nullopt;
}

}  // namespace

std::map<std::string, Shape> infer_shapes(const Graph& g, int64_t batch) {
  // Activations carry only their shape (no data) until an op that reads values needs them.
  std::map<std::string, Tensor> values;
  for (const auto& in : g.inputs) {
    Shape s = in.shape;
    if (!s.empty() && s[0] < 0) s[0] = batch;
    values[in.name].shape = s;
  }
  auto get = [&](const std::string& v) -> const Tensor* {
    if (v.empty()) return nullptr;
    if (g.is_const(v)) return &g.constant(v);
    return &values.at(v);
  };
  for (const auto& n : g.nodes) {
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) ins.push_back(get(in));
    const OpDef& op = checked_op(n);
    if (const auto s = shape_only(n, ins)) {
      values[n.outputs[0]].shape = *s;
      continue;
    }
    for (const auto& in : n.inputs)
      if (!in.empty() && !g.is_const(in) && data_free(&values.at(in))) values.at(in) = Tensor::zeros(values.at(in).shape);
    std::vector<Tensor*> outs;
    for (const auto& o : n.outputs) outs.push_back(&values[o]);
    op.run(n, g.opset, ins, outs);
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [k, t] : values) shapes[k] = t.shape;
  for (const auto& [k, t] : g.initializers) shapes[k] = t.shape;
  return shapes;
}

std::map<std::string, Shape> infer_shapes_reference(const Graph& g, int64_t batch) {
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
