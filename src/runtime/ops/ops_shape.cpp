// Data movement and shape operators. They work on FP32 and INT64 tensors alike, so the
// same code folds exporters' shape arithmetic at import and runs at inference.
#include <algorithm>
#include <climits>

#include "runtime/ops/op_util.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/shape_params.h"

namespace dfmpc::ops {
namespace {

// Calls f(src_vector, dst_vector) on the storage matching x's dtype (integer data keeps its
// element type, so a Reshape or Transpose of quantized weights still feeds DequantizeLinear).
template <class F>
void with_storage(const Tensor& x, Tensor& y, const Shape& s, F f) {
  prepare_like(y, s, x.dtype, x.itype);
  if (x.is_f32()) f(x.f, y.f);
  else f(x.i, y.i);
}

std::vector<int64_t> axes_input_or_attr(const Node& n, int64_t opset, int64_t since,
                                        std::span<const Tensor* const> in, size_t k) {
  if (opset >= since) return (in.size() > k && in[k]) ? in[k]->as_i64() : std::vector<int64_t>{};
  return n.attr_ints("axes");
}

}  // namespace

void reshape(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  std::vector<int64_t> target = need(n, in, 1).as_i64();
  const bool allowzero = n.attr_i("allowzero", 0) != 0;
  int64_t known = 1, infer = -1;
  for (size_t k = 0; k < target.size(); ++k) {
    if (target[k] == 0 && !allowzero) {
      if (k >= x.shape.size()) throw ModelError(n.where() + ": Reshape copies a missing dimension");
      target[k] = x.shape[k];
    }
    if (target[k] == -1) {
      if (infer >= 0) throw ModelError(n.where() + ": Reshape has two -1 dimensions");
      infer = static_cast<int64_t>(k);
    } else {
      known *= target[k];
    }
  }
  if (infer >= 0) target[infer] = known ? x.numel() / known : 0;
  if (shape_numel(target) != x.numel())
    throw ModelError(n.where() + ": cannot reshape " + shape_str(x.shape) + " to " + shape_str(target));
  with_storage(x, *out[0], target, [](const auto& a, auto& b) { std::copy(a.begin(), a.end(), b.begin()); });
}

void flatten(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = n.attr_i("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) throw ModelError(n.where() + ": Flatten axis out of range");
  int64_t outer = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= x.shape[k];
  const Shape s{outer, outer ? x.numel() / outer : 0};
  with_storage(x, *out[0], s, [](const auto& a, auto& b) { std::copy(a.begin(), a.end(), b.begin()); });
}

void concat(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& first = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  const int64_t axis = norm_axis(n, n.attr_i("axis", 0), rank);
  Shape s = first.shape;
  s[axis] = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const Tensor& t = need(n, in, k);
    if (static_cast<int64_t>(t.shape.size()) != rank || t.dtype != first.dtype)
      throw ModelError(n.where() + ": Concat inputs differ in rank or type");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t.shape[d] != first.shape[d])
        throw ModelError(n.where() + ": Concat input shapes " + shape_str(first.shape) + " and " +
                         shape_str(t.shape) + " differ off the axis");
    s[axis] += t.shape[axis];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= s[d];
  Tensor& y = *out[0];
  prepare_like(y, s, first.dtype);
  int64_t offset = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    const int64_t len = in[k]->shape[axis] * inner;
    auto copy = [&](const auto& src, auto& dst) {
      for (int64_t o = 0; o < outer; ++o)
        std::copy_n(src.begin() + o * len, len, dst.begin() + o * s[axis] * inner + offset);
    };
    if (first.is_f32()) copy(in[k]->f, y.f);
    else copy(in[k]->i, y.i);
    offset += len;
  }
}

void transpose(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const size_t rank = x.shape.size();
  std::vector<int64_t> perm = n.attr_ints("perm");
  if (perm.empty())
    for (size_t k = 0; k < rank; ++k) perm.push_back(static_cast<int64_t>(rank - 1 - k));
  if (perm.size() != rank) throw ModelError(n.where() + ": perm does not match the input rank");
  Shape s(rank);
  for (size_t k = 0; k < rank; ++k) s[k] = x.shape[norm_axis(n, perm[k], static_cast<int64_t>(rank))];
  const auto xs = strides_of(x.shape);
  with_storage(x, *out[0], s, [&](const auto& a, auto& b) {
    std::vector<int64_t> idx(rank, 0);
    for (size_t o = 0; o < b.size(); ++o) {
      int64_t src = 0;
      for (size_t k = 0; k < rank; ++k) src += idx[k] * xs[perm[k]];
      b[o] = a[src];
      for (int k = static_cast<int>(rank) - 1; k >= 0; --k) {
        if (++idx[k] < s[k]) break;
        idx[k] = 0;
      }
    }
  });
}

