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
  IntElem type = IntElem::u8;
  int64_t outer = 1, dim = 1, inner = 1;  // x viewed as [outer, dim, inner], dim = the axis
  int64_t channel(int64_t flat) const { return scale.size() == 1 ? 0 : (flat / inner) % dim; }
};

// Checks the inputs of a QuantizeLinear (quantize = true) or DequantizeLinear node for data
// of shape `x` and resolves them; throws ModelError naming the node on malformed QDQ
// (scale / zero-point shape vs the axis, axis out of range, zero point of another type,
// blocked quantization). `x_type` is the integer type of DequantizeLinear's input.
QuantParams quant_params(const Node& n, int64_t opset, std::span<const Tensor* const> in, const Shape& x,
                         bool quantize, IntElem x_type = IntElem::i64);

// ONNX's QuantizeLinear on one value: round half to even, add the zero point, saturate.
inline int64_t quantize_value(float x, float scale, int64_t zero, float lo, float hi) {
  const float q = std::nearbyint(x / scale) + static_cast<float>(zero);
  return static_cast<int64_t>(std::fmin(std::fmax(q, lo), hi));
}
inline float dequantize_value(int64_t q, float scale, int64_t zero) {
  return static_cast<float>(q - zero) * scale;
}

// dequantize_value(quantize_value(x, ...)) for n values, in float arithmetic the compiler
// vectorizes: q - zero = clamp(round(x / scale), lo - zero, hi - zero) is an integer below
// 2^17 in magnitude, rounded half to even by adding and subtracting 1.5 * 2^23. Same values
// bit for bit (NaN maps to lo as there); tested against the two reference ops.
inline void fake_quantize(const float* x, float* y, int64_t n, float scale, int64_t zero, float lo, float hi) {
  const float a = lo - static_cast<float>(zero), b = hi - static_cast<float>(zero);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  for (int64_t k = 0; k < n; ++k) {
    float v = x[k] / scale;
    v = v > a ? v : a;
    v = v < b ? v : b;
    y[k] = ((v + kRound) - kRound) * scale;
  }
}

}  // namespace dfmpc::ops
