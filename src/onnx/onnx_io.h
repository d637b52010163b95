// ONNX <-> IR. The only code in dfmpc that sees protobuf.
#pragma once
#include <map>
#include <string>

#include "ir/graph.h"
#include "onnx/int_tensor.h"

namespace dfmpc {

// Reads an ONNX file (opsets 7-21 of the default domain, QDQ models
// included: constant DequantizeLinear of integer initializers folds to FP32), converts it to the IR and folds
// the constant subgraphs exporters write (Constant, Shape arithmetic, ...). Throws
// ModelError with a one-line message naming the file, or the node, on anything unsupported.
Graph import_onnx(const std::string& path);
Graph import_onnx_bytes(const std::string& bytes, const std::string& what);

// Writes the IR as an ONNX model at g.opset, atomically: a temporary file is renamed into
// place only when complete. Each weight named in `int_weights` is written as an integer
// initializer `<name>_quantized` (+ `<name>_scale`, and `<name>_zero_point` unless all
// zero points are 0) feeding a
// DequantizeLinear whose output keeps the weight's name; 4- and 16-bit ones need g.opset 21
// (upgrade_opset()), which is then written with IR version 10.
void export_onnx(const Graph& g, const std::string& path, const std::map<std::string, QdqWeight>& int_weights = {});
std::string export_onnx_bytes(const Graph& g, const std::map<std::string, QdqWeight>& int_weights = {});

}  // namespace dfmpc
