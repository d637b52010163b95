// Low-bit direct convolution on nChw8c (see conv_lowbit.h).
//
// Work item = (output block of 8 channels, a group of images, a band of output rows). For each
// chunk of input channels the item decodes its weight slice once into a per-thread buffer
// (decode_slice: 8 codes = `bits` bytes -> pdep spreads them to 8 bytes -> 8 floats, then
// (q - zero) * scale), and every output row tile of the item reuses it: the decode costs one
// vector per 8 weights, the convolution one FMA per weight vector and output pixel. Padding is
// handled by copying the input into a zero-bordered buffer once per call.
//
// The AVX2/FMA/BMI2 code is compiled for that target explicitly and used only when the CPU has
// it (LowBitConvKernel::supports).
#include "runtime/kernels/conv_lowbit.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/thread_pool.h"

namespace dfmpc {
namespace {

constexpr int64_t kMaxTile = 12;        // output pixels per register tile
constexpr int64_t kChunkFloats = 6144;  // decoded weights per chunk: 24 KiB, inside L1d

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

// A float buffer aligned to 64 bytes that only grows; one per thread and purpose.
struct Scratch {
  std::unique_ptr<float[], FreeDeleter> buf;
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      void* p = std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
      if (!p) throw std::bad_alloc();
      buf.reset(static_cast<float*>(p));
      size = n;
    }
    return buf.get();
  }
};
thread_local Scratch t_weights, t_padded, t_residual;

struct TileArgs {
  int64_t nicb = 0, kh = 0, kw = 0;
  int64_t x_cb = 0;     // floats between input channel blocks
  int64_t x_dy = 0;     // floats between the rows of two taps (dil_h rows)
  int64_t x_dx = 0;     // floats between the columns of two taps (dil_w pixels)
  int64_t x_step = 0;   // floats between two output pixels' inputs (stride_w pixels)
  const float* bias = nullptr;  // 8 floats of this output block
  int act = 0;                  // 0 none, 1 relu, 2 clip
  float lo = 0, hi = 0;
  int keep_lanes = 8;  // real output channels in this block
};

}  // namespace

#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")

namespace {

#define DFMPC_INLINE inline __attribute__((always_inline))

// Decodes the weight vectors of input channels [0, nic) (of an 8-aligned chunk of nicb
// blocks) into w[icb][tap][c][8 output channels]; channels nic..nicb*8 get zeros.
// Kept out of line so that a profile shows decoding apart from the FMAs.
__attribute__((noinline)) void decode_slice(const uint8_t* codes, int bits, int64_t nic, int64_t nicb,
                                            int64_t taps, const float* zero8, const float* mul8, float* w) {
  const uint64_t spread = 0x0101010101010101ull * ((1u << bits) - 1);  // low `bits` of each byte
  const __m256 zero = _mm256_loadu_ps(zero8), mul = _mm256_loadu_ps(mul8);
  for (int64_t ic = 0; ic < nicb * 8; ++ic) {
    float* dst = w + ((ic / 8) * taps * 8 + ic % 8) * 8;
    if (ic >= nic) {
      for (int64_t t = 0; t < taps; ++t) _mm256_storeu_ps(dst + t * 64, _mm256_setzero_ps());
      continue;
    }
    for (int64_t t = 0; t < taps; ++t, codes += bits) {
      uint64_t packed;
      std::memcpy(&packed, codes, 8);  // the code buffer has 8 bytes of slack at its end
      const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(_pdep_u64(packed, spread)));
      const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
      _mm256_storeu_ps(dst + t * 64, _mm256_mul_ps(_mm256_sub_ps(q, zero), mul));
    }
  }
}

