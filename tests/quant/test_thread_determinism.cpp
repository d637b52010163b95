// Quantization spreads layers (and the statistics repair its rows) over the thread pool: the
// result must be bit-identical for every thread count, for every method and statistics mode.
#include <gtest/gtest.h>

#include <optional>

#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "runtime/kernels/conv.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

QuantizedModel quantize_with_threads(const Graph& g, const QuantizeConfig& cfg, int threads) {
  set_num_threads(threads);
  QuantizedModel m = quantize_model(g, cfg);
  set_num_threads(0);
  return m;
}

void expect_identical(const QuantizedModel& a, const QuantizedModel& b, const std::string& what) {
  EXPECT_EQ(export_onnx_bytes(a.graph), export_onnx_bytes(b.graph)) << what;
  ASSERT_EQ(a.weights.size(), b.weights.size()) << what;
  for (const auto& [name, t] : a.weights) {
    const QuantizedTensor& u = b.weights.at(name);
    EXPECT_TRUE(t.q == u.q && t.scale == u.scale && t.zero == u.zero && t.bits == u.bits) << what << " " << name;
  }
}

QuantizeConfig config(Method m, int low, int high, std::optional<StatsRepair> stats = {}) {
  QuantizeConfig c;
  c.method = m;
  c.low_bits = low;
  c.high_bits = high;
  c.stats = stats;
  return c;
}

TEST(QuantizeThreads, EveryMethodAndStatisticsModeIsThreadIndependent) {
  std::vector<std::pair<std::string, QuantizeConfig>> configs = {
      {"dfmpc 2/6 default", config(Method::dfmpc, 2, 6)},
      {"dfmpc 3/6 joint+mmse", config(Method::dfmpc, 3, 6, StatsRepair::joint_mmse)},
      {"dfmpc 2/6 mean", config(Method::dfmpc, 2, 6, StatsRepair::mean)},
      {"dfmpc 4/6 eq27", config(Method::dfmpc, 4, 6)},
      {"dfq 4", config(Method::dfq, 4, 4)},
      {"omse 4", config(Method::omse, 4, 4)},
      {"squant 3", config(Method::squant, 3, 3)},
  };
  configs[3].second.compensate = true;
  for (const char* model : {"resnet_cifar_optionA_bn", "resnet18_small_folded", "mobilenetv2_small_bn"}) {
    const Graph g = import_onnx((test::fixtures_dir() / (std::string(model) + ".onnx")).string());
    for (const auto& [name, cfg] : configs) {
      const QuantizedModel one = quantize_with_threads(g, cfg, 1);
      for (int threads : {2, 4}) expect_identical(one, quantize_with_threads(g, cfg, threads), std::string(model) + " " + name);
    }
  }
}

}  // namespace
}  // namespace dfmpc
