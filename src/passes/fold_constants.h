// Import-time pass: turns Constant nodes into initializers and evaluates every node whose
// inputs are all constant (the shape arithmetic exporters emit), so later stages see only
// the real computation. Also checks that every remaining op is supported.
#pragma once
#include "ir/graph.h"

namespace dfmpc {

void fold_constants(Graph& g);

}  // namespace dfmpc