// One row tile of R output pixels of one output block over one chunk of input channels:
//   acc[r] = (first ? bias : y[r]) + sum_{icb, ky, kx, c} x[icb][ky][r * step + kx][c] * w[...]
// then, if last, + residual, activation, padded lanes zeroed; stored to y.
// SW is the stride in pixels when known at compile time (1, 2), else 0 (t.x_step).
template <int R, int SW>
void row_tile(const TileArgs& t, const float* x, const float* w, float* y, const float* res, bool first, bool last) {
  // Fully unrolled so that acc[] lives in registers (GCC otherwise keeps it on the stack).
  __m256 acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = first ? _mm256_loadu_ps(t.bias) : _mm256_loadu_ps(y + r * 8);
  const int64_t step = SW ? SW * 8 : t.x_step;
  for (int64_t icb = 0; icb < t.nicb; ++icb) {
    const float* xc = x + icb * t.x_cb;
    for (int64_t ky = 0; ky < t.kh; ++ky) {
      const float* xr = xc + ky * t.x_dy;
      for (int64_t kx = 0; kx < t.kw; ++kx, w += 64) {
        const float* xp = xr + kx * t.x_dx;
#pragma GCC unroll 8
        for (int c = 0; c < 8; ++c) {
          const __m256 wv = _mm256_loadu_ps(w + c * 8);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(xp + r * step + c), wv, acc[r]);
        }
      }
    }
  }
  if (last) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 lo = _mm256_set1_ps(t.lo), hi = _mm256_set1_ps(t.hi);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(t.keep_lanes), lane));
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __m256 v = acc[r];
      if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + r * 8));
      if (t.act == 1) v = _mm256_max_ps(v, zero);
      if (t.act == 2) v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      acc[r] = _mm256_and_ps(v, keep);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + r * 8, acc[r]);
}

using TileFn = void (*)(const TileArgs&, const float*, const float*, float*, const float*, bool, bool);

template <int SW, size_t... I>
constexpr std::array<TileFn, kMaxTile> tile_table(std::index_sequence<I...>) {
  return {&row_tile<static_cast<int>(I) + 1, SW>...};
}
const std::array<std::array<TileFn, kMaxTile>, 3> kTiles = {
    tile_table<0>(std::make_index_sequence<kMaxTile>()), tile_table<1>(std::make_index_sequence<kMaxTile>()),
    tile_table<2>(std::make_index_sequence<kMaxTile>())};

}  // namespace

#pragma GCC pop_options

namespace {

// x [n, cbi, h, w, 8] into a zero-bordered [n, cbi, h + pt + pb, w + pl + pr, 8].
void pad_input(const ConvGeom& g, int64_t n, int64_t cbi, const float* x, float* xp) {
  const int64_t hp = g.h + g.pad_t + g.pad_b, wp = g.w + g.pad_l + g.pad_r;
  pool::parallel_for(n * cbi, [&](int64_t plane, int) {
    const float* src = x + plane * g.h * g.w * 8;
    float* dst = xp + plane * hp * wp * 8;
    std::fill(dst, dst + g.pad_t * wp * 8, 0.0f);
    for (int64_t iy = 0; iy < g.h; ++iy) {
      float* row = dst + (g.pad_t + iy) * wp * 8;
      std::fill(row, row + g.pad_l * 8, 0.0f);
      std::copy(src + iy * g.w * 8, src + (iy + 1) * g.w * 8, row + g.pad_l * 8);
      std::fill(row + (g.pad_l + g.w) * 8, row + wp * 8, 0.0f);
    }
    std::fill(dst + (g.pad_t + g.h) * wp * 8, dst + hp * wp * 8, 0.0f);
  });
}

}  // namespace

bool LowBitConvKernel::supports(const PackedWeight& w, int64_t groups) {
  static const bool cpu_ok = avx2_kernels_enabled();
  if (!cpu_ok || groups != 1 || w.bits < 1 || w.bits > 8 || w.shape.size() != 4) return false;
  const int64_t per_channel = w.shape[1] * w.shape[2] * w.shape[3];
  return per_channel > 0 && w.group_size > 0 && w.group_size % per_channel == 0 && w.numel() % w.group_size == 0 &&
         static_cast<int64_t>(w.scale.size()) == w.numel() / w.group_size && w.zero.size() == w.scale.size();
}

