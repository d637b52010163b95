// Connects the quantize pipeline to the data-free statistics repair (quant/stats): repairs
// the BN statistics (or, in BN-folded graphs, conv bias and per-channel scale) of every
// quantized layer, keeping the weights on their grids.
#pragma once
#include <string>

#include "quant/pipeline.h"

namespace dfmpc {

// mode: mean | additive | ratio (see docs/stats-repair.md). Throws std::invalid_argument on
// an unknown mode.
void repair_bn_statistics(const Graph& fp, QuantizedModel& m, const std::string& mode);

}  // namespace dfmpc
