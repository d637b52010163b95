// Reference convolution: plain nested loops, double accumulation. Slow on purpose; it is the
// yardstick the fast kernels are tested against.
#include <algorithm>

#include "runtime/kernels/conv.h"

namespace dfmpc {

void conv2d_ref(const ConvGeom& g, int64_t n, const float* x, const float* w,
                const float* bias, const float* residual, const Epilogue& ep, float* y) {
  const int64_t oh = g.out_h(), ow = g.out_w();
  const int64_t cin_g = g.c_in / g.groups, cout_g = g.c_out / g.groups;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oc = 0; oc < g.c_out; ++oc) {
      const int64_t grp = oc / cout_g;
      for (int64_t oy = 0; oy < oh; ++oy) {
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = bias ? bias[oc] : 0.0;
          for (int64_t ic = 0; ic < cin_g; ++ic) {
            const int64_t c = grp * cin_g + ic;  // input channel
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              const int64_t iy = oy * g.stride_h - g.pad_t + ky * g.dil_h;
              if (iy < 0 || iy >= g.h) continue;
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t ix = ox * g.stride_w - g.pad_l + kx * g.dil_w;
                if (ix < 0 || ix >= g.w) continue;
                const double xv = x[((b * g.c_in + c) * g.h + iy) * g.w + ix];
                const double wv = w[((oc * cin_g + ic) * g.kh + ky) * g.kw + kx];
                acc += xv * wv;
              }
            }
          }
          const int64_t yi = ((b * g.c_out + oc) * oh + oy) * ow + ox;
          if (ep.add_residual && residual) acc += residual[yi];
          if (ep.act == Activation::relu) acc = std::max(acc, 0.0);
          if (ep.act == Activation::clip)
            acc = std::min(std::max(acc, double(ep.clip_lo)), double(ep.clip_hi));
          y[yi] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace dfmpc
