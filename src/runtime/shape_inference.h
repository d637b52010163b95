// Shapes of every value for a given batch size, found by running the reference ops once on
// zeros (exact for every supported op, including shape arithmetic computed at run time).
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"

namespace dfmpc {

std::map<std::string, Shape> infer_shapes(const Graph& g, int64_t batch = 1);

}  // namespace dfmpc
