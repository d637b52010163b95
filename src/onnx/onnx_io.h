// ONNX <-> IR. The only code in dfmpc that sees protobuf.
#pragma once
#include <string>

#include "ir/graph.h"

namespace dfmpc {

// Reads an ONNX file (opsets 7-21 of the default domain, QDQ models
// included: constant DequantizeLinear of integer initializers folds to FP32), converts it to the IR and folds
// the constant subgraphs exporters write (Constant, Shape arithmetic, ...). Throws
// ModelError with a one-line message naming the file, or the node, on anything unsupported.
Graph import_onnx(const std::string& path);
Graph import_onnx_bytes(const std::string& bytes, const std::string& what);

// Writes the IR as an ONNX model (opset 13), atomically: a temporary file is renamed
// into place only when complete.
void export_onnx(const Graph& g, const std::string& path);
std::string export_onnx_bytes(const Graph& g);

}  // namespace dfmpc
