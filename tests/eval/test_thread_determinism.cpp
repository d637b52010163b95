// The same model on the same images gives bit-identical logits whatever the thread count:
// work is split differently, but no sum may be reordered by the split.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

constexpr int kThreadCounts[] = {1, 2, 4};

// Random images shaped for the model's input (fixture models come without a dataset).
Dataset random_images(const Graph& g, int64_t count) {
  const Shape in = Executor(g).input_shape();
  Dataset d;
  d.count = count;
  d.channels = in.at(1), d.height = in.at(2), d.width = in.at(3);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pixel(0, 255);
  d.pixels.resize(static_cast<size_t>(count * d.image_size()));
  for (auto& p : d.pixels) p = static_cast<uint8_t>(pixel(rng));
  d.labels.assign(static_cast<size_t>(count), 0);
  return d;
}

void expect_same_logits_for_every_thread_count(const Graph& g, const Dataset& d, EvalOptions opt, const std::string& what) {
  opt.threads = 1;
  const std::vector<float> one = infer_logits(g, d, d.count, opt);
  ASSERT_FALSE(one.empty()) << what;
  for (int threads : kThreadCounts) {
    opt.threads = threads;
    EXPECT_EQ(infer_logits(g, d, d.count, opt), one) << what << " with " << threads << " threads";
  }
}

TEST(ThreadDeterminism, FixtureModelsGiveIdenticalLogits) {
  for (const char* m : {"vgg_small_bn", "mobilenetv2_small_folded", "densenet_small_bn", "resnet18_small_folded",
                        "resnet50_small_bn", "resnet_cifar_optionA_bn"}) {
    const Graph g = import_onnx((test::fixtures_dir() / (std::string(m) + ".onnx")).string());
    EvalOptions opt;
    opt.batch = 24;  // several images per batch, and a short last batch
    expect_same_logits_for_every_thread_count(g, random_images(g, 40), opt, m);
  }
}

TEST(ThreadDeterminism, DemoModelOnFashionMnist) {
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(fm + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const Graph g = import_onnx((test::source_dir() / "models/fmnist_resnet14.onnx").string());
  const Dataset d = load_idx(fm + "t10k-images-idx3-ubyte.gz", fm + "t10k-labels-idx1-ubyte.gz", 300);
  EvalOptions opt;
  opt.norm = Normalization{{0.2860f}, {0.3530f}};
  expect_same_logits_for_every_thread_count(g, d, opt, "fmnist_resnet14");
}

TEST(ThreadDeterminism, SharedResNet20OnCifar10) {
  DFMPC_REQUIRE_SHARED();
  const auto s = test::shared_dir();
  const Dataset d = load_cifar10((s / "data/cifar10-test-jpeg.bin").string(), 200);
  EvalOptions opt;
  opt.norm = Normalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  for (const char* m : {"resnet20_cifar10_bn", "resnet20_cifar10_folded"})
    expect_same_logits_for_every_thread_count(import_onnx((s / "models" / (std::string(m) + ".onnx")).string()), d, opt, m);
}

}  // namespace
}  // namespace dfmpc
