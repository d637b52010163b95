// Explicit input padding for convolution geometries oneDNN mishandles.
//
// oneDNN 2.x's brgemm convolution (chosen on AVX-512 CPUs) crashes when an output row or
// column has no kernel tap inside the input, i.e. its whole window lies in the padding
// (e.g. pad 2 > kernel extent 1): the empty tap range selects a post-work kernel that was
// never generated (oneDNN issue #5942, fixed upstream in 3.x). Such geometries are given to
// oneDNN with the padding materialised as zeros in a copy of the input and no implicit
// padding, so every output sees at least one real tap on every ISA.
#pragma once
#include <cstdint>

#include "runtime/kernels/conv.h"

namespace dfmpc {

// True when some output row or column of g takes no tap from inside the input.
bool has_padding_only_outputs(const ConvGeom& g);

// g with its padding moved into the input: h and w grow by the pads, the pads become 0.
ConvGeom explicitly_padded(const ConvGeom& g);

// Copies x, laid out [n, blocks, g.h, g.w, vec] (vec = 1: NCHW, vec = 8: nChw8c), into
// xp laid out [n, blocks, g.h + pad_t + pad_b, g.w + pad_l + pad_r, vec], zeros around it.
void pad_input(const ConvGeom& g, int64_t n, int64_t blocks, int64_t vec, const float* x,
               float* xp);

}  // namespace dfmpc
