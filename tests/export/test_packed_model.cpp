// Quantized models survive export: ONNX and packed round trips are bit-identical, the packed
// file is within 2% of the theoretical size, and damaged packed files are rejected.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "export/packed_model.h"
#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

QuantizedModel quantized(const std::string& model, const std::string& bits = "2/6") {
  QuantizeConfig cfg;
  cfg.low_bits = bits[0] - '0';
  cfg.high_bits = bits[2] - '0';
  return quantize_model(import_onnx((test::fixtures_dir() / (model + ".onnx")).string()), cfg);
}

std::vector<float> outputs(const Graph& g, const std::string& ref) {
  const auto x = test::read_f32(test::fixtures_dir() / (ref + ".input.f32"));
  Executor ex(g);
  return ex.run(x.data(), 4).f;
}

TEST(Export, OnnxAndPackedRoundTripsAreBitIdentical) {
  for (const char* model : {"resnet_cifar_optionA_bn", "resnet_cifar_optionA_folded", "densenet_small_bn", "vgg_small_folded"}) {
    const QuantizedModel m = quantized(model);
    const auto dir = test::temp_dir("packed");
    export_onnx(m.graph, (dir / "q.onnx").string());
    write_packed_model(m, (dir / "q.dfmpc").string());
    const Graph from_onnx = import_onnx((dir / "q.onnx").string());
    const PackedModel from_packed = read_packed_model((dir / "q.dfmpc").string());
    for (const auto& [name, qt] : m.weights) {
      EXPECT_EQ(from_onnx.constant(name).f, m.graph.constant(name).f) << model << " " << name;
      // Packed value names are shortened; compare the codes and the dequantized weights by content.
      bool found = false;
      for (const auto& [pname, pqt] : from_packed.weights)
        if (pqt.q == qt.q && pqt.scale == qt.scale && pqt.zero == qt.zero && pqt.shape == qt.shape) found = true;
      EXPECT_TRUE(found) << model << " " << name;
    }
    const std::string ref = std::string(model).substr(0, std::string(model).rfind('_'));
    const auto a = outputs(m.graph, ref), b = outputs(from_onnx, ref), c = outputs(from_packed.graph, ref);
    EXPECT_EQ(a, b) << model;
    EXPECT_EQ(a, c) << model;
    std::filesystem::remove_all(dir);
  }
}

TEST(Export, PackedFileIsWithinTwoPercentOfTheTheoreticalSize) {
  DFMPC_REQUIRE_SHARED();
  for (const char* model : {"resnet20_cifar10_bn", "resnet56_cifar10_folded"}) {
    for (const char* bits : {"2/6", "3/6", "6/6"}) {
      QuantizeConfig cfg;
      cfg.low_bits = bits[0] - '0';
      cfg.high_bits = bits[2] - '0';
      const QuantizedModel m = quantize_model(import_onnx((test::shared_dir() / "models" / (std::string(model) + ".onnx")).string()), cfg);
      const auto dir = test::temp_dir("packed");
      const int64_t bytes = write_packed_model(m, (dir / "q.dfmpc").string());
      EXPECT_EQ(bytes, static_cast<int64_t>(std::filesystem::file_size(dir / "q.dfmpc")));
      const double ratio = static_cast<double>(bytes) / static_cast<double>(m.report.quantized_bytes);
      EXPECT_LT(ratio, 1.02) << model << " " << bits << ": " << bytes << " vs " << m.report.quantized_bytes;
      std::filesystem::remove_all(dir);
    }
  }
}

TEST(Export, DamagedPackedFilesAreRejected) {
  const QuantizedModel m = quantized("vgg_small_bn");
  const auto dir = test::temp_dir("packed");
  const std::string path = (dir / "q.dfmpc").string();
  write_packed_model(m, path);
  const std::string good = read_file(path);
  for (size_t cut : {size_t{4}, size_t{20}, good.size() / 2, good.size() - 1}) {
    write_file_atomic(path, good.substr(0, cut));
    EXPECT_THROW(read_packed_model(path), ModelError) << cut;
  }
  write_file_atomic(path, good + "junk");
  EXPECT_THROW(read_packed_model(path), ModelError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dfmpc
