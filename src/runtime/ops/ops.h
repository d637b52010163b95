// Reference implementations of every supported operator (see op_registry.cpp).
#pragma once
#include <span>
#include <utility>

#include "ir/graph.h"

namespace dfmpc::ops {

#define DFMPC_OP(fn) \
  void fn(const Node& n, int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out)
DFMPC_OP(add);
DFMPC_OP(sub);
DFMPC_OP(mul);
DFMPC_OP(div);
DFMPC_OP(relu);
DFMPC_OP(clip);
DFMPC_OP(identity);
DFMPC_OP(dropout);
DFMPC_OP(cast);
DFMPC_OP(softmax);
DFMPC_OP(reshape);
DFMPC_OP(flatten);
DFMPC_OP(concat);
DFMPC_OP(transpose);
DFMPC_OP(slice);
DFMPC_OP(pad);
DFMPC_OP(gather);
DFMPC_OP(unsqueeze);
DFMPC_OP(squeeze);
DFMPC_OP(shape);
DFMPC_OP(constant_of_shape);
DFMPC_OP(conv);
DFMPC_OP(batch_norm);
DFMPC_OP(max_pool);
DFMPC_OP(average_pool);
DFMPC_OP(global_average_pool);
DFMPC_OP(gemm);
DFMPC_OP(matmul);
DFMPC_OP(quantize_linear);
DFMPC_OP(dequantize_linear);
#undef DFMPC_OP

// Clip's bounds (attributes before opset 11, inputs after).
std::pair<float, float> clip_bounds(const Node& n, int64_t opset, std::span<const Tensor* const> in);

}  // namespace dfmpc::ops
