#include <algorithm>
#include <cmath>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {

QuantizedTensor quantize_dorefa(const WeightView& w, const QuantOptions& opt) {
  using namespace quant_detail;
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  const int n = t.max_code();
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    const std::span<uint8_t> q = group_codes(t, g);
    const double m = abs_max(x);
    t.zero[g] = static_cast<float>(n) / 2.0f;
    if (m == 0.0) {  // Eq. 6 is 0/0 here; scale 0 keeps every value at 0
      std::fill(q.begin(), q.end(), static_cast<uint8_t>(n / 2));
      continue;
    }
    // Eq. 6 evaluated in double, as written, so the integer matches the formula exactly.
    for (size_t i = 0; i < x.size(); ++i) {
      const double r = round_code(n * (x[i] / (2.0 * m) + 0.5));
      q[i] = static_cast<uint8_t>(std::clamp(r, 0.0, static_cast<double>(n)));
    }
    t.scale[g] = static_cast<float>(2.0 * m / n);
  }
  return t;
}

}  // namespace dfmpc
