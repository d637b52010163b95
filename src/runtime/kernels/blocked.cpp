#include "runtime/kernels/blocked.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/kernels/thread_pool.h"
#include "runtime/ops/conv_geom.h"

namespace dfmpc::blk {
namespace {

constexpr int64_t kSlack = 16;  // floats: room to align the start to 64 bytes

template <class T>
T* aligned(T* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return reinterpret_cast<T*>((a + 63) & ~std::uintptr_t(63));
}

void check4(const Shape& s) {
  if (s.size() != 4) throw ModelError("blocked layout needs a 4-D tensor, got " + shape_str(s));
}

}  // namespace

int64_t numel(const Shape& s) {
  check4(s);
  return s[0] * cblocks(s[1]) * kBlock * s[2] * s[3];
}

void prepare(Tensor& t, const Shape& s) {
  t.dtype = DType::f32;
  t.shape = s;
  const size_t need = static_cast<size_t>(numel(s) + kSlack);
  if (t.f.size() < need) t.f.resize(need);
}

float* data(Tensor& t) { return aligned(t.f.data()); }
const float* data(const Tensor& t) { return aligned(t.f.data()); }

void to_blocked(const float* x, int64_t n, int64_t c, int64_t hw, float* y) {
  const int64_t cb = cblocks(c);
  pool::parallel_for(n * cb, [&](int64_t item, int) {
    const int64_t b = item / cb, k = item % cb;
    const int64_t c0 = k * kBlock, cn = std::min(kBlock, c - c0);
    const float* src = x + (b * c + c0) * hw;
    float* dst = y + item * hw * kBlock;
    if (cn == kBlock) {
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t j = 0; j < kBlock; ++j) dst[p * kBlock + j] = src[j * hw + p];
    } else {
      for (int64_t p = 0; p < hw; ++p)
        for (int64_t j = 0; j < kBlock; ++j) dst[p * kBlock + j] = j < cn ? src[j * hw + p] : 0.0f;
    }
  });
}

void to_plain(const float* x, int64_t n, int64_t c, int64_t hw, float* y) {
  const int64_t cb = cblocks(c);
  pool::parallel_for(n * cb, [&](int64_t item, int) {
    const int64_t b = item / cb, k = item % cb;
    const int64_t c0 = k * kBlock, cn = std::min(kBlock, c - c0);
    const float* src = x + item * hw * kBlock;
    float* dst = y + (b * c + c0) * hw;
    if (cn == kBlock) {
      for (int64_t j = 0; j < kBlock; ++j)
        for (int64_t p = 0; p < hw; ++p) dst[j * hw + p] = src[p * kBlock + j];
    } else {
      for (int64_t j = 0; j < cn; ++j)
        for (int64_t p = 0; p < hw; ++p) dst[j * hw + p] = src[p * kBlock + j];
    }
  });
}

void to_blocked(const Tensor& plain, Tensor& blocked) {
  check4(plain.shape);
  if (!plain.is_f32()) throw ModelError("blocked layout holds float tensors only");
  const Shape s = plain.shape;  // plain may alias nothing in blocked; copy the shape first
  prepare(blocked, s);
  to_blocked(plain.f.data(), s[0], s[1], s[2] * s[3], data(blocked));
}

void to_plain(const Tensor& blocked, Tensor& plain) {
  const Shape s = blocked.shape;
  check4(s);
  plain.dtype = DType::f32;
  plain.shape = s;
  plain.f.resize(static_cast<size_t>(shape_numel(s)));
  to_plain(data(blocked), s[0], s[1], s[2] * s[3], plain.f.data());
}

namespace {

// Value of logical element (b, c, h, w) of a blocked tensor with shape s.
inline float at(const float* x, const Shape& s, int64_t b, int64_t c, int64_t h, int64_t w) {
  return x[(((b * cblocks(s[1]) + c / kBlock) * s[2] + h) * s[3] + w) * kBlock + c % kBlock];
}

}  // namespace

void slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& step,
           const Shape& out, Tensor& y) {
  check4(x.shape);
  const Shape xs = x.shape;
  prepare(y, out);
  const float* src = data(x);
  float* dst = data(y);
  const int64_t cbx = cblocks(xs[1]), cby = cblocks(out[1]);
  const bool whole_channels = begin[1] == 0 && step[1] == 1 && out[1] == xs[1];
  pool::parallel_for(out[0] * cby, [&](int64_t item, int) {
    const int64_t b = item / cby, k = item % cby;
    const int64_t bx = begin[0] + b * step[0];
    float* d = dst + item * out[2] * out[3] * kBlock;
    for (int64_t h = 0; h < out[2]; ++h) {
      const int64_t hx = begin[2] + h * step[2];
      for (int64_t w = 0; w < out[3]; ++w) {
        const int64_t wx = begin[3] + w * step[3];
        float* v = d + (h * out[3] + w) * kBlock;
        if (whole_channels) {
          const float* s = src + (((bx * cbx + k) * xs[2] + hx) * xs[3] + wx) * kBlock;
          std::copy(s, s + kBlock, v);
          continue;
        }
        for (int64_t j = 0; j < kBlock; ++j) {
          const int64_t c = k * kBlock + j;
          v[j] = c < out[1] ? at(src, xs, bx, begin[1] + c * step[1], hx, wx) : 0.0f;
        }
      }
    }
  });
}

