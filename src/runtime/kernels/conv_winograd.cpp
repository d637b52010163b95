// Winograd F(4x4, 3x3) convolution on the blocked nChw8c layout (see conv_blocked.h).
//
// Per 4x4 output tile: the 6x6 input patch d of every 8-channel block becomes V = B^T d B
// (36 values per channel), the 36 positions each do one small GEMM M[p] = V[p] * U[p] over
// the input channels (U = G g G^T, the transformed weights, made once), and the output tile is
// A^T M A + bias (+ residual) -> activation. Tiles are processed in blocks sized to keep V and
// M in L2; a work item is (tile block, output-channel chunk), spread over the thread pool.
// Transforms are computed in float; the weight transform in double.
//
// The AVX2/FMA code is compiled for that target explicitly and used only when the CPU has it.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>

#include "runtime/kernels/conv_blocked.h"
#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/thread_pool.h"

namespace dfmpc {
namespace {

constexpr int64_t kPos = 36;  // 6x6 transformed positions

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buf = std::unique_ptr<float[], FreeDeleter>;

Buf alloc_floats(size_t n) {
  const size_t bytes = std::max<size_t>(64, (n * sizeof(float) + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return Buf(static_cast<float*>(p));
}

// Per-thread scratch for V and M, grown on demand and kept for the next call.
struct Scratch {
  Buf buf;
  size_t size = 0;
  float* get(size_t n) {
    if (n > size) {
      buf = alloc_floats(n);
      size = n;
    }
    return buf.get();
  }
};
thread_local Scratch t_v, t_m;
float* scratch_v(size_t n) { return t_v.get(n); }
float* scratch_m(size_t n) { return t_m.get(n); }

// Distance between the 36 position blocks of V and M: rounded to whole cache lines, and to an
// odd number of them, so the 36 vectors a tile transform stores or loads do not all map to a
// few L1 sets (a power-of-two stride such as 2 KiB made 2 threads slower than 1).
int64_t position_stride(int64_t floats) {
  int64_t lines = (floats + 15) / 16;
  if (lines % 2 == 0) ++lines;
  return lines * 16;
}

struct Args {
  int64_t cbi = 0, cbo = 0, h = 0, w = 0, oh = 0, ow = 0, pt = 0, pl = 0;
  int64_t tw = 0, tpi = 0, nt = 0;  // tiles per row, per image, in total
  int64_t kp = 0, np = 0, cout = 0;  // padded channels; real output channels
  const float* u = nullptr;          // packed transformed weights
  const float* bias = nullptr;       // np floats, zero padded
  int act = 0;                       // 0 none, 1 relu, 2 clip
  float lo = 0, hi = 0;
  bool residual = false;
  const float* x = nullptr;
  const float* r = nullptr;
  float* y = nullptr;
  int64_t tb = 0;       // tiles per block
  int64_t nco = 1;      // output-channel chunks
  int64_t cw_max = 0;   // widest chunk (floats)
  int64_t chunk_cb[9];  // chunk boundaries in 8-channel blocks (nco + 1 entries)
};

}  // namespace

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace {

#define DFMPC_INLINE inline __attribute__((always_inline))

// r = B^T d for the 6 values d[0], d[s], ..., d[5s]; results to r[0], r[rs], ...
DFMPC_INLINE void bt6(const __m256* d, int s, __m256* r, int rs) {
  const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c5 = _mm256_set1_ps(5.0f);
  const __m256 a = _mm256_fnmadd_ps(c4, d[2 * s], d[4 * s]);  // d4 - 4 d2
  const __m256 b = _mm256_fnmadd_ps(c4, d[1 * s], d[3 * s]);  // d3 - 4 d1
  const __m256 c = _mm256_sub_ps(d[4 * s], d[2 * s]);
  const __m256 e = _mm256_mul_ps(c2, _mm256_sub_ps(d[3 * s], d[1 * s]));
  r[0] = _mm256_fmadd_ps(c4, d[0], _mm256_fnmadd_ps(c5, d[2 * s], d[4 * s]));
  r[1 * rs] = _mm256_add_ps(a, b);
  r[2 * rs] = _mm256_sub_ps(a, b);
  r[3 * rs] = _mm256_add_ps(c, e);
  r[4 * rs] = _mm256_sub_ps(c, e);
  r[5 * rs] = _mm256_fmadd_ps(c4, d[1 * s], _mm256_fnmadd_ps(c5, d[3 * s], d[5 * s]));
}

// o = A^T m for 6 values m[0], m[s], ...; 4 results to o[0], o[os], ...
DFMPC_INLINE void at6(const __m256* m, int s, __m256* o, int os) {
  const __m256 c2 = _mm256_set1_ps(2.0f), c4 = _mm256_set1_ps(4.0f), c8 = _mm256_set1_ps(8.0f);
  const __m256 s12 = _mm256_add_ps(m[1 * s], m[2 * s]), d12 = _mm256_sub_ps(m[1 * s], m[2 * s]);
  const __m256 s34 = _mm256_add_ps(m[3 * s], m[4 * s]), d34 = _mm256_sub_ps(m[3 * s], m[4 * s]);
  o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
  o[1 * os] = _mm256_fmadd_ps(c2, d34, d12);
  o[2 * os] = _mm256_fmadd_ps(c4, s34, s12);
  o[3 * os] = _mm256_add_ps(_mm256_fmadd_ps(c8, d34, d12), m[5 * s]);
}

// One 6x6 patch of 8 channels (pixel rows at stride rs floats) to its 36 transformed vectors
// at dst + p * pstride.
DFMPC_INLINE void input_tile(const float* src, int64_t rs, float* dst, int64_t pstride) {
  __m256 t[36];  // B^T d, [i][j]
  for (int j = 0; j < 6; ++j) {
    __m256 d[6];
    for (int i = 0; i < 6; ++i) d[i] = _mm256_loadu_ps(src + i * rs + j * 8);
    bt6(d, 1, t + j, 6);
  }
  for (int i = 0; i < 6; ++i) {
    __m256 r[6];
    bt6(t + i * 6, 1, r, 1);  // (B^T d) B
    for (int j = 0; j < 6; ++j) _mm256_store_ps(dst + (i * 6 + j) * pstride, r[j]);
  }
}

// V[p][tt][k] (row stride kp, position stride tb * kp) for tiles [t0, t0 + cnt).
// (No loop-to-memcpy/memset conversion: the border copies are a few vectors each.)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void input_transform(const Args& a, int64_t t0, int64_t cnt, float* v) {
  const int64_t plane = a.h * a.w * 8, pstride = position_stride(a.tb * a.kp), rs = a.w * 8;
  alignas(32) float patch[36 * 8];  // zero-padded copy of a patch that crosses the border
  for (int64_t tt = 0; tt < cnt; ++tt) {
    const int64_t t = t0 + tt, img = t / a.tpi, rem = t % a.tpi;
    const int64_t iy0 = (rem / a.tw) * 4 - a.pt, ix0 = (rem % a.tw) * 4 - a.pl;
    const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + 6 <= a.h && ix0 + 6 <= a.w;
    const int64_t i0 = std::max<int64_t>(0, -iy0), i1 = std::min<int64_t>(6, a.h - iy0);
    const int64_t j0 = std::max<int64_t>(0, -ix0), j1 = std::min<int64_t>(6, a.w - ix0);
    const float* img_base = a.x + img * a.cbi * plane;
    float* dst = v + tt * a.kp;
    if (!inside)  // the part outside the image is the same for every channel block
      for (int k = 0; k < 36; ++k) _mm256_store_ps(patch + k * 8, _mm256_setzero_ps());
    for (int64_t cb = 0; cb < a.cbi; ++cb) {
      const float* src = img_base + cb * plane;
      if (inside) {
        input_tile(src + (iy0 * a.w + ix0) * 8, rs, dst + cb * 8, pstride);
        continue;
      }
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j)
          _mm256_store_ps(patch + (i * 6 + j) * 8, _mm256_loadu_ps(src + ((iy0 + i) * a.w + ix0 + j) * 8));
      input_tile(patch, 48, dst + cb * 8, pstride);
    }
  }
}

// C[R x 8*NV] = A[R x K] * B[K x 8*NV]; A rows at stride lda, B packed [K][8*NV]. Each step
// also prefetches one cache line of the panel that follows B in memory (the next one the
// caller multiplies): a panel is often exactly a 4 KiB page, where hardware prefetch stops.
template <int R, int NV>
DFMPC_INLINE void gemm_kernel(const float* a, int64_t lda, const float* b, int64_t k_len, float* c, int64_t ldc) {
  const float* next = b + k_len * NV * 8;
  __m256 acc[R][NV];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < k_len; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + k * NV * 8 + v * 8);
#ifndef DFMPC_NO_PREFETCH
    _mm_prefetch(reinterpret_cast<const char*>(next + k * 16), _MM_HINT_T0);
#endif
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) _mm256_store_ps(c + r * ldc + v * 8, acc[r][v]);
}