LowBitConvKernel::LowBitConvKernel(const ConvGeom& g, const PackedWeight& w, const float* channel_scale,
                                   const float* bias, const Epilogue& ep)
    : g_(g), ep_(ep), bits_(w.bits) {
  if (!supports(w, g.groups) || w.shape != Shape{g.c_out, g.c_in, g.kh, g.kw} || g.out_h() <= 0 || g.out_w() <= 0 ||
      g.stride_h <= 0 || g.stride_w <= 0 || g.dil_h <= 0 || g.dil_w <= 0)
    throw std::runtime_error("LowBitConvKernel: unsupported weights, geometry or CPU");
  cbo_ = (g.c_out + 7) / 8;
  cbi_ = (g.c_in + 7) / 8;
  taps_ = g.kh * g.kw;
  const int64_t per_channel = g.c_in * taps_;
  mul_.assign(static_cast<size_t>(cbo_ * 8), 0.0f);
  zero_.assign(static_cast<size_t>(cbo_ * 8), 0.0f);
  bias_.assign(static_cast<size_t>(cbo_ * 8), 0.0f);
  for (int64_t oc = 0; oc < g.c_out; ++oc) {
    const int64_t grp = oc * per_channel / w.group_size;
    mul_[oc] = w.scale[grp] * (channel_scale ? channel_scale[oc] : 1.0f);
    zero_[oc] = w.zero[grp];
    if (bias) bias_[oc] = bias[oc];
  }
  // Re-order OIHW codes to [ocb][ic][tap][8 oc], each vector of 8 codes packed LSB-first into
  // `bits` bytes (padded output channels: code 0, multiplier 0).
  codes_.assign(static_cast<size_t>(cbo_ * per_channel * bits_ + 8), 0);
  uint8_t* out = codes_.data();
  for (int64_t ocb = 0; ocb < cbo_; ++ocb)
    for (int64_t i = 0; i < per_channel; ++i, out += bits_) {
      uint64_t v = 0;
      for (int64_t j = 0; j < 8; ++j) {
        const int64_t oc = ocb * 8 + j;
        if (oc < g.c_out) v |= static_cast<uint64_t>(w.code(oc * per_channel + i)) << (j * bits_);
      }
      std::memcpy(out, &v, static_cast<size_t>(bits_));  // little-endian
    }
}

int64_t LowBitConvKernel::resident_bytes() const {
  return static_cast<int64_t>(codes_.size() + (mul_.size() + zero_.size() + bias_.size()) * sizeof(float));
}