void pad(const Tensor& x, const std::vector<int64_t>& pads, float value, const Shape& out, Tensor& y) {
  check4(x.shape);
  const Shape xs = x.shape;
  prepare(y, out);
  const float* src = data(x);
  float* dst = data(y);
  const int64_t cbx = cblocks(xs[1]), cby = cblocks(out[1]);
  // Whole blocks map onto whole blocks: channel pads and both channel counts multiples of 8.
  const bool aligned = pads[1] % kBlock == 0 && xs[1] % kBlock == 0 && out[1] % kBlock == 0;
  pool::parallel_for(out[0] * cby, [&](int64_t item, int) {
    const int64_t b = item / cby, k = item % cby, bx = b - pads[0];
    float* d = dst + item * out[2] * out[3] * kBlock;
    const bool batch_in = bx >= 0 && bx < xs[0];
    const int64_t kx = k - pads[1] / kBlock;
    for (int64_t h = 0; h < out[2]; ++h) {
      const int64_t hx = h - pads[2];
      for (int64_t w = 0; w < out[3]; ++w) {
        const int64_t wx = w - pads[3];
        float* v = d + (h * out[3] + w) * kBlock;
        const bool in = batch_in && hx >= 0 && hx < xs[2] && wx >= 0 && wx < xs[3];
        if (aligned) {
          if (in && kx >= 0 && kx < cbx) {
            const float* s = src + (((bx * cbx + kx) * xs[2] + hx) * xs[3] + wx) * kBlock;
            std::copy(s, s + kBlock, v);
          } else {
            std::fill(v, v + kBlock, value);
          }
          continue;
        }
        for (int64_t j = 0; j < kBlock; ++j) {
          const int64_t c = k * kBlock + j, cx = c - pads[1];
          if (c >= out[1]) v[j] = 0.0f;
          else v[j] = in && cx >= 0 && cx < xs[1] ? at(src, xs, bx, cx, hx, wx) : value;
        }
      }
    }
  });
}

void global_average_pool(const Tensor& x, Tensor& y) {
  check4(x.shape);
  const Shape xs = x.shape;
  y.dtype = DType::f32;
  y.shape = {xs[0], xs[1], 1, 1};
  y.f.resize(static_cast<size_t>(xs[0] * xs[1]));
  const float* src = data(x);
  const int64_t cb = cblocks(xs[1]), hw = xs[2] * xs[3];
  pool::parallel_for(xs[0] * cb, [&](int64_t item, int) {
    const int64_t b = item / cb, k = item % cb;
    double acc[kBlock] = {};
    const float* s = src + item * hw * kBlock;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < kBlock; ++j) acc[j] += s[p * kBlock + j];
    for (int64_t j = 0; j < kBlock && k * kBlock + j < xs[1]; ++j)
      y.f[b * xs[1] + k * kBlock + j] = static_cast<float>(acc[j] / static_cast<double>(hw));
  });
}

void max_pool(const Tensor& x, const PoolGeom& g, Tensor& y) {
  check4(x.shape);
  const int64_t nb = x.shape[0], cb = cblocks(g.c);
  const int64_t tail = g.c % kBlock;
  prepare(y, {nb, g.c, g.oh, g.ow});
  const float* src = data(x);
  float* dst = data(y);
  pool::parallel_for(nb * cb * g.oh, [&](int64_t item, int) {
    const int64_t plane = item / g.oh, oy = item % g.oh;
    const float* s = src + plane * g.h * g.w * kBlock;
    float* d = dst + (plane * g.oh + oy) * g.ow * kBlock;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      float acc[kBlock];
      for (int64_t j = 0; j < kBlock; ++j) acc[j] = -INFINITY;
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const int64_t iy = oy * g.sh - g.pt + ky * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          const int64_t ix = ox * g.sw - g.pl + kx * g.dw;
          if (ix < 0 || ix >= g.w) continue;
          const float* v = s + (iy * g.w + ix) * kBlock;
          for (int64_t j = 0; j < kBlock; ++j) acc[j] = std::max(acc[j], v[j]);
        }
      }
      for (int64_t j = 0; j < kBlock; ++j) d[ox * kBlock + j] = acc[j];
      if (tail && plane % cb == cb - 1)
        for (int64_t j = tail; j < kBlock; ++j) d[ox * kBlock + j] = 0.0f;
    }
  });
}

}  // namespace dfmpc::blk