// All `rows` rows of C = A * B for one panel, 6 rows at a time.
template <int NV>
void gemm_panel(int64_t rows, const float* a, int64_t lda, const float* b, int64_t k_len, float* c, int64_t ldc) {
  int64_t r0 = 0;
  for (; r0 + 6 <= rows; r0 += 6) gemm_kernel<6, NV>(a + r0 * lda, lda, b, k_len, c + r0 * ldc, ldc);
  a += r0 * lda, c += r0 * ldc;
  switch (rows - r0) {
    case 5: gemm_kernel<5, NV>(a, lda, b, k_len, c, ldc); break;
    case 4: gemm_kernel<4, NV>(a, lda, b, k_len, c, ldc); break;
    case 3: gemm_kernel<3, NV>(a, lda, b, k_len, c, ldc); break;
    case 2: gemm_kernel<2, NV>(a, lda, b, k_len, c, ldc); break;
    case 1: gemm_kernel<1, NV>(a, lda, b, k_len, c, ldc); break;
    default: break;
  }
}

// M[p][tt][col] (row stride cw) for output channel blocks [c0, c1).
void multiply(const Args& a, int64_t cnt, int64_t c0, int64_t c1, const float* v, float* m) {
  const int64_t cw = (c1 - c0) * 8;
  for (int64_t p = 0; p < kPos; ++p) {
    const float* vp = v + p * position_stride(a.tb * a.kp);
    float* mp = m + p * position_stride(a.tb * cw);
    const float* up = a.u + p * a.kp * a.np;
    for (int64_t cb = c0; cb < c1; cb += 2) {
      const bool wide = cb + 1 < c1;
      const float* panel = up + (cb / 2) * 16 * a.kp;
      float* cp = mp + (cb - c0) * 8;
      if (wide) gemm_panel<2>(cnt, vp, a.kp, panel, a.kp, cp, cw);
      else gemm_panel<1>(cnt, vp, a.kp, panel, a.kp, cp, cw);
    }
  }
}