void LowBitConvKernel::run(int64_t n, const float* x, const float* residual, float* y) {
  if (n <= 0) return;
  if (ep_.add_residual && !residual)
    throw std::runtime_error("LowBitConvKernel::run: the epilogue adds a residual but none was given");
  const ConvGeom& g = g_;
  const int64_t oh = g.out_h(), ow = g.out_w();
  const int64_t hp = g.h + g.pad_t + g.pad_b, wp = g.w + g.pad_l + g.pad_r;
  const int64_t chunk_cb = std::max<int64_t>(1, kChunkFloats / (taps_ * 64));  // input blocks per chunk
  const int64_t chunks = (cbi_ + chunk_cb - 1) / chunk_cb;
  const int64_t y_image = cbo_ * oh * ow * 8;

  const float* src = x;
  if (g.pad_t || g.pad_l || g.pad_b || g.pad_r) {
    float* xp = t_padded.get(static_cast<size_t>(n * cbi_ * hp * wp * 8));
    pad_input(g, n, cbi_, x, xp);
    src = xp;
  }
  const float* res = ep_.add_residual ? residual : nullptr;
  if (res == y && chunks > 1) {  // partial sums go to y; keep the residual apart
    float* copy = t_residual.get(static_cast<size_t>(n * y_image));
    std::copy(res, res + n * y_image, copy);
    res = copy;
  }

  // Items: as few as keep the threads busy, so each decoded slice serves as many pixels as
  // possible (one item per output block inside a micro-batch).
  const int threads = std::max(1, pool::concurrency());
  const int64_t target = threads > 1 ? 4 * threads : 1;
  int64_t img_groups = 1, bands = 1;
  while (cbo_ * img_groups * bands < target) {
    if (img_groups < n) img_groups = std::min(n, img_groups * 2);
    else if (bands < oh) bands = std::min(oh, bands * 2);
    else break;
  }
  const int64_t ntiles = (ow + kMaxTile - 1) / kMaxTile;
  const auto& tiles = kTiles[g.stride_w == 1 ? 1 : g.stride_w == 2 ? 2 : 0];

  TileArgs base;
  base.kh = g.kh;
  base.kw = g.kw;
  base.x_cb = hp * wp * 8;
  base.x_dy = g.dil_h * wp * 8;
  base.x_dx = g.dil_w * 8;
  base.x_step = g.stride_w * 8;
  base.act = ep_.act == Activation::relu ? 1 : ep_.act == Activation::clip ? 2 : 0;
  base.lo = ep_.clip_lo;
  base.hi = ep_.clip_hi;

  pool::parallel_for(cbo_ * img_groups * bands, [&](int64_t item, int) {
    const int64_t ocb = item % cbo_, ig = item / cbo_ % img_groups, band = item / cbo_ / img_groups;
    const int64_t i0 = ig * n / img_groups, i1 = (ig + 1) * n / img_groups;
    const int64_t y0 = band * oh / bands, y1 = (band + 1) * oh / bands;
    if (i0 == i1 || y0 == y1) return;
    TileArgs t = base;
    t.bias = bias_.data() + ocb * 8;
    t.keep_lanes = static_cast<int>(std::min<int64_t>(8, g.c_out - ocb * 8));
    float* wbuf = t_weights.get(static_cast<size_t>(chunk_cb * taps_ * 64));
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const int64_t cb0 = ch * chunk_cb, cb1 = std::min(cbi_, cb0 + chunk_cb);
      const int64_t ic0 = cb0 * 8, nic = std::min(g.c_in, cb1 * 8) - ic0;
      t.nicb = cb1 - cb0;
      decode_slice(codes_.data() + (ocb * g.c_in + ic0) * taps_ * bits_, bits_, nic, t.nicb, taps_,
                   zero_.data() + ocb * 8, mul_.data() + ocb * 8, wbuf);
      const bool first = ch == 0, last = ch == chunks - 1;
      for (int64_t img = i0; img < i1; ++img)
        for (int64_t oy = y0; oy < y1; ++oy) {
          const float* xrow = src + ((img * cbi_ + cb0) * hp + oy * g.stride_h) * wp * 8;
          const int64_t yrow = img * y_image + (ocb * oh + oy) * ow * 8;
          for (int64_t k = 0, ox = 0; k < ntiles; ++k) {
            const int64_t width = ow / ntiles + (k < ow % ntiles ? 1 : 0);
            tiles[width - 1](t, xrow + ox * g.stride_w * 8, wbuf, y + yrow + ox * 8,
                             last && res ? res + yrow + ox * 8 : nullptr, first, last);
            ox += width;
          }
        }
    }
  });
}

void conv2d_lowbit_ref(const ConvGeom& g, int64_t n, const float* x, const PackedWeight& w,
                       const float* channel_scale, const float* bias, const float* residual,
                       const Epilogue& ep, float* y) {
  std::vector<float> wf = dequantize_packed(w);
  if (channel_scale) {
    const size_t per = wf.size() / static_cast<size_t>(g.c_out);
    for (size_t i = 0; i < wf.size(); ++i) wf[i] *= channel_scale[i / per];
  }
  conv2d_ref(g, n, x, wf.data(), bias, residual, ep, y);
}

}  // namespace dfmpc
