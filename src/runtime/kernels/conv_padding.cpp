#include "runtime/kernels/conv_padding.h"

#include <algorithm>
#include <cstring>

namespace dfmpc {
namespace {

// Whether some output position along one axis has all its taps outside [0, size).
bool axis_has_empty_window(int64_t size, int64_t k, int64_t stride, int64_t dil, int64_t pad_lo,
                           int64_t out) {
  for (int64_t o = 0; o < out; ++o) {
    bool any = false;
    for (int64_t t = 0; t < k && !any; ++t) {
      const int64_t i = o * stride - pad_lo + t * dil;
      any = i >= 0 && i < size;
    }
    if (!any) return true;
  }
  return false;
}

}  // namespace

bool has_padding_only_outputs(const ConvGeom& g) {
  return axis_has_empty_window(g.h, g.kh, g.stride_h, g.dil_h, g.pad_t, g.out_h()) ||
         axis_has_empty_window(g.w, g.kw, g.stride_w, g.dil_w, g.pad_l, g.out_w());
}

ConvGeom explicitly_padded(const ConvGeom& g) {
  ConvGeom p = g;
  p.h = g.h + g.pad_t + g.pad_b;
  p.w = g.w + g.pad_l + g.pad_r;
  p.pad_t = p.pad_l = p.pad_b = p.pad_r = 0;
  return p;
}

void pad_input(const ConvGeom& g, int64_t n, int64_t blocks, int64_t vec, const float* x,
               float* xp) {
  const int64_t hp = g.h + g.pad_t + g.pad_b, wp = g.w + g.pad_l + g.pad_r;
  const int64_t planes = n * blocks;
  std::fill(xp, xp + planes * hp * wp * vec, 0.0f);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < g.h; ++r)
      std::memcpy(xp + ((p * hp + r + g.pad_t) * wp + g.pad_l) * vec, x + (p * g.h + r) * g.w * vec,
                  sizeof(float) * g.w * vec);
}

}  // namespace dfmpc