struct Epi {
  __m256 bias, mask, lo, hi;
};

// One 4x4 output tile of 8 channels from its 36 vectors at m + p * pstride; pixel rows of y
// (and of the residual r) at stride rs floats. Stores rows x cols pixels (all 16 when FULL).
template <bool RES, int ACT, bool FULL>
DFMPC_INLINE void output_tile(const float* m, int64_t pstride, const Epi& e, float* y, const float* r,
                              int64_t rs, int rows, int cols) {
  __m256 s[24];  // A^T M, [i][j] 4 x 6
  for (int j = 0; j < 6; ++j) {
    __m256 mm[6];
    for (int i = 0; i < 6; ++i) mm[i] = _mm256_load_ps(m + (i * 6 + j) * pstride);
    at6(mm, 1, s + j, 6);
  }
  const int nr = FULL ? 4 : rows, nc = FULL ? 4 : cols;
  for (int i = 0; i < nr; ++i) {
    __m256 o[4];
    at6(s + i * 6, 1, o, 1);  // (A^T M) A
    for (int j = 0; j < nc; ++j) {
      __m256 val = _mm256_add_ps(o[j], e.bias);
      if (RES) val = _mm256_add_ps(val, _mm256_loadu_ps(r + i * rs + j * 8));
      if (ACT == 1) val = _mm256_max_ps(val, _mm256_setzero_ps());
      if (ACT == 2) val = _mm256_min_ps(_mm256_max_ps(val, e.lo), e.hi);
      _mm256_storeu_ps(y + i * rs + j * 8, _mm256_and_ps(val, e.mask));
    }
  }
}

