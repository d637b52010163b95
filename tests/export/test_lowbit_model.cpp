// Low-bit execution of packed models: read_packed_model_codes keeps the codes of exactly the
// tensors read_packed_model dequantizes (bit-identical values), and an Executor running the
// convolutions from those codes gives the FP32 path's outputs while holding fewer weight bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "export/packed_model.h"
#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

TEST(LowBitModel, PackedCodesRunLikeTheDequantizedModel) {
  for (const char* model : {"resnet_cifar_optionA_bn", "resnet_cifar_optionA_folded", "densenet_small_bn", "vgg_small_folded"}) {
    for (int low : {2, 3}) {
      QuantizeConfig cfg;
      cfg.low_bits = low;
      cfg.high_bits = 6;
      const QuantizedModel q = quantize_model(import_onnx((test::fixtures_dir() / (std::string(model) + ".onnx")).string()), cfg);
      const auto dir = test::temp_dir("lowbit");
      const std::string path = (dir / "q.dfmpc").string();
      write_packed_model(q, path);
      const PackedModel fp = read_packed_model(path);
      const LowBitModel lb = read_packed_model_codes(path);
      ASSERT_EQ(lb.weights->size(), fp.weights.size()) << model;
      for (const auto& [name, pw] : *lb.weights) {
        EXPECT_EQ(lb.graph.constant(name).numel(), 0) << model << " " << name;
        EXPECT_EQ(dequantize_packed(pw), fp.graph.constant(name).f) << model << " " << name;
      }

      const std::string ref = std::string(model).substr(0, std::string(model).rfind('_'));
      const auto x = test::read_f32(test::fixtures_dir() / (ref + ".input.f32"));
      Executor fp_ex(fp.graph);
      Executor lb_ex(lb.graph, ExecOptions{false, 0, lb.weights});
      const std::vector<float> want = fp_ex.run(x.data(), 4).f, got = lb_ex.run(x.data(), 4).f;
      ASSERT_EQ(got.size(), want.size()) << model;
      double scale = 1e-3;
      for (float v : want) scale = std::max(scale, double(std::fabs(v)));
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 1e-4 * scale) << model << " " << low << "/6 output " << i;
      EXPECT_GT(lb_ex.packed_conv_count(), 0) << model;
      EXPECT_LT(lb_ex.weight_bytes(), fp_ex.weight_bytes()) << model;

      // The reference mode dequantizes every packed weight and agrees too.
      Executor ref_ex(lb.graph, ExecOptions{true, 0, lb.weights});
      const std::vector<float> slow = ref_ex.run(x.data(), 4).f;
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(slow[i], want[i], 1e-4 * scale) << model;
      EXPECT_EQ(ref_ex.packed_conv_count(), 0);
      std::filesystem::remove_all(dir);
    }
  }
}

// The shared ResNet-20 at MP2/6: logits of 200 CIFAR-10 test images, low-bit vs FP32 path.
TEST(LowBitModel, SharedResNet20LogitsMatchTheFp32Path) {
  DFMPC_REQUIRE_SHARED();
  QuantizeConfig cfg;
  cfg.low_bits = 2;
  cfg.high_bits = 6;
  const QuantizedModel q = quantize_model(import_onnx((test::shared_dir() / "models" / "resnet20_cifar10_bn.onnx").string()), cfg);
  const auto dir = test::temp_dir("lowbit");
  const std::string path = (dir / "q.dfmpc").string();
  write_packed_model(q, path);
  const Dataset data = load_cifar10((test::shared_dir() / "data" / "cifar10-test-jpeg.bin").string(), 200);
  EvalOptions opt;
  opt.batch = 50;
  opt.norm = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  const std::vector<float> want = infer_logits(read_packed_model(path).graph, data, 200, opt);
  const LowBitModel lb = read_packed_model_codes(path);
  opt.packed_weights = lb.weights;
  const std::vector<float> got = infer_logits(lb.graph, data, 200, opt);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < want.size(); i += 10) {  // per image: relative to its largest logit
    double top = 1e-6, diff = 0;
    for (size_t c = i; c < i + 10; ++c) top = std::max(top, double(std::fabs(want[c]))), diff = std::max(diff, double(std::fabs(got[c] - want[c])));
    worst = std::max(worst, diff / top);
  }
  EXPECT_LT(worst, 1e-4);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dfmpc
