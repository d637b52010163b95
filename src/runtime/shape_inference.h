// Shapes of every value of a graph for a given batch size.
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// The output shapes of Conv, BatchNormalization, Relu, Clip, Add / Sub / Mul / Div, pooling,
// Identity and Dropout follow from their input shapes, and activation values (of an all-zero
// input) never matter for shapes downstream; the other ops run on their reference kernels on
// zero tensors, so shape arithmetic computed at run time is exact.
std::map<std::string, Shape> infer_shapes(const Graph& g, int64_t batch = 1);

// The slow, obviously correct version: every op run on zeros. Tests compare the two.
std::map<std::string, Shape> infer_shapes_reference(const Graph& g, int64_t batch = 1);

}  // namespace dfmpc