template <bool RES, int ACT>
void output_transform_t(const Args& a, int64_t t0, int64_t cnt, int64_t c0, int64_t c1, const float* m) {
  const int64_t cw = (c1 - c0) * 8, pstride = position_stride(a.tb * cw), plane = a.oh * a.ow * 8, rs = a.ow * 8;
  const int64_t tail = a.cout % 8;
  const __m256 ones = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  const __m256 tail_mask = _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(tail)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  Epi e;
  e.lo = _mm256_set1_ps(a.lo), e.hi = _mm256_set1_ps(a.hi);
  for (int64_t tt = 0; tt < cnt; ++tt) {
    const int64_t t = t0 + tt, img = t / a.tpi, rem = t % a.tpi;
    const int64_t oy0 = (rem / a.tw) * 4, ox0 = (rem % a.tw) * 4;
    const int rows = static_cast<int>(std::min<int64_t>(4, a.oh - oy0));
    const int cols = static_cast<int>(std::min<int64_t>(4, a.ow - ox0));
    const bool full = rows == 4 && cols == 4;
    const int64_t pix = (oy0 * a.ow + ox0) * 8;
    for (int64_t cb = c0; cb < c1; ++cb) {
      const float* src = m + tt * cw + (cb - c0) * 8;
      e.bias = _mm256_load_ps(a.bias + cb * 8);
      e.mask = tail && cb == a.cbo - 1 ? tail_mask : ones;
      const int64_t off = (img * a.cbo + cb) * plane + pix;
      const float* r = RES ? a.r + off : nullptr;
      if (full) output_tile<RES, ACT, true>(src, pstride, e, a.y + off, r, rs, 4, 4);
      else output_tile<RES, ACT, false>(src, pstride, e, a.y + off, r, rs, rows, cols);
    }
  }
}

void output_transform(const Args& a, int64_t t0, int64_t cnt, int64_t c0, int64_t c1, const float* m) {
  using Fn = void (*)(const Args&, int64_t, int64_t, int64_t, int64_t, const float*);
  static constexpr Fn table[2][3] = {
      {output_transform_t<false, 0>, output_transform_t<false, 1>, output_transform_t<false, 2>},
      {output_transform_t<true, 0>, output_transform_t<true, 1>, output_transform_t<true, 2>}};
  table[a.residual][a.act](a, t0, cnt, c0, c1, m);
}

void run_unit(const Args& a, int64_t block, int64_t chunk, float* v, float* m) {
  const int64_t t0 = block * a.tb, cnt = std::min(a.tb, a.nt - t0);
  const int64_t c0 = a.chunk_cb[chunk], c1 = a.chunk_cb[chunk + 1];
  input_transform(a, t0, cnt, v);
  multiply(a, cnt, c0, c1, v, m);
  output_transform(a, t0, cnt, c0, c1, m);
}

}  // namespace

#pragma GCC pop_options

namespace {

class WinogradConv final : public detail::BlockedConvImpl {
 public:
  WinogradConv(const ConvGeom& g, const float* w, const float* bias, const Epilogue& ep) : g_(g) {
    base_.cbi = (g.c_in + 7) / 8;
    base_.cbo = (g.c_out + 7) / 8;
    base_.kp = base_.cbi * 8;
    base_.np = base_.cbo * 8;
    base_.cout = g.c_out;
    base_.h = g.h, base_.w = g.w, base_.oh = g.out_h(), base_.ow = g.out_w();
    base_.pt = g.pad_t, base_.pl = g.pad_l;
    base_.tw = (base_.ow + 3) / 4;
    base_.tpi = ((base_.oh + 3) / 4) * base_.tw;
    base_.act = ep.act == Activation::relu ? 1 : ep.act == Activation::clip ? 2 : 0;
    base_.lo = ep.clip_lo, base_.hi = ep.clip_hi;
    base_.residual = ep.add_residual;
    bias_ = alloc_floats(base_.np);
    std::fill_n(bias_.get(), base_.np, 0.0f);
    if (bias) std::copy_n(bias, g.c_out, bias_.get());
    base_.bias = bias_.get();
    transform_weights(w);
    base_.u = u_.get();
  }

  void run(int64_t n, const float* x, const float* residual, float* y) override {
    Args a = base_;
    a.x = x, a.r = residual, a.y = y;
    a.nt = n * a.tpi;
    plan(a);
    const int64_t blocks = (a.nt + a.tb - 1) / a.tb, units = blocks * a.nco;
    const size_t v_size = static_cast<size_t>(kPos * position_stride(a.tb * a.kp));
    const size_t m_size = static_cast<size_t>(kPos * position_stride(a.tb * a.cw_max));
    pool::parallel_for(units, [&](int64_t u, int) {
      run_unit(a, u / a.nco, u % a.nco, scratch_v(v_size), scratch_m(m_size));
    });
  }

