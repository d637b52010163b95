// Least-squares versions of the paper's two grids, per group:
//  - ternary_mse: codes {-1, 0, +1} * alpha with the threshold and alpha that minimise
//    ||W - W^||^2 exactly. Keeping the k largest |w| with alpha = their mean leaves an error
//    ||W||^2 - S_k^2 / k (S_k = sum of the k largest |w|), so one sort and one scan over k
//    find the optimum (TWN's delta = 0.7 mean|W| approximates it for Gaussian weights).
//  - dorefa_mse: DoReFa's 2^k-level grid without zero, levels (c - (2^k-1)/2) * s, with the
//    scale s that minimises the same error: a coarse scan over clipping points followed by
//    alternating least squares (codes at s, then s = <W,Q>/<Q,Q>) from the best of them.
//    The max|W| scale of plain DoReFa is always a candidate, so the error never exceeds it.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {
namespace {

using namespace quant_detail;

constexpr int k_coarse_points = 48;
constexpr double k_coarse_lo = 0.15;  // smallest clipping point scanned, times max|W|
constexpr int k_als_iters = 16;

// Codes of x on the half-integer grid with scale s: c = clamp(round(x/s + n/2), 0, n).
inline float half_code(float v, float inv_s, float half_n, float n) {
  return std::clamp(round_code(v * inv_s + half_n), 0.0f, n);
}

struct HalfFit {
  double sse = 0.0, xq = 0.0, qq = 0.0;  // error, <W,Q>, <Q,Q> with Q = c - n/2
};

HalfFit half_fit(std::span<const float> x, float s, int n) {
  const float inv = 1.0f / s, half_n = 0.5f * static_cast<float>(n), nf = static_cast<float>(n);
  HalfFit f;
  for (float v : x) {
    const float q = half_code(v, inv, half_n, nf) - half_n;  // exact: a half-integer
    const double d = static_cast<double>(v) - s * q;        // the float w^ dequantize_code gives
    f.sse += d * d, f.xq += static_cast<double>(v) * q, f.qq += static_cast<double>(q) * q;
  }
  return f;
}

}  // namespace

namespace quant_detail {
float dorefa_mse_scale(std::span<const float> x, int bits) {
  const int n = (1 << bits) - 1;
  const float m = abs_max(x);
  if (m == 0.0f) return 0.0f;
  const double top = 0.5 * n;  // the largest level, in units of s
  float best_s = static_cast<float>(m / top);  // plain DoReFa
  HalfFit best = half_fit(x, best_s, n);
  auto consider = [&](double s_d) {
    const auto s = static_cast<float>(s_d);
    if (!(s > 0.0f) || s == best_s) return false;
    const HalfFit f = half_fit(x, s, n);
    if (!(f.sse < best.sse)) return false;
    best = f, best_s = s;
    return true;
  };
  for (int k = 0; k < k_coarse_points; ++k) {
    const double clip = m * (k_coarse_lo + (1.0 - k_coarse_lo) * k / (k_coarse_points - 1));
    consider(clip / top);
  }
  for (int it = 0; it < k_als_iters && best.qq > 0.0; ++it)
    if (!consider(best.xq / best.qq)) break;
  // The least-squares scale is computed in double; a few float neighbours make quantizing
  // weights already on a grid the identity (the exact scale is then within an ulp or two).
  const float centre = best_s;
  for (const float towards : {0.0f, INFINITY}) {
    float s = centre;
    for (int k = 0; k < 3; ++k) consider(s = std::nextafter(s, towards));
  }
  return best_s;
}
}  // namespace quant_detail

QuantizedTensor quantize_ternary_mse(const WeightView& w, const QuantOptions& opt) {
  QuantizedTensor t = make_quantized(w, 2, opt.granularity);
  std::vector<float> mags;
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    const std::span<uint8_t> q = group_codes(t, g);
    t.zero[g] = 1.0f;
    mags.resize(x.size());
    std::transform(x.begin(), x.end(), mags.begin(), [](float v) { return std::fabs(v); });
    std::sort(mags.begin(), mags.end(), std::greater<>());
    double prefix = 0.0, best_gain = 0.0;
    size_t best_k = 0;
    for (size_t k = 1; k <= mags.size(); ++k) {
      prefix += mags[k - 1];
      const double gain = prefix * prefix / static_cast<double>(k);
      if (gain > best_gain) best_gain = gain, best_k = k;
    }
    if (best_k == 0) {  // all zero
      std::fill(q.begin(), q.end(), static_cast<uint8_t>(1));
      t.scale[g] = 0.0f;
      continue;
    }
    // Keep |w| >= the k-th largest (ties at the threshold all kept); alpha = their mean.
    const float thr = mags[best_k - 1];
    double kept = 0.0, kept_abs = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
      const int keep = std::fabs(x[i]) >= thr, sign = (x[i] > 0.0f) - (x[i] < 0.0f);
      q[i] = static_cast<uint8_t>(1 + keep * sign);
      kept += keep, kept_abs += keep * std::fabs(x[i]);
    }
    t.scale[g] = static_cast<float>(kept_abs / kept);
  }
  return t;
}

QuantizedTensor quantize_dorefa_mse(const WeightView& w, const QuantOptions& opt) {
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  const int n = t.max_code();
  const float half_n = 0.5f * static_cast<float>(n), nf = static_cast<float>(n);
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    const std::span<uint8_t> q = group_codes(t, g);
    const float s = dorefa_mse_scale(x, opt.bits);
    t.scale[g] = s;
    t.zero[g] = half_n;
    if (s == 0.0f) {  // all zero: every code dequantizes to 0 with scale 0
      std::fill(q.begin(), q.end(), static_cast<uint8_t>(n / 2));
      continue;
    }
    const float inv = 1.0f / s;
    for (size_t i = 0; i < x.size(); ++i) q[i] = static_cast<uint8_t>(half_code(x[i], inv, half_n, nf));
  }
  return t;
}

}  // namespace dfmpc
