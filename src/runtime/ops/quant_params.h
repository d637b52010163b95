// Resolved parameters of QuantizeLinear / DequantizeLinear (opsets 10-21): per-tensor or
// per-axis scale and zero point, and the integer type. Shared by the reference ops and the
// fused Q->DQ step of the fast path, so both compute the same values.
#pragma once
#include <cmath>
#include <span>
#include <vector>

#include "ir/graph.h"

namespace dfmpc::ops {

struct QuantParams {
  std::vector<float> scale;   // one per tensor, or one per index along the axis
  std::vector<int64_t> zero;  // same length as scale (zeros when the input is omitted)
  IntType type = IntType::u8;
  int64_t outer = 1, dim = 1, inner = 1;  // x viewed as [outer, dim, inner], dim = the axis
  bool per_axis() const { return scale.size() > 1 || dim > 1; }
  int64_t channel(int64_t flat) const { return scale.size() == 1 ? 0 : (flat / inner) % dim; }
};

// Checks the inputs of a QuantizeLinear (quantize = true) or DequantizeLinear node for data
// of shape `x` and resolves them; throws ModelError naming the node on malformed QDQ
// (scale / zero-point shape vs the axis, axis out of range, zero point of another type,
// blocked quantization). `x_type` is the integer type of DequantizeLinear's input.
QuantParams quant_params(const Node& n, int64_t opset, std::span<const Tensor* const> in, const Shape& x,
                         bool quantize, IntType x_type = IntType::i64);

// ONNX's QuantizeLinear on one value: round half to even, add the zero point, saturate.
inline int64_t quantize_value(float x, float scale, int64_t zero, float lo, float hi) {
  const float q = std::nearbyint(x / scale) + static_cast<float>(zero);
  return static_cast<int64_t>(std::fmin(std::fmax(q, lo), hi));
}
inline float dequantize_value(int64_t q, float scale, int64_t zero) {
  return static_cast<float>(q - zero) * scale;
}

}  // namespace dfmpc::ops
