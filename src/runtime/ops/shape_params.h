// Resolved parameters of Slice and Pad (attributes before opset 10/11, inputs after), shared
// by the reference ops and the blocked-layout kernels of the fast path.
#pragma once
#include <span>
#include <vector>

#include "ir/graph.h"

namespace dfmpc::ops {

struct SliceParams {
  Shape out;                         // output shape
  std::vector<int64_t> begin, step;  // per axis of the input (0 / 1 where not sliced)
};
SliceParams slice_params(const Node& n, int64_t opset, std::span<const Tensor* const> in);

struct PadParams {
  Shape out;
  std::vector<int64_t> pads;  // [begin_0 .. begin_r-1, end_0 .. end_r-1], may be negative
  float value = 0.0f;
};
PadParams pad_params(const Node& n, int64_t opset, std::span<const Tensor* const> in);

}  // namespace dfmpc::ops
