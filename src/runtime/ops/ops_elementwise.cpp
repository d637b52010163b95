// Elementwise operators: activations, broadcasting arithmetic, casts, softmax.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "runtime/ops/op_util.h"
#include "runtime/ops/ops.h"

namespace dfmpc::ops {
namespace {

Shape broadcast_shape(const Node& n, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k + a.size() >= r ? a[k + a.size() - r] : 1;
    const int64_t db = k + b.size() >= r ? b[k + b.size() - r] : 1;
    if (da != db && da != 1 && db != 1)
      throw ModelError(n.where() + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                       " do not broadcast");
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `s` viewed as the trailing dims of `out`, 0 where broadcast.
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  const auto own = strides_of(s);
  const size_t off = out.size() - s.size();
  for (size_t k = 0; k < s.size(); ++k) st[off + k] = s[k] == 1 ? 0 : own[k];
  return st;
}

template <class T, class F>
void binary_loop(const Shape& out_shape, const T* a, const Shape& as, const T* b,
                 const Shape& bs, T* y, F f) {
  const int64_t total = shape_numel(out_shape);
  if (as == out_shape && bs == out_shape) {
    for (int64_t k = 0; k < total; ++k) y[k] = f(a[k], b[k]);
    return;
  }
  if (total == 0) return;
  const auto sa = broadcast_strides(as, out_shape), sb = broadcast_strides(bs, out_shape);
  const size_t r = out_shape.size();
  const int64_t inner = out_shape[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  std::vector<int64_t> idx(r, 0);
  for (int64_t base = 0; base < total; base += inner) {
    int64_t oa = 0, ob = 0;
    for (size_t k = 0; k + 1 < r; ++k) oa += idx[k] * sa[k], ob += idx[k] * sb[k];
    for (int64_t j = 0; j < inner; ++j) y[base + j] = f(a[oa + j * ia], b[ob + j * ib]);
    for (int k = static_cast<int>(r) - 2; k >= 0; --k) {
      if (++idx[k] < out_shape[k]) break;
      idx[k] = 0;
    }
  }
}

template <class F>
void binary(const Node& n, std::span<const Tensor* const> in, std::span<Tensor* const> out, F f) {
  const Tensor& a = need(n, in, 0);
  const Tensor& b = need(n, in, 1);
  const Shape s = broadcast_shape(n, a.shape, b.shape);
  Tensor& y = *out[0];
  if (a.is_f32() || b.is_f32()) {
    const auto af = a.is_f32() ? std::vector<float>() : a.as_f32();
    const auto bf = b.is_f32() ? std::vector<float>() : b.as_f32();
    prepare_f32(y, s);
    binary_loop<float>(s, a.is_f32() ? a.f.data() : af.data(), a.shape,
                       b.is_f32() ? b.f.data() : bf.data(), b.shape, y.f.data(), f);
  } else {
    prepare_like(y, s, DType::i64);
    binary_loop<int64_t>(s, a.i.data(), a.shape, b.i.data(), b.shape, y.i.data(), f);
  }
}

}  // namespace

void add(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  binary(n, in, out, [](auto x, auto y) { return x + y; });
}
void sub(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  binary(n, in, out, [](auto x, auto y) { return x - y; });
}
void mul(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  binary(n, in, out, [](auto x, auto y) { return x * y; });
}
void div(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  binary(n, in, out, [](auto x, auto y) {
    if constexpr (std::is_integral_v<decltype(y)>) {
      if (y == 0) return decltype(x / y){0};  // integer shape arithmetic: avoid UB
    }
    return x / y;
  });
}

void relu(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  prepare_f32(*out[0], x.shape);
  float* y = out[0]->f.data();
  for (size_t k = 0; k < x.f.size(); ++k) y[k] = x.f[k] > 0.0f ? x.f[k] : 0.0f;
}

// Clip bounds: attributes before opset 11, optional inputs from 11 on.
std::pair<float, float> clip_bounds(const Node& n, int64_t opset, std::span<const Tensor* const> in) {
  float lo = -INFINITY, hi = INFINITY;
  if (opset < 11) {
    lo = n.attr_f("min", lo);
    hi = n.attr_f("max", hi);
  } else {
    if (in.size() > 1 && in[1]) lo = in[1]->as_f32().at(0);
    if (in.size() > 2 && in[2]) hi = in[2]->as_f32().at(0);
  }
  return {lo, hi};
}

void clip(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const auto [lo, hi] = clip_bounds(n, opset, in);
  prepare_f32(*out[0], x.shape);
  float* y = out[0]->f.data();
  for (size_t k = 0; k < x.f.size(); ++k) y[k] = std::min(std::max(x.f[k], lo), hi);
}

void identity(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  Tensor& y = *out[0];
  y.dtype = x.dtype;
  y.itype = x.itype;
  y.shape = x.shape;
  y.f.assign(x.f.begin(), x.f.end());
  y.i.assign(x.i.begin(), x.i.end());
}

void dropout(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  if (out.size() > 1)
    throw ModelError(n.where() + ": the mask output of Dropout (training) is not supported");
  identity(n, opset, in.first(1), out);
}

void cast(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const int64_t to = n.attr_i("to", 1);
  Tensor& y = *out[0];
  if (to == 1 || to == 11 || to == 10) {
    y = Tensor::from_f32(x.shape, x.as_f32());
  } else if (to == 7 || to == 6 || to == 9 || to == 2 || to == 3 || to == 12 || to == 13) {
    y = Tensor::from_i64(x.shape, x.as_i64());
  } else {
    throw ModelError(n.where() + ": Cast to data type " + std::to_string(to) + " is not supported");
  }
}

void softmax(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(n, n.attr_i("axis", opset >= 13 ? -1 : 1), rank);
  // Before opset 13 the input is flattened to 2-D at `axis`; from 13 on softmax runs along
  // `axis` alone. Both reduce to (outer, len, inner) blocks.
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t k = 0; k < rank; ++k) {
    if (k < axis) outer *= x.shape[k];
    else if (k == axis || opset < 13) len *= x.shape[k];
    else inner *= x.shape[k];
  }
  prepare_f32(*out[0], x.shape);
  float* y = out[0]->f.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* xp = x.f.data() + o * len * inner + i;
      float* yp = y + o * len * inner + i;
      float m = -INFINITY;
      for (int64_t k = 0; k < len; ++k) m = std::max(m, xp[k * inner]);
      double s = 0;
      for (int64_t k = 0; k < len; ++k) s += (yp[k * inner] = std::exp(xp[k * inner] - m));
      for (int64_t k = 0; k < len; ++k) yp[k * inner] = static_cast<float>(yp[k * inner] / s);
    }
}

}  // namespace dfmpc::ops
