#include "cli/model_loader.h"

#include "export/packed_model.h"
#include "onnx/onnx_io.h"

namespace dfmpc::cli {

Graph load_model(const std::string& path) {
  if (is_packed_model_file(path)) return read_packed_model(path).graph;
  return import_onnx(path);
}

}  // namespace dfmpc::cli
