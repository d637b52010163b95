#include "cli/model_loader.h"

#include "onnx/onnx_io.h"

namespace dfmpc::cli {

Graph load_model(const std::string& path) { return import_onnx(path); }

}  // namespace dfmpc::cli
