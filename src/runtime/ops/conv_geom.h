// Conv / pooling geometry from ONNX attributes, shared by the reference ops and the
// fast executor.
#pragma once
#include "ir/graph.h"
#include "runtime/kernels/conv.h"

namespace dfmpc {

// x: [N, C, H, W], w: [O, C/group, kh, kw].
ConvGeom conv_geom(const Node& n, const Shape& x, const Shape& w);

struct PoolGeom {
  int64_t c = 0, h = 0, w = 0, kh = 1, kw = 1, sh = 1, sw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0, dh = 1, dw = 1;
  int64_t oh = 0, ow = 0;
};
PoolGeom pool_geom(const Node& n, const Shape& x);

}  // namespace dfmpc
