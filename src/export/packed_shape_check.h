// A packed file's tensor records carry their own shapes; the skeleton graph only has empty
// placeholders. This checks the two agree: the graph, with every placeholder given its
// record's shape, must pass shape inference (conv kernels against their inputs, Gemm weights
// against the features, ...).
#pragma once
#include <string>

#include "ir/graph.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

// Throws ModelError "<what>: ..." naming the node whose weight does not fit.
void check_packed_shapes(const Graph& skeleton, const PackedWeights& weights, const std::string& what);

}  // namespace dfmpc
