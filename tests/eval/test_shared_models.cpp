// The shared third-party CIFAR-10 ResNets: logits of the first 256 test images must match
// PyTorch's within 1e-3, in BN-kept and BN-folded form.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/evaluate.h"
#include "onnx/onnx_io.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

const Normalization kImageNetNorm{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

class SharedModel : public ::testing::TestWithParam<std::string> {};

TEST_P(SharedModel, LogitsOfFirst256ImagesMatchPyTorch) {
  DFMPC_REQUIRE_SHARED();
  const auto shared = test::shared_dir();
  const std::string model = GetParam();
  const std::string family = model.substr(0, model.find("_cifar10")) + "_cifar10";
  const Dataset d = load_cifar10((shared / "data" / "cifar10-test-jpeg.bin").string(), 256);
  const Graph g = import_onnx((shared / "models" / (model + ".onnx")).string());
  const auto expected = test::read_f32(shared / "reference" / (family + ".logits256.f32"));
  EvalOptions opt;
  opt.norm = kImageNetNorm;
  opt.batch = 64;
  const auto logits = infer_logits(g, d, 256, opt);
  ASSERT_EQ(logits.size(), expected.size());
  float max_diff = 0;
  for (size_t k = 0; k < logits.size(); ++k) max_diff = std::max(max_diff, std::abs(logits[k] - expected[k]));
  EXPECT_LE(max_diff, 1e-3f);
  RecordProperty("max_abs_diff", std::to_string(max_diff));
}

INSTANTIATE_TEST_SUITE_P(Shared, SharedModel,
                         ::testing::Values("resnet20_cifar10_bn", "resnet20_cifar10_folded",
                                           "resnet56_cifar10_bn", "resnet56_cifar10_folded"));

}  // namespace
}  // namespace dfmpc
