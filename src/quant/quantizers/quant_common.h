// Helpers shared by the quantizer implementations; not part of the public API.
#pragma once
#include <algorithm>
#include <cmath>
#include <span>

#include "quant/quantizers/quant_scheme.h"

namespace dfmpc::quant_detail {

// The one rounding rule of every grid: half to even (std::nearbyint in the default rounding
// mode), as torch.round. Symmetric about 0, and unlike std::round it vectorizes.
inline float round_code(float x) { return std::nearbyint(x); }
inline double round_code(double x) { return std::nearbyint(x); }

// Output tensor with shape and groups set; codes, scales and zeros zeroed.
QuantizedTensor make_quantized(const WeightView& w, int bits, Granularity g);

inline std::span<const float> group_values(const WeightView& w, const QuantizedTensor& t,
                                           int64_t g) {
  return w.data.subspan(g * t.group_size, t.group_size);
}
inline std::span<uint8_t> group_codes(QuantizedTensor& t, int64_t g) {
  return std::span<uint8_t>(t.q).subspan(g * t.group_size, t.group_size);
}

// Reductions in independent lanes so they vectorize without -ffast-math.
constexpr size_t k_lanes = 16;
template <typename F>  // sum of f(x[i]) in double
double lane_sum(std::span<const float> x, F f) {
  double acc[k_lanes] = {};
  size_t i = 0;
  for (; i + k_lanes <= x.size(); i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j) acc[j] += f(x[i + j]);
  for (; i < x.size(); ++i) acc[0] += f(x[i]);
  double total = 0.0;
  for (double a : acc) total += a;
  return total;
}
float abs_max(std::span<const float> x);
double abs_sum(std::span<const float> x);
double sum(std::span<const float> x);
struct Range {
  float lo, hi;
};
Range min_max(std::span<const float> x);

// Symmetric restricted-range grid: integer levels -L..L stored as codes 0..2L, zero = L.
inline int sym_levels(int bits) { return (1 << (bits - 1)) - 1; }
// Codes of x on the sym grid with scale s (s == 0: every code is L, the zero level).
void sym_encode(std::span<const float> x, float s, int bits, std::span<uint8_t> q);
// Affine grid over [lo, hi] with 2^bits levels: scale = (hi-lo)/(2^bits-1), zero =
// round(-lo/scale) (an integer, inside [0, 2^bits-1] only when lo <= 0 <= hi).
// lo == hi is widened to include 0 so a constant group stays exact; all-zero gives scale 0.
struct AffineGrid {
  float scale, zero;
};
AffineGrid affine_grid(float lo, float hi, int bits);
// DoReFa's grid (levels (c - (2^k-1)/2) s, no zero): the s minimising ||x - x^||^2
// (mse_grid.cpp); 0 for an all-zero x.
float dorefa_mse_scale(std::span<const float> x, int bits);

}  // namespace dfmpc::quant_detail
