#include "quant/quantizers/quant_common.h"

namespace dfmpc::quant_detail {

QuantizedTensor make_quantized(const WeightView& w, int bits, Granularity g) {
  QuantizedTensor t;
  t.bits = bits;
  t.shape.assign(w.shape.begin(), w.shape.end());
  const int64_t groups = g == Granularity::per_channel ? w.out_channels() : 1;
  t.group_size = w.numel() / groups;
  t.q.assign(w.data.size(), 0);
  t.scale.assign(groups, 0.0f);
  t.zero.assign(groups, 0.0f);
  return t;
}

float abs_max(std::span<const float> x) {
  float m[k_lanes] = {};
  size_t i = 0;
  for (; i + k_lanes <= x.size(); i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j) m[j] = std::max(m[j], std::fabs(x[i + j]));
  for (; i < x.size(); ++i) m[0] = std::max(m[0], std::fabs(x[i]));
  return *std::max_element(m, m + k_lanes);
}

double abs_sum(std::span<const float> x) {
  return lane_sum(x, [](float v) { return std::fabs(v); });
}
double sum(std::span<const float> x) {
  return lane_sum(x, [](float v) { return v; });
}

Range min_max(std::span<const float> x) {
  float lo[k_lanes], hi[k_lanes];
  std::fill(lo, lo + k_lanes, x[0]);
  std::fill(hi, hi + k_lanes, x[0]);
  size_t i = 0;
  for (; i + k_lanes <= x.size(); i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j)
      lo[j] = std::min(lo[j], x[i + j]), hi[j] = std::max(hi[j], x[i + j]);
  for (; i < x.size(); ++i) lo[0] = std::min(lo[0], x[i]), hi[0] = std::max(hi[0], x[i]);
  return {*std::min_element(lo, lo + k_lanes), *std::max_element(hi, hi + k_lanes)};
}

void sym_encode(std::span<const float> x, float s, int bits, std::span<uint8_t> q) {
  const int levels = sym_levels(bits);
  const float l = static_cast<float>(levels);
  if (s == 0.0f) {
    std::fill(q.begin(), q.end(), static_cast<uint8_t>(levels));
    return;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const float r = std::clamp(round_code(x[i] / s), -l, l);
    q[i] = static_cast<uint8_t>(r + l);
  }
}

AffineGrid affine_grid(float lo, float hi, int bits) {
  if (lo == hi) lo = std::min(lo, 0.0f), hi = std::max(hi, 0.0f);
  if (lo == hi) return {0.0f, 0.0f};
  const float scale = (hi - lo) / static_cast<float>((1 << bits) - 1);
  return {scale, round_code(-lo / scale) + 0.0f};  // + 0 turns -0 into 0
}

}  // namespace dfmpc::quant_detail
