// upgrade_onnx IN.onnx OUT.onnx: the model rewritten at opset 21 by dfmpc's upgrade_opset()
// (weights unchanged), for bench/ort/check_upgrade.sh to compare with ONNX Runtime.
#include <cstdio>
#include <exception>

#include "onnx/onnx_io.h"
#include "onnx/opset_upgrade.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: upgrade_onnx IN.onnx OUT.onnx\n");
    return 2;
  }
  try {
    dfmpc::Graph g = dfmpc::import_onnx(argv[1]);
    dfmpc::upgrade_opset(g);
    dfmpc::export_onnx(g, argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "upgrade_onnx: %s\n", e.what());
    return 1;
  }
  return 0;
}
