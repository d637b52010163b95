// Round-to-nearest on the two plain uniform grids: sym (max|W|) and asym (min/max).
#include <algorithm>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {

QuantizedTensor quantize_sym(const WeightView& w, const QuantOptions& opt) {
  using namespace quant_detail;
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  const int levels = sym_levels(opt.bits);
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    t.scale[g] = abs_max(x) / static_cast<float>(levels);
    t.zero[g] = static_cast<float>(levels);
    sym_encode(x, t.scale[g], opt.bits, group_codes(t, g));
  }
  return t;
}

QuantizedTensor quantize_asym(const WeightView& w, const QuantOptions& opt) {
  using namespace quant_detail;
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  const float n = static_cast<float>(t.max_code());
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    const std::span<uint8_t> q = group_codes(t, g);
    // The range always holds 0 (exact zero, zero point is a valid code); the clamp only
    // guards float rounding.
    const Range r = min_max(x);
    const AffineGrid grid = affine_grid(std::min(r.lo, 0.0f), std::max(r.hi, 0.0f), opt.bits);
    const float s = grid.scale, z = std::clamp(grid.zero, 0.0f, n);
    t.scale[g] = s;
    t.zero[g] = z;
    if (s == 0.0f) continue;  // all-zero group: codes 0 == zero
    for (size_t i = 0; i < x.size(); ++i)
      q[i] = static_cast<uint8_t>(std::clamp(round_code(x[i] / s) + z, 0.0f, n));
  }
  return t;
}

}  // namespace dfmpc
