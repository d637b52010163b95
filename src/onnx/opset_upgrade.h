// Rewrites a graph's nodes into the form a newer opset of the default domain defines, so a
// model imported at opset 7-18 can be written at opset 21 (what INT4 / UINT4 / INT16
// DequantizeLinear needs). The IR keeps each op as its file wrote it (e.g. ReduceMean axes as
// an attribute before 18); this pass is where the forms change.
#pragma once
#include <cstdint>

#include "ir/graph.h"

namespace dfmpc {

constexpr int64_t kQdqOpset = 21;

// Converts every node whose signature changed between g.opset and `target` (attributes that
// became inputs: Reduce* axes, Split split, Squeeze / Unsqueeze axes, Pad pads, Slice
// starts / ends, Clip min / max; Softmax's 2-D coercion before 13; Upsample and Resize-10 to
// Resize-11+; Dropout and BatchNormalization's removed attributes) and sets g.opset = target.
// Throws ModelError naming the node for an op it does not know to be unchanged up to
// `target` and cannot convert. Only target == 21 is supported.
void upgrade_opset(Graph& g, int64_t target = kQdqOpset);

}  // namespace dfmpc
