// Loads a model from .onnx (or, once packed models exist, a packed file) for any command.
#pragma once
#include <string>

#include "ir/graph.h"

namespace dfmpc::cli {

Graph load_model(const std::string& path);

}  // namespace dfmpc::cli
