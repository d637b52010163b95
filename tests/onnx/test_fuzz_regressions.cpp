// Every input the ONNX-import fuzzer (fuzz/fuzz_onnx_import.cpp) ever crashed on, kept in
// tests/fixtures/fuzz/onnx_import/: import + shape inference must end in success or a
// one-line ModelError (docs/reliability.md lists each finding and its fix).
#include <gtest/gtest.h>

#include <filesystem>

#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "runtime/shape_inference.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

TEST(FuzzRegressions, OnnxImportFindingsFailCleanly) {
  const auto dir = test::fixtures_dir() / "fuzz" / "onnx_import";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    try {
      const Graph g = import_onnx_bytes(read_file(e.path().string()), e.path().filename().string());
      infer_shapes(g, 1);
    } catch (const ModelError& err) {
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos) << e.path();
    }
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace dfmpc