 private:
  // U = G g G^T per (output, input) channel pair, packed per position p as panels of 16
  // output channels (the last one 8 wide when the block count is odd): [p][panel][k][16].
  void transform_weights(const float* w) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    const int64_t kp = base_.kp, np = base_.np, cbo = base_.cbo;
    u_ = alloc_floats(static_cast<size_t>(kPos * kp * np));
    std::fill_n(u_.get(), kPos * kp * np, 0.0f);
    for (int64_t co = 0; co < g_.c_out; ++co)
      for (int64_t ci = 0; ci < g_.c_in; ++ci) {
        const float* k3 = w + (co * g_.c_in + ci) * 9;
        double t[6][3], u[6][6];
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 3; ++j)
            t[i][j] = G[i][0] * k3[0 * 3 + j] + G[i][1] * k3[1 * 3 + j] + G[i][2] * k3[2 * 3 + j];
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) u[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
        const int64_t panel = co / 16;
        const int64_t width = (2 * panel + 1 < cbo) ? 16 : 8;
        const int64_t col = co - panel * 16;
        for (int p = 0; p < 36; ++p)
          u_[p * kp * np + panel * 16 * kp + ci * width + col] = static_cast<float>(u[p / 6][p % 6]);
      }
  }

  // Chooses tiles per block and output-channel chunks: V and M of a block should stay in
  // L2, and there should be enough work items to keep every thread busy.
  void plan(Args& a) const {
    const int64_t threads = std::max(1, pool::concurrency());
    const int64_t npan = (a.cbo + 1) / 2;
    const int64_t budget = 64 * 1024;  // floats (256 KiB) for V + M of one block
    const int64_t t_cache = std::max<int64_t>(1, budget / (kPos * (a.kp + a.np)));
    const int64_t nb_min = (a.nt + t_cache - 1) / t_cache;
    int64_t best_nb = nb_min, best_nco = 1;
    if (threads > 1) {
      double best = 1e300;
      const int64_t nb_max = std::min(a.nt, nb_min + 2 * threads);
      for (int64_t nb = nb_min; nb <= nb_max; ++nb) {
        const int64_t tb = (a.nt + nb - 1) / nb, blocks = (a.nt + tb - 1) / tb;
        for (int64_t nco = 1; nco <= std::min<int64_t>(npan, 8); ++nco) {
          const double cw8 = double(a.cbo) / double(nco);  // output blocks per chunk
          const double unit = double(tb) * a.cbi * 220 + double(tb) * cw8 * 130 +
                              kPos * double(tb) * a.kp * cw8 +
                              kPos * double(a.kp) * cw8 * double((tb + 5) / 6);
          const double waves = std::ceil(double(blocks * nco) / double(threads));
          const double cost = waves * unit;
          if (cost < best * 0.999) best = cost, best_nb = blocks, best_nco = nco;
        }
      }
    }
    a.tb = (a.nt + best_nb - 1) / best_nb;
    a.nco = best_nco;
    a.cw_max = 0;
    for (int64_t j = 0; j <= a.nco; ++j) a.chunk_cb[j] = std::min(a.cbo, 2 * (j * npan / a.nco));
    for (int64_t j = 0; j < a.nco; ++j) a.cw_max = std::max(a.cw_max, (a.chunk_cb[j + 1] - a.chunk_cb[j]) * 8);
  }

  ConvGeom g_;
  Args base_;
  Buf u_, bias_;
};

}  // namespace

std::unique_ptr<detail::BlockedConvImpl> detail::make_winograd_conv(const ConvGeom& g, const float* w,
                                                                    const float* bias, const Epilogue& ep) {
  static const bool cpu_ok = avx2_kernels_enabled();
  if (!cpu_ok || g.kh != 3 || g.kw != 3 || g.stride_h != 1 || g.stride_w != 1 || g.dil_h != 1 ||
      g.dil_w != 1 || g.groups != 1 || g.out_h() <= 0 || g.out_w() <= 0)
    return nullptr;
  // Wide layers: a block of tiles whose V and M fit in L2 would have too few rows for the
  // GEMM to reuse each transformed weight (up to 128 + 128 channels: at least 7 tiles).
  if ((g.c_in + 7) / 8 + (g.c_out + 7) / 8 > 32) return nullptr;
  return std::make_unique<WinogradConv>(g, w, bias, ep);
}

}  // namespace dfmpc
