// ONNX import: protobuf parse, conversion, validation, constant folding, then shape inference
// at batch 1 (what `dfmpc inspect` does before printing anything).
#include <string>

#include "data/dataset.h"
#include "fuzz_util.h"
#include "onnx/onnx_io.h"
#include "runtime/shape_inference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool limited = (dfmpc::fuzz::limit_tensor_sizes(), true);
  (void)limited;
  try {
    const dfmpc::Graph g = dfmpc::import_onnx_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx");
    dfmpc::infer_shapes(g, 1);
  } catch (const dfmpc::ModelError&) {
  }
  return 0;
}
