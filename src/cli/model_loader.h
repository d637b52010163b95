// Loads a model from .onnx (or, once packed models exist, a packed file) for any command.
#pragma once
#include <memory>
#include <string>

#include "ir/graph.h"
#include "runtime/packed_weights.h"

namespace dfmpc::cli {

Graph load_model(const std::string& path);

// A packed .dfmpc model with its quantized weights kept as codes (the graph holds empty
// placeholders for them; see ExecOptions::packed_weights). Throws ModelError for other files.
struct LowBitModelFile {
  Graph graph;
  std::shared_ptr<const PackedWeights> packed_weights;
};
LowBitModelFile load_model_packed_weights(const std::string& path);

}  // namespace dfmpc::cli
