// Graph-editing helpers shared by the passes and the statistics repair.
#pragma once
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// A name used by no initializer, node, node value or graph input/output: `base`, or
// `base_1`, `base_2`, ...
std::string fresh_name(const Graph& g, const std::string& base);

// Input `k` of node `n` as a constant only this node reads, cloned under a fresh name first
// if other nodes share it, so it can be edited in place. When the input is absent and
// `create_zeros` > 0, a zero vector of that length is created (ONNX bias).
Tensor& own_constant(Graph& g, int n, size_t k, int64_t create_zeros = 0);

}  // namespace dfmpc
