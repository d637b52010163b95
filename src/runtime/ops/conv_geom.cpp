#include "runtime/ops/conv_geom.h"

#include <cmath>

namespace dfmpc {
namespace {

struct Window {
  int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

// Resolves kernel, strides, dilations and pads, including auto_pad SAME_UPPER/LOWER/VALID.
Window window(const Node& n, int64_t h, int64_t w, int64_t kh, int64_t kw) {
  const auto strides = n.attr_ints("strides", {1, 1});
  const auto dil = n.attr_ints("dilations", {1, 1});
  auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4)
    throw ModelError(n.where() + ": only 2-D windows are supported (strides/dilations/pads)");
  Window g{kh, kw, strides[0], strides[1], pads[0], pads[1], pads[2], pads[3], dil[0], dil[1]};
  if (g.sh <= 0 || g.sw <= 0 || g.dh <= 0 || g.dw <= 0)
    throw ModelError(n.where() + ": strides and dilations must be positive");
  const std::string ap = n.attr_s("auto_pad", "NOTSET");
  if (ap == "VALID") {
    g.pt = g.pl = g.pb = g.pr = 0;
  } else if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
    auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t& lo, int64_t& hi) {
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
      lo = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      hi = total - lo;
    };
    same(h, kh, g.sh, g.dh, g.pt, g.pb);
    same(w, kw, g.sw, g.dw, g.pl, g.pr);
  } else if (ap != "NOTSET") {
    throw ModelError(n.where() + ": auto_pad '" + ap + "' is not supported");
  }
  return g;
}

}  // namespace

ConvGeom conv_geom(const Node& n, const Shape& x, const Shape& w) {
  if (x.size() != 4) throw ModelError(n.where() + ": only 2-D convolution on NCHW input is supported, got " + shape_str(x));
  if (w.size() != 4) throw ModelError(n.where() + ": conv weight must be 4-D, got " + shape_str(w));
  const auto ks = n.attr_ints("kernel_shape", {w[2], w[3]});
  if (ks.size() != 2 || ks[0] != w[2] || ks[1] != w[3])
    throw ModelError(n.where() + ": kernel_shape does not match the weight shape " + shape_str(w));
  const int64_t groups = n.attr_i("group", 1);
  if (groups <= 0 || x[1] % groups || w[0] % groups || w[1] * groups != x[1])
    throw ModelError(n.where() + ": input with " + std::to_string(x[1]) + " channels does not match weight " +
                     shape_str(w) + " with group " + std::to_string(groups));
  const Window win = window(n, x[2], x[3], w[2], w[3]);
  ConvGeom g;
  g.c_in = x[1];
  g.h = x[2];
  g.w = x[3];
  g.c_out = w[0];
  g.kh = win.kh;
  g.kw = win.kw;
  g.stride_h = win.sh;
  g.stride_w = win.sw;
  g.pad_t = win.pt;
  g.pad_l = win.pl;
  g.pad_b = win.pb;
  g.pad_r = win.pr;
  g.dil_h = win.dh;
  g.dil_w = win.dw;
  g.groups = groups;
  if (g.out_h() <= 0 || g.out_w() <= 0)
    throw ModelError(n.where() + ": input " + shape_str(x) + " is too small for the kernel");
  return g;
}

PoolGeom pool_geom(const Node& n, const Shape& x) {
  if (x.size() != 4) throw ModelError(n.where() + ": only 2-D pooling on NCHW input is supported, got " + shape_str(x));
  const auto ks = n.attr_ints("kernel_shape");
  if (ks.size() != 2) throw ModelError(n.where() + ": kernel_shape must have 2 entries");
  const Window win = window(n, x[2], x[3], ks[0], ks[1]);
  PoolGeom g{x[1], x[2], x[3], win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.pb, win.pr, win.dh, win.dw, 0, 0};
  const bool ceil_mode = n.attr_i("ceil_mode", 0) != 0;
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1) {
    const double v = static_cast<double>(in + p0 + p1 - d * (k - 1) - 1) / static_cast<double>(s);
    int64_t o = static_cast<int64_t>(ceil_mode ? std::ceil(v) : std::floor(v)) + 1;
    // With ceil_mode the last window must start inside the input or its leading padding.
    if (ceil_mode && (o - 1) * s >= in + p0) --o;
    return o;
  };
  g.oh = out(g.h, g.kh, g.sh, g.dh, g.pt, g.pb);
  g.ow = out(g.w, g.kw, g.sw, g.dw, g.pl, g.pr);
  if (g.oh <= 0 || g.ow <= 0) throw ModelError(n.where() + ": input " + shape_str(x) + " is too small for the pool");
  return g;
}

}  // namespace dfmpc
