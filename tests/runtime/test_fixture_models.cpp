// Every fixture CNN layout (VGG, MobileNetV2, DenseNet, ResNet-18/50, CIFAR option-A ResNet),
// in BN-kept and BN-folded form and at several opsets, must reproduce PyTorch's output on
// both the fast path and the reference path.
#include <gtest/gtest.h>

#include <cmath>

#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

struct Case {
  std::string reference;  // fixture name holding input / output
  std::string model;      // onnx file stem
};

std::vector<Case> cases() {
  std::vector<Case> c;
  for (std::string m : {"vgg_small", "mobilenetv2_small", "densenet_small", "resnet18_small",
                        "resnet50_small", "resnet_cifar_optionA"}) {
    c.push_back({m, m + "_bn"});
    c.push_back({m, m + "_folded"});
  }
  for (std::string m : {"resnet18_small", "mobilenetv2_small"}) {
    c.push_back({m, m + "_bn_op11"});
    c.push_back({m, m + "_bn_op17"});
  }
  return c;
}

class FixtureModel : public ::testing::TestWithParam<Case> {};

TEST_P(FixtureModel, MatchesPyTorchOnFastAndReferencePaths) {
  const auto dir = test::fixtures_dir();
  const Case c = GetParam();
  const Graph g = import_onnx((dir / (c.model + ".onnx")).string());
  const auto input = test::read_f32(dir / (c.reference + ".input.f32"));
  const auto expected = test::read_f32(dir / (c.reference + ".output.f32"));
  const int64_t n = 4;
  for (bool reference : {false, true}) {
    Executor ex(g, ExecOptions{reference, 0});
    ASSERT_EQ(static_cast<int64_t>(input.size()), n * shape_numel(Shape(ex.input_shape().begin() + 1, ex.input_shape().end())));
    const Tensor& out = ex.run(input.data(), n);
    ASSERT_EQ(out.f.size(), expected.size());
    float max_diff = 0, max_abs = 0;
    for (size_t k = 0; k < expected.size(); ++k) {
      max_diff = std::max(max_diff, std::abs(out.f[k] - expected[k]));
      max_abs = std::max(max_abs, std::abs(expected[k]));
    }
    EXPECT_LE(max_diff, 1e-4f * std::max(1.0f, max_abs)) << c.model << (reference ? " reference" : " fast");
    // A second run on the same executor (buffers reused) gives the same answer.
    const std::vector<float> first = out.f;
    EXPECT_EQ(ex.run(input.data(), n).f, first);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, FixtureModel, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.model; });

TEST(Executor, BatchSizeDoesNotChangeResults) {
  const auto dir = test::fixtures_dir();
  const Graph g = import_onnx((dir / "resnet18_small_bn.onnx").string());
  const auto input = test::read_f32(dir / "resnet18_small.input.f32");
  Executor ex(g);
  const std::vector<float> all = ex.run(input.data(), 4).f;
  const size_t per_image = input.size() / 4, classes = all.size() / 4;
  for (int i = 0; i < 4; ++i) {
    const Tensor& one = ex.run(input.data() + i * per_image, 1);
    for (size_t c = 0; c < classes; ++c) EXPECT_NEAR(one.f[c], all[i * classes + c], 1e-5);
  }
}

}  // namespace
}  // namespace dfmpc
