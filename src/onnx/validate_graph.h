// Checks of an imported graph, so that malformed models fail with one line naming the node or
// tensor instead of reaching a kernel that trusts them. Run by import_onnx() in two steps:
// validate_structure() before constant folding (which executes ops on the model's constants),
// validate_values() after it (when weights and BN statistics computed by subgraphs exist).
#pragma once
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// Operators known with their input / output counts, attribute types and values (Transpose
// perm a permutation, kernel / stride / dilation positive, pads non-negative, Cast target
// supported ...), value names defined once, and the element type (float / int64) of every
// value: float-only operators (Conv, Gemm, BatchNormalization, pooling ...) must not get an
// int64 tensor. `what` names the model in graph-level messages.
void validate_structure(const Graph& g, const std::string& what);

// Conv / Gemm weights are FP32 initializers of the right rank, BatchNormalization parameters
// are FP32 initializers of one size, and none of them holds NaN or Inf; BN variances are
// non-negative; constant Reshape targets are well-formed. An empty FP32 initializer of shape
// [0] is a packed model's placeholder for a quantized weight (see export/packed_model.h):
// its shape is checked by the packed reader.
void validate_values(const Graph& g, const std::string& what);

}  // namespace dfmpc
