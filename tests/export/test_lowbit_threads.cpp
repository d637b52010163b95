// Convolutions run from packed low-bit codes give bit-identical logits whatever the thread
// count (their work split depends on it: conv_lowbit.cpp sizes items by the thread count).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "export/packed_model.h"
#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

TEST(LowBitThreads, PackedCodesGiveIdenticalLogits) {
  for (const char* model : {"resnet_cifar_optionA_bn", "densenet_small_bn", "vgg_small_folded"}) {
    QuantizeConfig cfg;
    cfg.low_bits = 2;
    cfg.high_bits = 6;
    const QuantizedModel q = quantize_model(import_onnx((test::fixtures_dir() / (std::string(model) + ".onnx")).string()), cfg);
    const auto dir = test::temp_dir("lowbit_threads");
    write_packed_model(q, (dir / "q.dfmpc").string());
    const LowBitModel lb = read_packed_model_codes((dir / "q.dfmpc").string());
    std::filesystem::remove_all(dir);

    const Shape in = Executor(q.graph).input_shape();
    Dataset d;
    d.count = 40;
    d.channels = in.at(1), d.height = in.at(2), d.width = in.at(3);
    std::mt19937 rng(11);
    d.pixels.resize(static_cast<size_t>(d.count * d.image_size()));
    for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() & 255);
    d.labels.assign(static_cast<size_t>(d.count), 0);

    EvalOptions opt;
    opt.batch = 24;
    opt.packed_weights = lb.weights;
    opt.threads = 1;
    const std::vector<float> one = infer_logits(lb.graph, d, d.count, opt);
    ASSERT_FALSE(one.empty());
    for (int threads : {2, 4}) {
      opt.threads = threads;
      EXPECT_EQ(infer_logits(lb.graph, d, d.count, opt), one) << model << " with " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace dfmpc
