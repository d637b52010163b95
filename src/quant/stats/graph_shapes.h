// Shapes of every value of a graph, for the statistics repair.
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// What infer_shapes() (runtime/shape_inference.h) returns, without computing convolutions:
// a Conv's output shape follows from its geometry, and its values (of an all-zero input)
// never matter for shapes downstream. The other ops run on their reference kernels as in
// infer_shapes, so shape arithmetic and every op's validation are the same.
std::map<std::string, Shape> graph_shapes(const Graph& g, int64_t batch);

}  // namespace dfmpc
