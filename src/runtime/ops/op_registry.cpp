#include "runtime/ops/op_registry.h"

#include <algorithm>

#include "runtime/ops/ops.h"

namespace dfmpc {
namespace {

using namespace std::string_view_literals;

const std::vector<OpDef>& table() {
  static const std::vector<OpDef> t = {
      // name, reference implementation, attributes honoured
      {"Conv", ops::conv, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
      {"BatchNormalization", ops::batch_norm, {"epsilon", "momentum", "training_mode", "spatial"}},
      {"Relu", ops::relu, {}},
      {"Clip", ops::clip, {"min", "max"}},
      {"Add", ops::add, {}},
      {"Sub", ops::sub, {}},
      {"Mul", ops::mul, {}},
      {"Div", ops::div, {}},
      {"Concat", ops::concat, {"axis"}},
      {"MaxPool", ops::max_pool, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
      {"AveragePool", ops::average_pool, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
      {"GlobalAveragePool", ops::global_average_pool, {}},
      {"Flatten", ops::flatten, {"axis"}},
      {"Reshape", ops::reshape, {"allowzero"}},
      {"Gemm", ops::gemm, {"alpha", "beta", "transA", "transB"}},
      {"MatMul", ops::matmul, {}},
      {"Pad", ops::pad, {"mode", "pads", "value"}},
      {"Slice", ops::slice, {"starts", "ends", "axes"}},
      {"Identity", ops::identity, {}},
      {"Dropout", ops::dropout, {"ratio", "seed"}},
      {"Softmax", ops::softmax, {"axis"}},
      {"Transpose", ops::transpose, {"perm"}},
      {"Squeeze", ops::squeeze, {"axes"}},
      {"Unsqueeze", ops::unsqueeze, {"axes"}},
      {"Cast", ops::cast, {"to", "saturate"}},
      {"Gather", ops::gather, {"axis"}},
      {"Shape", ops::shape, {"start", "end"}},
      {"ConstantOfShape", ops::constant_of_shape, {"value"}},
      {"QuantizeLinear", ops::quantize_linear, {"axis", "saturate", "block_size", "output_dtype"}},
      {"DequantizeLinear", ops::dequantize_linear, {"axis", "block_size"}},
  };
  return t;
}

}  // namespace

const OpDef* find_op(std::string_view op) {
  for (const auto& d : table())
    if (d.name == op) return &d;
  return nullptr;
}

const OpDef& checked_op(const Node& node) {
  const OpDef* d = find_op(node.op);
  if (!d) throw ModelError("unsupported operator " + node.op + " in node '" + node.name + "'");
  for (const auto& [a, v] : node.attrs)
    if (std::find(d->attrs.begin(), d->attrs.end(), a) == d->attrs.end())
      throw ModelError("unsupported attribute '" + a + "' in " + node.where());
  return *d;
}

std::vector<std::string_view> supported_ops() {
  std::vector<std::string_view> v;
  for (const auto& d : table()) v.push_back(d.name);
  return v;
}

}  // namespace dfmpc
