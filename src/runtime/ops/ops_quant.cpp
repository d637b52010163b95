// QuantizeLinear / DequantizeLinear (opsets 10-21): per-tensor and per-axis, integer types
// INT4/UINT4 .. INT32. Float8 and blocked quantization (opset 21 block_size) are rejected.
#include <algorithm>

#include "runtime/ops/op_util.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/quant_params.h"

namespace dfmpc::ops {
namespace {

// ONNX TensorProto data types QuantizeLinear may produce (its output_dtype attribute).
IntType output_type_code(const Node& n, int64_t code) {
  switch (code) {
    case 2: return IntType::u8;
    case 3: return IntType::i8;
    case 4: return IntType::u16;
    case 5: return IntType::i16;
    case 21: return IntType::u4;
    case 22: return IntType::i4;
    default:
      throw ModelError(n.where() + ": output_dtype " + std::to_string(code) +
                       " is not supported (UINT8, INT8, UINT16, INT16, UINT4, INT4)");
  }
}

bool quantized_type(IntType t) {
  return t == IntType::u8 || t == IntType::i8 || t == IntType::u16 || t == IntType::i16 || t == IntType::u4 ||
         t == IntType::i4;
}

}  // namespace

QuantParams quant_params(const Node& n, int64_t opset, std::span<const Tensor* const> in, const Shape& x,
                         bool quantize, IntType x_type) {
  if (n.attr_i("block_size", 0) != 0)
    throw ModelError(n.where() + ": blocked quantization (block_size " + std::to_string(n.attr_i("block_size", 0)) +
                     ") is not supported");
  const Tensor& scale = need(n, in, 1);
  const Tensor* zero = in.size() > 2 ? in[2] : nullptr;
  const std::string scale_name = n.inputs.size() > 1 ? "'" + n.inputs[1] + "'" : "scale";
  if (!scale.is_f32())
    throw ModelError(n.where() + ": scale " + scale_name + " must be a float tensor");
  QuantParams p;
  const bool per_tensor = scale.shape.empty() || (scale.shape.size() == 1 && scale.shape[0] == 1);
  if (!per_tensor) {
    if (opset < 13 || scale.shape.size() != 1)
      throw ModelError(n.where() + ": scale " + scale_name + " has shape " + shape_str(scale.shape) +
                       "; expected a scalar or a 1-D tensor along the axis");
    const int64_t rank = static_cast<int64_t>(x.size());
    const int64_t axis_attr = n.attr_i("axis", 1);
    if (axis_attr < -rank || axis_attr >= rank)
      throw ModelError(n.where() + ": axis " + std::to_string(axis_attr) + " is out of range for input of shape " +
                       shape_str(x));
    const int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
    if (scale.shape[0] != x[axis])
      throw ModelError(n.where() + ": scale " + scale_name + " has " + std::to_string(scale.shape[0]) +
                       " values but the input " + shape_str(x) + " has " + std::to_string(x[axis]) +
                       " along axis " + std::to_string(axis));
    p.dim = x[axis];
    for (int64_t k = 0; k < axis; ++k) p.outer *= x[k];
    for (int64_t k = axis + 1; k < rank; ++k) p.inner *= x[k];
  } else {
    p.outer = shape_numel(x);
  }
  p.scale = scale.f;
  if (zero) {
    const std::string zero_name = "'" + n.inputs[2] + "'";
    if (zero->is_f32())
      throw ModelError(n.where() + ": zero point " + zero_name + " is a float tensor; float8 is not supported");
    if (zero->numel() != scale.numel() || (zero->shape.size() > 1))
      throw ModelError(n.where() + ": zero point " + zero_name + " has shape " + shape_str(zero->shape) +
                       ", the scale " + shape_str(scale.shape));
    p.zero = zero->i;
    p.type = zero->itype;
  } else {
    p.zero.assign(p.scale.size(), 0);
  }
  if (quantize) {
    const int64_t code = n.attr_i("output_dtype", 0);
    if (code != 0) {
      const IntType t = output_type_code(n, code);
      if (zero && t != p.type)
        throw ModelError(n.where() + ": output_dtype " + int_type_name(t) + " differs from the zero point's type " +
                         int_type_name(p.type));
      p.type = t;
    }
    if (!quantized_type(p.type))
      throw ModelError(n.where() + ": cannot quantize to " + int_type_name(p.type) +
                       " (zero point type must be UINT8, INT8, UINT16, INT16, UINT4 or INT4)");
  } else {
    if (zero && p.type != x_type)
      throw ModelError(n.where() + ": zero point '" + n.inputs[2] + "' is " + int_type_name(p.type) +
                       " but the input '" + n.inputs[0] + "' is " + int_type_name(x_type));
    p.type = x_type;
  }
  const auto [lo, hi] = int_type_range(p.type);
  for (int64_t z : p.zero)
    if (z < lo || z > hi)
      throw ModelError(n.where() + ": zero point " + std::to_string(z) + " is outside the range of " +
                       int_type_name(p.type));
  return p;
}

void quantize_linear(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  if (!x.is_f32()) throw ModelError(n.where() + ": input '" + n.inputs[0] + "' must be a float tensor");
  const QuantParams p = quant_params(n, opset, in, x.shape, true);
  const auto [lo, hi] = int_type_range(p.type);
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  Tensor& y = *out[0];
  prepare_like(y, x.shape, DType::i64, p.type);
  for (size_t k = 0; k < x.f.size(); ++k) {
    const int64_t c = p.channel(static_cast<int64_t>(k));
    y.i[k] = quantize_value(x.f[k], p.scale[c], p.zero[c], flo, fhi);
  }
}

void dequantize_linear(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  if (x.is_f32()) throw ModelError(n.where() + ": input '" + n.inputs[0] + "' must be an integer tensor");
  const QuantParams p = quant_params(n, opset, in, x.shape, false, x.itype);
  if (p.type == IntType::i32 && std::any_of(p.zero.begin(), p.zero.end(), [](int64_t z) { return z != 0; }))
    throw ModelError(n.where() + ": an INT32 input needs a zero point of 0");
  Tensor& y = *out[0];
  prepare_f32(y, x.shape);
  for (size_t k = 0; k < x.i.size(); ++k) {
    const int64_t c = p.channel(static_cast<int64_t>(k));
    y.f[k] = dequantize_value(x.i[k], p.scale[c], p.zero[c]);
  }
}

}  // namespace dfmpc::ops
