// The DF-MPC pipeline: pairing on every layout, the closed form of Eq. 27, grid membership,
// and the identity property (w^ = w leaves the model unchanged).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "onnx/onnx_io.h"
#include "passes/pairing.h"
#include "quant/compensation/compensation.h"
#include "quant/pipeline.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

Graph fixture(const std::string& f) { return import_onnx((test::fixtures_dir() / (f + ".onnx")).string()); }

TEST(Pairing, FindsExactlyTheExpectedPairsOnEveryLayout) {
  struct Expect {
    std::string model;
    size_t pairs, edges;
  };
  // basic blocks: conv1 -> conv2 per block; bottleneck: conv1 -> conv2 (conv3 feeds the add);
  // VGG: two pairs split by max-pooling; DenseNet: 1x1 -> 3x3 in every dense layer;
  // MobileNetV2: ReLU6 is not positively homogeneous, so no pair at all.
  for (const Expect& e : {Expect{"resnet_cifar_optionA", 3, 2}, Expect{"resnet18_small", 4, 5},
                          Expect{"resnet50_small", 4, 10}, Expect{"vgg_small", 2, 2},
                          Expect{"densenet_small", 6, 3}, Expect{"mobilenetv2_small", 0, 12}}) {
    for (const char* form : {"_bn", "_folded"}) {
      const Graph g = fixture(e.model + form);
      const PairingPlan p = find_pairs(g);
      EXPECT_EQ(p.pairs.size(), e.pairs) << e.model << form;
      EXPECT_EQ(p.edge_layers.size(), e.edges) << e.model << form;
      for (const auto& pair : p.pairs) {
        EXPECT_EQ(g.nodes[pair.low].op, "Conv");
        EXPECT_EQ(g.nodes[pair.high].op, "Conv");
        EXPECT_EQ(g.nodes[pair.relu].op, "Relu");
        EXPECT_EQ(pair.bn >= 0, std::string(form) == "_bn");
      }
    }
  }
}

TEST(Pairing, ResidualAddAndSharedTensorsBreakPairs) {
  const Graph g = fixture("resnet_cifar_optionA_bn");
  for (const auto& p : find_pairs(g).pairs) {
    // The high layer's output goes to BN -> Add (residual), so it never starts a pair.
    EXPECT_NE(g.nodes[p.low].name.find("conv1"), std::string::npos) << g.nodes[p.low].name;
    EXPECT_NE(g.nodes[p.high].name.find("conv2"), std::string::npos) << g.nodes[p.high].name;
  }
}

TEST(Compensation, ClosedFormMatchesBruteForceMinimum) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 9 + trial % 50;
    std::vector<float> w(n), wh(n);
    for (int k = 0; k < n; ++k) {
      w[k] = nd(rng);
      wh[k] = w[k] + 0.5f * nd(rng);
    }
    const double a = 0.5 + std::abs(nd(rng)), ah = 0.5 + std::abs(nd(rng));
    const double y = nd(rng), yh = nd(rng);
    const double l1 = trial % 3 == 0 ? 0.0 : 0.5 * (trial % 7), l2 = trial % 4 == 0 ? 0.01 : 0.0;
    const auto t = compensation_terms(w, a, wh, ah, y, yh);
    double xx = 0;
    for (float v : w) xx += a * a * v * v;
    const double c = compensation_coefficient(t, l1, l2);
    // Brute force: fine grid over [0, 4], then check c is no worse than the best grid point.
    double best = INFINITY, best_c = 0;
    for (int i = 0; i <= 40000; ++i) {
      const double cc = i * 1e-4;
      const double l = compensation_loss(t, xx, cc, l1, l2);
      if (l < best) best = l, best_c = cc;
    }
    EXPECT_LE(compensation_loss(t, xx, c, l1, l2), best + 1e-9 * (1 + std::abs(best))) << trial;
    if (best_c > 0 && best_c < 4) {
      EXPECT_NEAR(c, best_c, 2e-4) << trial;
    }
    EXPECT_GE(c, 0.0);
  }
}

