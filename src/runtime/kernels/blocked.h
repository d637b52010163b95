// The fast path's activation layout "nChw8c": [N, ceil(C/8), H, W, 8], channels zero-padded
// to a multiple of 8, so one 8-float vector holds the 8 channels of a pixel. Convolutions
// read and write it directly (no reorder per call); other ops see plain NCHW, converted by
// explicit executor steps where a blocked value meets a plain consumer or the other way round.
//
// A blocked Tensor keeps its logical shape [N, C, H, W] in `shape`; `f` holds the blocked data
// starting at the first 64-byte boundary inside it (hence data()), so only code that knows the
// value is blocked may read it. Padded channels are zero.
#pragma once
#include <cstdint>

#include "ir/graph.h"

namespace dfmpc {
struct PoolGeom;  // runtime/ops/conv_geom.h
}

namespace dfmpc::blk {

constexpr int64_t kBlock = 8;
inline int64_t cblocks(int64_t c) { return (c + kBlock - 1) / kBlock; }
// Floats of blocked data (without the alignment slack) for a logical [N, C, H, W] shape.
int64_t numel(const Shape& s);

// Sets dtype, logical shape and makes room for the blocked data (storage only grows).
void prepare(Tensor& t, const Shape& s);
float* data(Tensor& t);
const float* data(const Tensor& t);

// Layout conversions (parallel over images and channel blocks). `plain` is [N, C, H, W].
void to_blocked(const Tensor& plain, Tensor& blocked);
void to_plain(const Tensor& blocked, Tensor& plain);
void to_blocked(const float* plain, int64_t n, int64_t c, int64_t hw, float* blocked);
void to_plain(const float* blocked, int64_t n, int64_t c, int64_t hw, float* plain);

// Blocked versions of reference ops (same results; y blocked unless stated).
// Slice: begin / step per axis of the 4-D x, output shape `out` (ops::slice_params).
void slice(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& step,
           const Shape& out, Tensor& y);
// Constant Pad: pads [b0..b3, e0..e3] (may be negative: crop), output shape `out`.
void pad(const Tensor& x, const std::vector<int64_t>& pads, float value, const Shape& out, Tensor& y);
// GlobalAveragePool: blocked x to a plain [N, C, 1, 1] y.
void global_average_pool(const Tensor& x, Tensor& y);
// MaxPool (no Indices output) with geometry g (ops::pool_geom for x's shape); padded channels
// of y stay zero. Parallel over images, channel blocks and output rows.
void max_pool(const Tensor& x, const PoolGeom& g, Tensor& y);

}  // namespace dfmpc::blk
