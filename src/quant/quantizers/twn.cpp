#include <cmath>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {

QuantizedTensor quantize_twn(const WeightView& w, const QuantOptions& opt) {
  using namespace quant_detail;
  QuantizedTensor t = make_quantized(w, 2, opt.granularity);
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    const std::span<uint8_t> q = group_codes(t, g);
    const double delta = 0.7 * abs_sum(x) / static_cast<double>(x.size());
    // |w| > delta in float: thr is the largest float <= delta (or delta itself, if a float).
    float thr = static_cast<float>(delta);
    if (static_cast<double>(thr) > delta) thr = std::nextafter(thr, 0.0f);
    // Separate passes; the int keeps GCC from turning the select into a branch, so each
    // pass vectorizes.
    auto kept_abs_fn = [thr](float v) {
      const float a = std::fabs(v);
      const int keep = a > thr;
      return a * static_cast<float>(keep);
    };
    auto kept_fn = [thr](float v) {
      const int keep = std::fabs(v) > thr;
      return static_cast<float>(keep);
    };
    const double kept = lane_sum(x, kept_fn), kept_abs = lane_sum(x, kept_abs_fn);
    for (size_t i = 0; i < x.size(); ++i) {
      const int keep = std::fabs(x[i]) > thr, sign = (x[i] > 0.0f) - (x[i] < 0.0f);
      q[i] = static_cast<uint8_t>(1 + keep * sign);
    }
    // Nothing exceeds delta only in an all-zero group (mean|W| > 0.7 mean|W| otherwise).
    t.scale[g] = kept > 0.0 ? static_cast<float>(kept_abs / kept) : 0.0f;
    t.zero[g] = 1.0f;
  }
  return t;
}

}  // namespace dfmpc
