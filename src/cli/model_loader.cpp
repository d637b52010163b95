#include "cli/model_loader.h"

#include "export/packed_model.h"
#include "onnx/onnx_io.h"

namespace dfmpc::cli {

Graph load_model(const std::string& path) {
  if (is_packed_model_file(path)) return read_packed_model(path).graph;
  return import_onnx(path);
}

LowBitModelFile load_model_packed_weights(const std::string& path) {
  if (!is_packed_model_file(path))
    throw ModelError("--packed-weights needs a packed .dfmpc model ('" + path + "' is not one)");
  LowBitModel m = read_packed_model_codes(path);
  return {std::move(m.graph), std::move(m.weights)};
}

}  // namespace dfmpc::cli
