// For `dfmpc quantize` on QDQ models: dfmpc quantizes weights (constant DequantizeLinear of
// initializers already folded to FP32 at import) and propagates FP32 activation statistics,
// so the QuantizeLinear -> DequantizeLinear pairs on activations are removed (the layers
// read the FP32 value again; a pair producing a graph output becomes an Identity).
#pragma once
#include "ir/graph.h"

namespace dfmpc {

// Returns the number of pairs replaced.
int strip_activation_qdq(Graph& g);

}  // namespace dfmpc