SliceParams slice_params(const Node& n, int64_t opset, std::span<const Tensor* const> in) {
  const Tensor& x = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    starts = n.attr_ints("starts");
    ends = n.attr_ints("ends");
    axes = n.attr_ints("axes");
  } else {
    starts = need(n, in, 1).as_i64();
    ends = need(n, in, 2).as_i64();
    if (in.size() > 3 && in[3]) axes = in[3]->as_i64();
    if (in.size() > 4 && in[4]) steps = in[4]->as_i64();
  }
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    throw ModelError(n.where() + ": Slice starts/ends/axes/steps differ in length");
  SliceParams p;
  p.begin.assign(rank, 0);
  p.step.assign(rank, 1);
  p.out = x.shape;
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t a = norm_axis(n, axes[k], rank), dim = x.shape[a], step = steps[k];
    if (step == 0) throw ModelError(n.where() + ": Slice step is 0");
    auto clampi = [&](int64_t v, int64_t lo, int64_t hi) {
      if (v < 0) v += dim;
      return std::clamp(v, lo, hi);
    };
    const int64_t s0 = step > 0 ? clampi(starts[k], 0, dim) : clampi(starts[k], 0, dim - 1);
    const int64_t e0 = step > 0 ? clampi(ends[k], 0, dim) : clampi(ends[k], -1, dim - 1);
    const int64_t len = step > 0 ? (e0 - s0 + step - 1) / step : (s0 - e0 - step - 1) / (-step);
    p.begin[a] = s0;
    p.step[a] = step;
    p.out[a] = std::max<int64_t>(len, 0);
  }
  return p;
}

void slice(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const SliceParams p = slice_params(n, opset, in);
  const Shape& s = p.out;
  const auto xs = strides_of(x.shape);
  with_storage(x, *out[0], s, [&](const auto& src, auto& dst) {
    if (dst.empty()) return;
    std::vector<int64_t> idx(rank, 0);
    const int64_t inner = s[rank - 1], istep = p.step[rank - 1] * xs[rank - 1];
    for (size_t o = 0; o < dst.size(); o += inner) {
      int64_t off = 0;
      for (int64_t k = 0; k < rank; ++k) off += (p.begin[k] + idx[k] * p.step[k]) * xs[k];
      for (int64_t j = 0; j < inner; ++j) dst[o + j] = src[off + j * istep];
      for (int64_t k = rank - 2; k >= 0; --k) {
        if (++idx[k] < s[k]) break;
        idx[k] = 0;
      }
    }
  });
}

PadParams pad_params(const Node& n, int64_t opset, std::span<const Tensor* const> in) {
  const Tensor& x = need(n, in, 0);
  const std::string mode = n.attr_s("mode", "constant");
  if (mode != "constant")
    throw ModelError(n.where() + ": Pad mode '" + mode + "' is not supported (only constant)");
  PadParams p;
  if (opset < 11) {
    p.pads = n.attr_ints("pads");
    p.value = n.attr_f("value", 0.0f);
  } else {
    p.pads = need(n, in, 1).as_i64();
    if (in.size() > 2 && in[2] && in[2]->numel() > 0) p.value = in[2]->as_f32()[0];
  }
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (opset >= 18 && in.size() > 3 && in[3]) {  // pads only for the listed axes
    const std::vector<int64_t> axes = in[3]->as_i64();
    const size_t na = axes.size();
    if (p.pads.size() != 2 * na)
      throw ModelError(n.where() + ": Pad has " + std::to_string(p.pads.size()) + " pads for " +
                       std::to_string(na) + " axes");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t k = 0; k < na; ++k) {
      const int64_t a = norm_axis(n, axes[k], rank);
      full[a] = p.pads[k];
      full[a + rank] = p.pads[k + na];
    }
    p.pads = std::move(full);
  }
  if (static_cast<int64_t>(p.pads.size()) != 2 * rank)
    throw ModelError(n.where() + ": Pad has " + std::to_string(p.pads.size()) + " pads for rank " +
                     std::to_string(rank));
  p.out.resize(rank);
  for (int64_t k = 0; k < rank; ++k) {
    p.out[k] = x.shape[k] + p.pads[k] + p.pads[k + rank];
    if (p.out[k] < 0) throw ModelError(n.where() + ": Pad makes a negative dimension");
  }
  return p;
}

