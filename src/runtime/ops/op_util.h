// Small helpers shared by the reference operators.
#pragma once
#include <span>

#include "ir/graph.h"

namespace dfmpc {

inline void prepare_f32(Tensor& t, const Shape& s) {
  t.dtype = DType::f32;
  t.shape = s;
  t.f.resize(static_cast<size_t>(shape_numel(s)));
}

inline void prepare_like(Tensor& t, const Shape& s, DType d, IntType it = IntType::i64) {
  t.dtype = d;
  t.itype = it;
  t.shape = s;
  if (d == DType::f32) t.f.resize(static_cast<size_t>(shape_numel(s)));
  else t.i.resize(static_cast<size_t>(shape_numel(s)));
}

inline const Tensor& need(const Node& n, std::span<const Tensor* const> in, size_t k) {
  if (k >= in.size() || !in[k])
    throw ModelError(n.where() + " lacks required input #" + std::to_string(k));
  return *in[k];
}

inline int64_t norm_axis(const Node& n, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    throw ModelError(n.where() + ": axis " + std::to_string(axis) + " out of range for rank " +
                     std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

inline void require_rank(const Node& n, const Tensor& t, size_t rank, const char* what) {
  if (t.shape.size() != rank)
    throw ModelError(n.where() + ": " + what + " must have rank " + std::to_string(rank) +
                     ", got shape " + shape_str(t.shape));
}

// Strides of a row-major shape.
inline std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int k = static_cast<int>(s.size()) - 2; k >= 0; --k) st[k] = st[k + 1] * s[k + 1];
  return st;
}

}  // namespace dfmpc
