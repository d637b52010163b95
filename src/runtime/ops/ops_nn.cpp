// Neural-network operators: convolution (reference kernel), batch norm, pooling, dense.
#include <algorithm>
#include <cmath>

#include "runtime/kernels/conv.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/ops.h"

namespace dfmpc::ops {

void conv(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const Tensor& w = need(n, in, 1);
  const ConvGeom g = conv_geom(n, x.shape, w.shape);
  const Tensor* b = in.size() > 2 ? in[2] : nullptr;
  if (b && b->numel() != g.c_out) throw ModelError(n.where() + ": bias size does not match output channels");
  prepare_f32(*out[0], {x.shape[0], g.c_out, g.out_h(), g.out_w()});
  conv2d_ref(g, x.shape[0], x.f.data(), w.f.data(), b ? b->f.data() : nullptr, nullptr, Epilogue{},
             out[0]->f.data());
}

void batch_norm(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  if (out.size() > 1 || n.attr_i("training_mode", 0) != 0)
    throw ModelError(n.where() + ": BatchNormalization in training mode is not supported");
  const Tensor& x = need(n, in, 0);
  if (x.shape.size() < 2) throw ModelError(n.where() + ": input must have a channel axis");
  const int64_t c = x.shape[1];
  const float eps = n.attr_f("epsilon", 1e-5f);
  const Tensor *gamma = &need(n, in, 1), *beta = &need(n, in, 2), *mean = &need(n, in, 3), *var = &need(n, in, 4);
  for (const Tensor* t : {gamma, beta, mean, var})
    if (t->numel() != c) throw ModelError(n.where() + ": parameter size does not match " + std::to_string(c) + " channels");
  prepare_f32(*out[0], x.shape);
  const int64_t inner = x.numel() / std::max<int64_t>(1, x.shape[0] * c);
  for (int64_t b = 0; b < x.shape[0]; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float scale = gamma->f[ch] / std::sqrt(var->f[ch] + eps);
      const float shift = beta->f[ch] - mean->f[ch] * scale;
      const float* xp = x.f.data() + (b * c + ch) * inner;
      float* yp = out[0]->f.data() + (b * c + ch) * inner;
      for (int64_t k = 0; k < inner; ++k) yp[k] = xp[k] * scale + shift;
    }
}

namespace {
template <bool is_max>
void pool(const Node& n, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  if (out.size() > 1) throw ModelError(n.where() + ": the Indices output of MaxPool is not supported");
  if (n.attr_i("storage_order", 0) != 0) throw ModelError(n.where() + ": storage_order 1 is not supported");
  const Tensor& x = need(n, in, 0);
  const PoolGeom g = pool_geom(n, x.shape);
  const bool include_pad = n.attr_i("count_include_pad", 0) != 0;
  const int64_t nb = x.shape[0];
  prepare_f32(*out[0], {nb, g.c, g.oh, g.ow});
  float* y = out[0]->f.data();
  for (int64_t p = 0; p < nb * g.c; ++p) {
    const float* xp = x.f.data() + p * g.h * g.w;
    for (int64_t oy = 0; oy < g.oh; ++oy)
      for (int64_t ox = 0; ox < g.ow; ++ox) {
        float acc = is_max ? -INFINITY : 0.0f;
        int64_t count = 0;
        for (int64_t ky = 0; ky < g.kh; ++ky)
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
            const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            if (!is_max && include_pad && iy < g.h + g.pb && ix < g.w + g.pr) ++count;
            if (!inside) continue;
            const float v = xp[iy * g.w + ix];
            if constexpr (is_max) acc = std::max(acc, v);
            else acc += v, count += include_pad ? 0 : 1;
          }
        y[(p * g.oh + oy) * g.ow + ox] = is_max ? acc : (count ? acc / static_cast<float>(count) : 0.0f);
      }
  }
}
}  // namespace

void max_pool(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  pool<true>(n, in, out);
}
void average_pool(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  pool<false>(n, in, out);
}

void global_average_pool(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  if (x.shape.size() < 3) throw ModelError(n.where() + ": input must be at least 3-D");
  Shape s = x.shape;
  int64_t inner = 1;
  for (size_t k = 2; k < s.size(); ++k) inner *= s[k], s[k] = 1;
  prepare_f32(*out[0], s);
  const int64_t planes = s[0] * s[1];
  for (int64_t p = 0; p < planes; ++p) {
    double acc = 0;
    for (int64_t k = 0; k < inner; ++k) acc += x.f[p * inner + k];
    out[0]->f[p] = static_cast<float>(acc / static_cast<double>(inner));
  }
}

namespace {
// y[M, N] = a[M, K] * b[K, N] with explicit strides so transposes need no copies.
void matmul_strided(int64_t m, int64_t nn, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                    const float* b, int64_t b_rs, int64_t b_cs, float* y) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < nn; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += static_cast<double>(a[i * a_rs + p * a_cs]) * b[p * b_rs + j * b_cs];
      y[i * nn + j] = static_cast<float>(acc);
    }
}
}  // namespace

void gemm(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& a = need(n, in, 0);
  const Tensor& b = need(n, in, 1);
  require_rank(n, a, 2, "input A");
  require_rank(n, b, 2, "input B");
  const bool ta = n.attr_i("transA", 0) != 0, tb = n.attr_i("transB", 0) != 0;
  const float alpha = n.attr_f("alpha", 1.0f), beta = n.attr_f("beta", 1.0f);
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], nn = tb ? b.shape[0] : b.shape[1];
  if (k != kb)
    throw ModelError(n.where() + ": Gemm inner dimensions differ: A " + shape_str(a.shape) + ", B " + shape_str(b.shape));
  prepare_f32(*out[0], {m, nn});
  float* y = out[0]->f.data();
  matmul_strided(m, nn, k, a.f.data(), ta ? 1 : k, ta ? m : 1, b.f.data(), tb ? 1 : nn, tb ? k : 1, y);
  const Tensor* c = in.size() > 2 ? in[2] : nullptr;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < nn; ++j) {
      float v = alpha * y[i * nn + j];
      if (c) {
        const int64_t ci = c->shape.size() == 2 && c->shape[0] == m ? i : 0;
        const int64_t cj = !c->shape.empty() && c->shape.back() == nn ? j : 0;
        const int64_t cols = c->shape.empty() ? 1 : c->shape.back();
        v += beta * c->f[ci * cols + cj];
      }
      y[i * nn + j] = v;
    }
}

void matmul(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& a = need(n, in, 0);
  const Tensor& b = need(n, in, 1);
  require_rank(n, b, 2, "input B (batched right operands are not supported)");
  if (a.shape.size() < 2) throw ModelError(n.where() + ": input A must be at least 2-D");
  const int64_t k = a.shape.back(), nn = b.shape[1];
  if (b.shape[0] != k)
    throw ModelError(n.where() + ": MatMul shapes " + shape_str(a.shape) + " and " + shape_str(b.shape) + " differ");
  const int64_t m = shape_numel(Shape(a.shape.begin(), a.shape.end() - 1));
  Shape s = a.shape;
  s.back() = nn;
  prepare_f32(*out[0], s);
  matmul_strided(m, nn, k, a.f.data(), k, 1, b.f.data(), nn, 1, out[0]->f.data());
}

}  // namespace dfmpc::ops
