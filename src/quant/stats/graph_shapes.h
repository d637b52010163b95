// Shapes of every value of a graph, for the statistics repair.
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// What infer_shapes() (runtime/shape_inference.h) returns, without computing the bulk of the
// model: the output shapes of Conv, BatchNormalization, Relu, Clip, Add / Sub / Mul / Div,
// pooling, Identity and Dropout follow from their input shapes, and activation values (of an
// all-zero input) never matter for shapes downstream. The other ops run on their reference
// kernels as in infer_shapes (on zero tensors), so shape arithmetic is the same.
std::map<std::string, Shape> graph_shapes(const Graph& g, int64_t batch);

}  // namespace dfmpc