void pad(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const PadParams p = pad_params(n, opset, in);
  const Shape& s = p.out;
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const auto ys = strides_of(s);
  with_storage(x, *out[0], s, [&](const auto& src, auto& dst) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    std::fill(dst.begin(), dst.end(), static_cast<T>(p.value));
    if (src.empty() || dst.empty()) return;
    if (rank == 0) {
      dst[0] = src[0];
      return;
    }
    // Row by row along the last axis: the part of each input row that lands inside.
    const int64_t inner = x.shape[rank - 1], shift = p.pads[rank - 1];
    const int64_t j0 = std::max<int64_t>(0, -shift), j1 = std::min<int64_t>(inner, s[rank - 1] - shift);
    std::vector<int64_t> idx(rank, 0);
    for (size_t i = 0; i < src.size(); i += inner) {
      int64_t o = 0;
      bool inside = true;
      for (int64_t k = 0; k + 1 < rank; ++k) {
        const int64_t q = idx[k] + p.pads[k];
        inside = inside && q >= 0 && q < s[k];
        o += q * ys[k];
      }
      if (inside && j1 > j0) std::copy(src.begin() + i + j0, src.begin() + i + j1, dst.begin() + o + shift + j0);
      for (int64_t k = rank - 2; k >= 0; --k) {
        if (++idx[k] < x.shape[k]) break;
        idx[k] = 0;
      }
    }
  });
}

void gather(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const std::vector<int64_t> idx = need(n, in, 1).as_i64();
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = norm_axis(n, n.attr_i("axis", 0), rank);
  Shape s(x.shape.begin(), x.shape.begin() + axis);
  for (int64_t d : in[1]->shape) s.push_back(d);
  for (int64_t k = axis + 1; k < rank; ++k) s.push_back(x.shape[k]);
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= x.shape[k];
  for (int64_t k = axis + 1; k < rank; ++k) inner *= x.shape[k];
  const int64_t dim = x.shape[axis];
  with_storage(x, *out[0], s, [&](const auto& src, auto& dst) {
    size_t o = 0;
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j : idx) {
        const int64_t jj = j < 0 ? j + dim : j;
        if (jj < 0 || jj >= dim) throw ModelError(n.where() + ": Gather index out of range");
        for (int64_t i = 0; i < inner; ++i) dst[o++] = src[(a * dim + jj) * inner + i];
      }
  });
}

void unsqueeze(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  std::vector<int64_t> axes = axes_input_or_attr(n, opset, 13, in, 1);
  const int64_t rank = static_cast<int64_t>(x.shape.size() + axes.size());
  for (auto& a : axes) a = norm_axis(n, a, rank);
  std::sort(axes.begin(), axes.end());
  Shape s;
  size_t src = 0, ai = 0;
  for (int64_t k = 0; k < rank; ++k) {
    if (ai < axes.size() && axes[ai] == k) s.push_back(1), ++ai;
    else s.push_back(x.shape.at(src++));
  }
  with_storage(x, *out[0], s, [](const auto& a, auto& b) { std::copy(a.begin(), a.end(), b.begin()); });
}

void squeeze(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  std::vector<int64_t> axes = axes_input_or_attr(n, opset, 13, in, 1);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  for (auto& a : axes) a = norm_axis(n, a, rank);
  Shape s;
  for (int64_t k = 0; k < rank; ++k) {
    const bool listed = std::find(axes.begin(), axes.end(), k) != axes.end();
    if ((axes.empty() && x.shape[k] == 1) || listed) {
      if (x.shape[k] != 1) throw ModelError(n.where() + ": Squeeze of a dimension that is not 1");
      continue;
    }
    s.push_back(x.shape[k]);
  }
  with_storage(x, *out[0], s, [](const auto& a, auto& b) { std::copy(a.begin(), a.end(), b.begin()); });
}

void shape(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Tensor& x = need(n, in, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t start = n.attr_i("start", 0), end = n.attr_i("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  std::vector<int64_t> v(x.shape.begin() + start, x.shape.begin() + end);
  *out[0] = Tensor::from_i64({static_cast<int64_t>(v.size())}, v);
}

void constant_of_shape(const Node& n, int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
  const Shape s = need(n, in, 0).as_i64();
  Tensor value = n.has("value") ? n.attr_t("value") : Tensor::from_f32({1}, {0.0f});
  Tensor& y = *out[0];
  prepare_like(y, s, value.dtype);
  if (value.is_f32()) std::fill(y.f.begin(), y.f.end(), value.f.at(0));
  else std::fill(y.i.begin(), y.i.end(), value.i.at(0));
}

}  // namespace dfmpc::ops