TEST(Compensation, ExactWeightsGiveCoefficientOne) {
  const std::vector<float> w{0.3f, -1.2f, 0.7f, 0.0f};
  const auto t = compensation_terms(w, 1.7, w, 1.7, 0.4, 0.4);
  EXPECT_DOUBLE_EQ(compensation_coefficient(t, 0.5, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(compensation_coefficient(t, 0.0, 0.0), 1.0);
}

// Puts every weight layer of g exactly on the grid the pipeline will use, so quantization
// is the identity.
Graph on_grid(const Graph& g, const QuantizeConfig& cfg) {
  QuantizeConfig none = resolve_defaults(cfg, g);
  none.method = Method::none;
  none.stats = StatsRepair::keep;
  return quantize_model(g, none).graph;
}

std::vector<float> run(const Graph& g, const std::vector<float>& x, int64_t n) {
  Executor ex(g, ExecOptions{true, 1});
  return ex.run(x.data(), n).f;
}

TEST(Pipeline, ExactWeightsLeaveTheModelUnchanged) {
  for (const char* model : {"resnet_cifar_optionA_bn", "resnet_cifar_optionA_folded", "vgg_small_bn", "densenet_small_bn"}) {
    QuantizeConfig cfg;
    cfg.method = Method::dfmpc;
    cfg.low_bits = 2;
    cfg.high_bits = 6;
    cfg.compensate = true;
    cfg.quantizer = "mse";  // idempotent (SQuant's min/max grid shrinks when re-quantized)
    const Graph g = on_grid(fixture(model), cfg);
    const QuantizedModel m = quantize_model(g, cfg);
    for (const auto& l : m.report.layers) {
      EXPECT_EQ(l.rel_error, 0.0) << model << " " << l.node;
      if (l.compensated) {
        EXPECT_NEAR(l.c_min, 1.0, 1e-12) << model;
        EXPECT_NEAR(l.c_max, 1.0, 1e-12) << model;
      }
    }
    const std::string ref = std::string(model).substr(0, std::string(model).rfind('_'));
    const auto x = test::read_f32(test::fixtures_dir() / (ref + ".input.f32"));
    const auto a = run(g, x, 4), b = run(m.graph, x, 4);
    for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], 1e-6f * (1 + std::abs(a[k]))) << model;
  }
}

TEST(Pipeline, EveryQuantizedWeightLiesOnItsGrid) {
  for (const char* model : {"resnet18_small_bn", "resnet50_small_folded", "densenet_small_bn", "mobilenetv2_small_bn"}) {
    for (Method method : {Method::none, Method::dfmpc, Method::rtn, Method::omse, Method::squant}) {
      QuantizeConfig cfg;
      cfg.method = method;
      cfg.low_bits = method == Method::dfmpc || method == Method::none ? 2 : 4;
      cfg.high_bits = 6;
      const QuantizedModel m = quantize_model(fixture(model), cfg);
      ASSERT_FALSE(m.weights.empty());
      for (const auto& [name, qt] : m.weights) {
        const Tensor& w = m.graph.constant(name);
        ASSERT_EQ(static_cast<int64_t>(qt.q.size()), w.numel());
        const auto deq = dequantize(qt);
        EXPECT_EQ(deq, w.f) << model << " " << name;  // bit-identical
        for (uint8_t q : qt.q) ASSERT_LE(q, qt.max_code());
        const int distinct_max = 1 << qt.bits;
        for (int64_t g = 0; g < qt.n_groups(); ++g) {
          std::vector<float> levels;
          for (int64_t i = g * qt.group_size; i < (g + 1) * qt.group_size; ++i) levels.push_back(w.f[i]);
          std::sort(levels.begin(), levels.end());
          EXPECT_LE(std::unique(levels.begin(), levels.end()) - levels.begin(), distinct_max);
        }
      }
    }
  }
}

TEST(Pipeline, PairBitsFollowThePlan) {
  QuantizeConfig cfg;
  cfg.low_bits = 3;
  cfg.high_bits = 6;
  cfg.edge_bits = 8;
  const QuantizedModel m = quantize_model(fixture("resnet_cifar_optionA_bn"), cfg);
  int low = 0, high = 0, edge = 0;
  for (const auto& l : m.report.layers) {
    const int want = l.role == "low" ? 3 : l.role == "high" ? 6 : 8;
    EXPECT_EQ(l.bits, want) << l.node;
    low += l.role == "low";
    high += l.role == "high";
    edge += l.role == "edge";
  }
  EXPECT_EQ(low, 3);
  EXPECT_EQ(high, 3);
  EXPECT_EQ(edge, 2);
  EXPECT_LT(m.report.quantized_bytes, m.report.fp32_bytes / 4);
}

TEST(Pipeline, NanWeightsAreRejectedWithTheirName) {
  Graph g = fixture("vgg_small_bn");
  for (auto& n : g.nodes)
    if (n.op == "Conv") {
      g.constant(n.inputs[1]).f[3] = NAN;
      break;
    }
  try {
    quantize_model(g, QuantizeConfig{});
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos);
  }
}

}  // namespace
}  // namespace dfmpc
