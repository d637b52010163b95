// Data-free statistics repair (src/quant/stats/): Gaussian moment formulas, moment
// propagation, and repair_statistics().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx_io.h"
#include "passes/pairing.h"
#include "quant/quantizers/quant_scheme.h"
#include "quant/stats/gaussian_moments.h"
#include "runtime/shape_inference.h"
#include "quant/stats/moment_propagation.h"
#include "quant/stats/repair.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

// ---------------------------------------------------------------- Monte-Carlo helpers

struct Sample {
  double mean = 0, var = 0, m4c = 0;  // m4c: 4th central moment (for the variance's error)
};

template <class F>
Sample monte_carlo(double m, double s, F f, int n = 1'000'000, uint32_t seed = 1) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> y(n);
  double s1 = 0;
  for (int i = 0; i < n; ++i) s1 += (y[i] = f(m + s * z(rng)));
  Sample r;
  r.mean = s1 / n;
  double s2 = 0, s4 = 0;
  for (double v : y) {
    const double d = v - r.mean;
    s2 += d * d;
    s4 += d * d * d * d;
  }
  r.var = s2 / n;
  r.m4c = s4 / n;
  return r;
}

// 6 standard errors: the standard error of the sample mean is sqrt(var / n), that of the
// sample variance sqrt((m4c - var^2) / n); 6 of them is exceeded by chance with probability
// ~2e-9 per check, so a failure means a formula error, not bad luck. A 1e-12 floor covers
// degenerate (constant) outputs.
void expect_matches(const GaussMoments& g, const Sample& s, int n, const std::string& what) {
  const double tol_m = 6 * std::sqrt(s.var / n) + 1e-12;
  const double tol_v = 6 * std::sqrt(std::max(0.0, s.m4c - s.var * s.var) / n) + 1e-12;
  EXPECT_NEAR(g.mean, s.mean, tol_m) << what;
  EXPECT_NEAR(g.var, s.var, tol_v) << what;
}

TEST(GaussianMoments, ReluMatchesMonteCarlo) {
  const int n = 1'000'000;
  for (double m : {-2.0, -0.5, 0.0, 0.3, 1.0, 3.0})
    for (double s : {0.5, 1.0, 2.5}) {
      const Sample mc = monte_carlo(m, s, [](double x) { return std::max(x, 0.0); }, n);
      expect_matches(relu_moments(m, s), mc, n, "relu m=" + std::to_string(m) + " s=" + std::to_string(s));
    }
}

TEST(GaussianMoments, ClipMatchesMonteCarlo) {
  const int n = 1'000'000;
  for (double m : {-1.0, 0.5, 3.0, 5.5, 8.0})
    for (double s : {0.5, 2.0, 4.0}) {
      const Sample mc = monte_carlo(m, s, [](double x) { return std::clamp(x, 0.0, 6.0); }, n, 7);
      expect_matches(clip_moments(m, s, 0.0, 6.0), mc, n, "relu6 m=" + std::to_string(m) + " s=" + std::to_string(s));
    }
  // One-sided clips agree with ReLU, and an infinite window with the identity.
  const double inf = std::numeric_limits<double>::infinity();
  const GaussMoments a = clip_moments(0.4, 1.3, 0.0, inf), b = relu_moments(0.4, 1.3);
  EXPECT_NEAR(a.mean, b.mean, 1e-12);
  EXPECT_NEAR(a.var, b.var, 1e-12);
  const GaussMoments c = clip_moments(0.4, 1.3, -inf, inf);
  EXPECT_NEAR(c.mean, 0.4, 1e-12);
  EXPECT_NEAR(c.var, 1.69, 1e-12);
  const GaussMoments id = identity_moments(0.4, -1.3);  // a negative BN gamma
  EXPECT_EQ(id.mean, 0.4);
  EXPECT_NEAR(id.var, 1.69, 1e-15);
}

TEST(GaussianMoments, MaxOfEquicorrelatedNormalsMatchesMonteCarlo) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> z(0.0, 1.0);
  const int n = 400'000, k = 9;
  for (double rho : {0.0, 0.5}) {
    double s1 = 0, s2 = 0;
    for (int i = 0; i < n; ++i) {
      const double z0 = z(rng);
      double mx = -1e300;
      for (int j = 0; j < k; ++j) mx = std::max(mx, 1.0 + 2.0 * (std::sqrt(rho) * z0 + std::sqrt(1 - rho) * z(rng)));
      s1 += mx, s2 += mx * mx;
    }
    const double mean = s1 / n, var = s2 / n - mean * mean;
    const GaussMoments g = max_of_normals_moments(1.0, 2.0, k, rho);
    EXPECT_NEAR(g.mean, mean, 6 * std::sqrt(var / n)) << "rho " << rho;
    EXPECT_NEAR(g.var, var, 0.02 * var) << "rho " << rho;  // ~6 SE of the sample variance
  }
}

// s -> 0: the deterministic limit, continuously, and never a NaN or a negative variance.
TEST(GaussianMoments, SafeForVanishingSpread) {
  for (double m : {-3.0, -1e-6, 0.0, 1e-6, 2.0, 7.0}) {
    for (double s : {0.0, 1e-300, 1e-200, 1e-30, 1e-12, 1e-9}) {
      const GaussMoments r = relu_moments(m, s), c = clip_moments(m, s, 0.0, 6.0);
      for (const GaussMoments& g : {r, c}) {
        ASSERT_TRUE(std::isfinite(g.mean) && std::isfinite(g.var)) << m << " " << s;
        ASSERT_GE(g.var, 0.0);
        ASSERT_LE(g.var, s * s * (1 + 1e-9) + 1e-300);
      }
      // f is 1-Lipschitz, so |E f(X) - f(m)| <= E|X - m| < s.
      EXPECT_NEAR(r.mean, std::max(m, 0.0), s + 1e-300) << m << " " << s;
      EXPECT_NEAR(c.mean, std::clamp(m, 0.0, 6.0), s + 1e-300) << m << " " << s;
    }
  }
  // Extreme standardised bounds (t = +-1e10) and huge means stay finite and exact.
  const GaussMoments far_neg = relu_moments(-1e6, 1e-4), far_pos = relu_moments(1e6, 1e-4);
  EXPECT_EQ(far_neg.mean, 0.0);
  EXPECT_EQ(far_neg.var, 0.0);
  EXPECT_NEAR(far_pos.mean, 1e6, 1e-6);
  EXPECT_NEAR(far_pos.var, 1e-8, 1e-20);
  const GaussMoments big = relu_moments(3.0, 1e8);
  EXPECT_TRUE(std::isfinite(big.mean) && std::isfinite(big.var));
  // Large t: the variance has no m^2 - m^2 cancellation.
  EXPECT_NEAR(relu_moments(1e4, 1.0).var, 1.0, 1e-12);
}

// ---------------------------------------------------------------- synthetic graphs

Tensor randn(Shape s, double sd, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> z(0.0f, static_cast<float>(sd));
  Tensor t = Tensor::zeros(s);
  for (float& v : t.f) v = z(rng);
  return t;
}

// input [N,C,H,W] -> Conv(3x3, pad 1, bias) [-> BatchNormalization] -> output
Graph conv_graph(int64_t C, int64_t O, int64_t H, bool with_bn, uint32_t seed) {
  Graph g;
  g.inputs = {ValueInfo{"x", {-1, C, H, H}}};
  g.initializers["w"] = randn({O, C, 3, 3}, 0.3, seed);
  g.initializers["b"] = randn({O}, 0.2, seed + 1);
  Node conv{"conv", "Conv", {"x", "w", "b"}, {"z"}, {}};
  conv.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  conv.attrs["kernel_shape"] = std::vector<int64_t>{3, 3};
  g.nodes.push_back(conv);
  if (with_bn) {
    g.initializers["gamma"] = Tensor::from_f32({O}, std::vector<float>(O, 1.5f));
    g.initializers["beta"] = Tensor::from_f32({O}, std::vector<float>(O, 0.25f));
    g.initializers["mu"] = Tensor::zeros({O});
    g.initializers["var"] = Tensor::from_f32({O}, std::vector<float>(O, 1.0f));
    g.nodes.push_back(Node{"bn", "BatchNormalization", {"z", "gamma", "beta", "mu", "var"}, {"y"}, {}});
    g.outputs = {ValueInfo{"y", {-1, O, H, H}}};
  } else {
    g.outputs = {ValueInfo{"z", {-1, O, H, H}}};
  }
  return g;
}

struct McInput {
  std::vector<float> x;
  int64_t n;
};

// n images of iid N(mean_c, var_c) entries.
McInput gaussian_images(int64_t n, int64_t C, int64_t H, const std::vector<double>& mean,
                        const std::vector<double>& var, uint32_t seed) {
  McInput in{std::vector<float>(n * C * H * H), n};
  std::mt19937 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t e = 0; e < H * H; ++e) in.x[(i * C + c) * H * H + e] = static_cast<float>(mean[c] + std::sqrt(var[c]) * z(rng));
  return in;
}

// Per-channel mean / variance of the model output over (images, positions).
ChannelMoments run_moments(const Graph& g, const McInput& in) {
  Executor ex(g, ExecOptions{true, 1});
  const Tensor& y = ex.run(in.x.data(), in.n);
  const int64_t C = y.shape[1], inner = y.numel() / (in.n * C);
  ChannelMoments r;
  for (int64_t c = 0; c < C; ++c) {
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < in.n; ++i)
      for (int64_t e = 0; e < inner; ++e) {
        const double v = y.f[(i * C + c) * inner + e];
        s1 += v, s2 += v * v;
      }
    const double cnt = static_cast<double>(in.n * inner);
    r.mean.push_back(s1 / cnt);
    r.var.push_back(s2 / cnt - r.mean.back() * r.mean.back());
  }
  return r;
}

Graph with_ternary_weights(const Graph& g, const std::string& w) {
  Graph q = g;
  const Tensor& W = g.constant(w);
  QuantOptions o;
  o.bits = 2;
  o.granularity = Granularity::per_tensor;
  q.constant(w).f = quantize_weights(QuantScheme::twn, WeightView{W.f, W.shape}, o).w_hat;
  return q;
}

// Conv output moments under iid Gaussian inputs: propagation (border classes of the zero
// padding included) agrees with Monte-Carlo. Inputs are independent here, so the diagonal
// variance model is exact too.
TEST(MomentPropagation, ConvMatchesMonteCarloWithPadding) {
  const int64_t C = 4, O = 5, H = 6, n = 20000;
  const Graph g = conv_graph(C, O, H, false, 11);
  const std::vector<double> mean{0.5, -1.0, 2.0, 0.0}, var{1.0, 0.25, 2.0, 0.5};
  MomentOptions mo;
  mo.input_mean = mean;
  mo.input_var = var;
  const MomentMap m = propagate_moments(g, mo);
  const ChannelMoments mc = run_moments(g, gaussian_images(n, C, H, mean, var, 5));
  const ChannelMoments& p = m.at("z");
  for (int64_t o = 0; o < O; ++o) {
    // Sampling error: the mean over n*H*H correlated values; 0.02 sd is > 6 standard errors
    // (neighbouring outputs share inputs, so the effective count is ~n*H*H/9 = 36000).
    const double sd = std::sqrt(mc.var[o]);
    EXPECT_NEAR(p.mean[o], mc.mean[o], 0.02 * sd) << o;
    EXPECT_NEAR(p.var[o] / mc.var[o], 1.0, 0.03) << o;
  }
  // Without the border correction the mean is off by the missing border taps.
  const Node& conv = g.nodes[g.producer_of("z")];
  const ChannelMoments nb = conv_moments(conv_node_geom(g, conv, infer_shapes(g, k_moment_batch)),
                                         g.constant(conv.inputs[1]).f, {}, ChannelMoments{mean, var}, false);
  double worst = 0;
  for (int64_t o = 0; o < O; ++o) worst = std::max(worst, std::fabs(nb.mean[o] - mc.mean[o]) / std::sqrt(mc.var[o]));
  EXPECT_GT(worst, 0.05);
}

// Repair removes the output shift the quantization causes (Monte-Carlo truth); joint+mmse
// also sets the BN's normaliser to the MMSE gain: the output variance is gamma^2 rho^2,
// rho = corr(z, z^) < 1 (the quantization error is part noise), so it shrinks, but not to 0.
TEST(Repair, MeanAndVarianceRepairOnSyntheticConvWithGaussianInputs) {
  const int64_t C = 6, O = 4, H = 6, n = 20000;
  Graph fp = conv_graph(C, O, H, true, 21);
  const std::vector<double> mean{1.0, 0.5, 2.0, 0.8, 1.5, 0.3}, var{1.0, 0.5, 2.0, 0.3, 1.0, 0.7};
  const McInput in = gaussian_images(n, C, H, mean, var, 9);
  // FP BN statistics: the true ones of the FP conv output (so BN output ~ (beta, gamma^2)).
  {
    Graph pre = fp;
    pre.outputs = {ValueInfo{"z", {}}};
    pre.prune();
    const ChannelMoments z = run_moments(pre, in);
    for (int64_t o = 0; o < O; ++o) {
      fp.constant("mu").f[o] = static_cast<float>(z.mean[o]);
      fp.constant("var").f[o] = static_cast<float>(z.var[o] - 1e-5);
    }
  }
  const Graph q0 = with_ternary_weights(fp, "w");
  const ChannelMoments before = run_moments(q0, in);
  double shift_before = 0;
  for (int64_t o = 0; o < O; ++o) shift_before = std::max(shift_before, std::fabs(before.mean[o] - 0.25) / 1.5);
  EXPECT_GT(shift_before, 0.2) << "the test needs a visible shift";

  MomentOptions mo;
  mo.input_mean = mean;
  mo.input_var = var;
  for (const std::string mode : {"mean", "joint+mmse"}) {
    Graph q = q0;
    const RepairReport rep = repair_statistics(fp, q, stats_repair_from_name(mode), mo);
    ASSERT_EQ(rep.layers.size(), 1u) << mode;
    EXPECT_EQ(rep.layers[0].node, "conv");
    EXPECT_EQ(rep.layers[0].target, "bn");
    const ChannelMoments after = run_moments(q, in);
    for (int64_t o = 0; o < O; ++o) {
      // Output mean must be beta = 0.25 up to sampling error (0.02 gamma).
      EXPECT_NEAR(after.mean[o], 0.25, 0.02 * 1.5) << mode << " channel " << o;
      if (mode == "joint+mmse") {
        EXPECT_LT(after.var[o] / (1.5 * 1.5), 1.0) << mode << " channel " << o;
        EXPECT_GT(after.var[o] / (1.5 * 1.5), 0.5) << mode << " channel " << o;
      }
    }
  }
}

// Folded form: the mean correction goes into the conv's bias; the weights stay on their grid.
TEST(Repair, FoldedConvGetsBiasOnly) {
  const int64_t C = 5, O = 3, H = 6, n = 20000;
  const Graph fp = conv_graph(C, O, H, false, 31);
  const std::vector<double> mean{1.0, 0.5, 2.0, 0.8, 1.5}, var{1.0, 0.5, 2.0, 0.3, 1.0};
  const McInput in = gaussian_images(n, C, H, mean, var, 13);
  const ChannelMoments target = run_moments(fp, in);
  MomentOptions mo;
  mo.input_mean = mean;
  mo.input_var = var;
  for (const std::string mode : {"mean", "joint+mmse"}) {
    SCOPED_TRACE(mode);
    Graph q = with_ternary_weights(fp, "w");
    const ChannelMoments before = run_moments(q, in);
    double shift_before = 0;
    for (int64_t o = 0; o < O; ++o)
      shift_before = std::max(shift_before, std::fabs(before.mean[o] - target.mean[o]) / std::sqrt(target.var[o]));
    EXPECT_GT(shift_before, 0.1) << "the test needs a visible shift";
    const RepairReport rep = repair_statistics(fp, q, stats_repair_from_name(mode), mo);
    ASSERT_EQ(rep.layers.size(), 1u);
    EXPECT_TRUE(rep.layers[0].folded);
    EXPECT_EQ(q.constant(q.nodes[0].inputs[1]).f, with_ternary_weights(fp, "w").constant("w").f);
    const ChannelMoments after = run_moments(q, in);
    for (int64_t o = 0; o < O; ++o) EXPECT_NEAR(after.mean[o], target.mean[o], 0.02 * std::sqrt(target.var[o])) << o;
  }
}

// ---------------------------------------------------------------- models

std::vector<std::string> fixture_models() {
  std::vector<std::string> out;
  for (const char* n : {"vgg_small", "mobilenetv2_small", "densenet_small", "resnet18_small", "resnet50_small",
                        "resnet_cifar_optionA"})
    for (const char* f : {"_bn.onnx", "_folded.onnx"}) out.push_back((test::fixtures_dir() / (std::string(n) + f)).string());
  return out;
}

Graph quantize_pairs(const Graph& fp) {
  Graph q = fp;
  const PairingPlan plan = find_pairs(fp);
  auto quant = [&](int node, QuantScheme s, int bits) {
    const Tensor& W = fp.constant(fp.nodes[node].inputs[1]);
    QuantOptions o;
    o.bits = bits;
    o.granularity = Granularity::per_tensor;
    q.constant(fp.nodes[node].inputs[1]).f = quantize_weights(s, WeightView{W.f, W.shape}, o).w_hat;
  };
  for (const auto& p : plan.pairs) quant(p.low, QuantScheme::twn, 2), quant(p.high, QuantScheme::dorefa, 6);
  for (int e : plan.edge_layers) quant(e, QuantScheme::dorefa, 8);
  return q;
}

// Fixture BN statistics are random (not consistent with the weights), so fixtures only show
// that propagation and every repair run and give finite, non-negative results.
TEST(MomentPropagation, RunsOnEveryFixture) {
  for (const auto& path : fixture_models()) {
    SCOPED_TRACE(path);
    const Graph g = import_onnx(path);
    const MomentMap m = propagate_moments(g);
    ASSERT_TRUE(m.count(g.outputs[0].name));
    for (const auto& [name, cm] : m)
      for (int64_t c = 0; c < cm.channels(); ++c) {
        ASSERT_TRUE(std::isfinite(cm.mean[c]) && std::isfinite(cm.var[c])) << name;
        ASSERT_GE(cm.var[c], 0.0) << name;
      }
    EXPECT_EQ(m.at(g.outputs[0].name).channels(), 10);
  }
}

TEST(Repair, RunsOnEveryFixture) {
  for (const auto& path : fixture_models()) {
    SCOPED_TRACE(path);
    const Graph fp = import_onnx(path);
    const Graph q0 = quantize_pairs(fp);
    for (const std::string mode : {"mean", "joint+mmse"}) {
      Graph q = q0;
      const RepairReport rep = repair_statistics(fp, q, stats_repair_from_name(mode));
      EXPECT_FALSE(rep.layers.empty()) << mode;
      for (const auto& [name, t] : q.initializers) {
        if (!t.is_f32()) continue;
        for (float v : t.f) ASSERT_TRUE(std::isfinite(v)) << mode << " " << name;
      }
      // The repaired model still runs.
      Executor ex(q, ExecOptions{true, 1});
      Shape s = q.inputs[0].shape;
      s[0] = 1;
      std::vector<float> x(shape_numel(s), 0.1f);
      const Tensor& y = ex.run(x.data(), 1);
      for (float v : y.f) ASSERT_TRUE(std::isfinite(v)) << mode;
    }
  }
}

TEST(MomentPropagation, UnsupportedOpIsNamed) {
  Graph g;
  g.inputs = {ValueInfo{"x", {-1, 3, 4, 4}}};
  g.nodes.push_back(Node{"sm", "Softmax", {"x"}, {"y"}, {}});
  g.outputs = {ValueInfo{"y", {-1, 3, 4, 4}}};
  try {
    propagate_moments(g);
    FAIL() << "no throw";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("Softmax"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'sm'"), std::string::npos) << e.what();
  }
}

// W^ = W: nothing changes, bit for bit (every mode, BN and folded models).
TEST(Repair, IdentityQuantizationChangesNothing) {
  std::vector<std::string> models = {(test::fixtures_dir() / "resnet_cifar_optionA_bn.onnx").string(),
                                     (test::fixtures_dir() / "resnet_cifar_optionA_folded.onnx").string(),
                                     (test::fixtures_dir() / "mobilenetv2_small_bn.onnx").string()};
  if (!test::shared_dir().empty()) models.push_back((test::shared_dir() / "models/resnet20_cifar10_bn.onnx").string());
  for (const auto& path : models) {
    const Graph fp = import_onnx(path);
    for (const std::string mode : {"mean", "joint+mmse"}) {
      SCOPED_TRACE(path + " " + mode);
      Graph q = fp;
      const RepairReport rep = repair_statistics(fp, q, stats_repair_from_name(mode));
      EXPECT_TRUE(rep.layers.empty());
      ASSERT_EQ(q.initializers.size(), fp.initializers.size());
      for (const auto& [name, t] : fp.initializers) {
        const Tensor& u = q.constant(name);
        ASSERT_EQ(u.shape, t.shape) << name;
        if (!t.is_f32()) continue;
        ASSERT_EQ(0, std::memcmp(u.f.data(), t.f.data(), t.f.size() * sizeof(float))) << name;
      }
      ASSERT_EQ(q.nodes.size(), fp.nodes.size());
      for (size_t k = 0; k < q.nodes.size(); ++k) EXPECT_EQ(q.nodes[k].inputs, fp.nodes[k].inputs);
    }
  }
}

// Shared ResNets: the pre-BN mean of every BN that follows a conv fed by BN -> ReLU is the
// BN's running mean up to the Gaussian / per-channel model error. Measured (ResNet-20 /
// ResNet-56): per-channel |error| / sigma at most 0.23 / 0.38, layer mean at most 0.11 /
// 0.15. The diagonal variance model underestimates (geomean ratio 0.29 - 0.57: real inputs
// are spatially and cross-channel correlated) but ranks channels well (log-variance
// correlation across channels typically > 0.9; worst layer 0.45). ResNet-56: geomean
// ratios 0.16 - 0.57.
TEST(MomentPropagation, SharedResNetsPreBnMeansMatchRunningMeans) {
  DFMPC_REQUIRE_SHARED();
  for (const char* name : {"resnet20_cifar10_bn.onnx", "resnet56_cifar10_bn.onnx"}) {
    SCOPED_TRACE(name);
    const Graph g = import_onnx((test::shared_dir() / "models" / name).string());
    const MomentMap m = propagate_moments(g);
    int checked = 0;
    double worst = 0, worst_layer = 0, corr_sum = 0, ratio_lo = 1e9, ratio_hi = 0;
    for (const Node& n : g.nodes) {
      if (n.op != "BatchNormalization") continue;
      const int c = g.producer_of(n.inputs[0]);
      if (c < 0 || g.nodes[c].op != "Conv") continue;
      const int r = g.producer_of(g.nodes[c].inputs[0]);
      if (r < 0 || g.nodes[r].op != "Relu") continue;
      const int b = g.producer_of(g.nodes[r].inputs[0]);
      if (b < 0 || g.nodes[b].op != "BatchNormalization") continue;
      const auto& mu = g.constant(n.inputs[3]).f;
      const auto& var = g.constant(n.inputs[4]).f;
      const ChannelMoments& p = m.at(n.inputs[0]);
      const size_t C = mu.size();
      double layer = 0, lr = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (size_t k = 0; k < C; ++k) {
        const double e = std::fabs(p.mean[k] - mu[k]) / std::sqrt(var[k] + 1e-5);
        worst = std::max(worst, e);
        layer += e / C;
        lr += std::log(p.var[k] / var[k]) / C;
        const double x = std::log(p.var[k]), y = std::log(var[k]);
        sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
      }
      const double cv = sxy / C - sx * sy / (C * C), vx = sxx / C - sx * sx / (C * C), vy = syy / C - sy * sy / (C * C);
      corr_sum += cv / std::sqrt(vx * vy);
      worst_layer = std::max(worst_layer, layer);
      ratio_lo = std::min(ratio_lo, std::exp(lr));
      ratio_hi = std::max(ratio_hi, std::exp(lr));
      ++checked;
    }
    ASSERT_GE(checked, 9);
    std::printf("[ %s ] %d BNs: worst |mean err|/sigma %.3f (layer mean %.3f); var ratio geomean %.2f..%.2f; "
                "mean log-var correlation %.3f\n", name, checked, worst, worst_layer, ratio_lo, ratio_hi,
                corr_sum / checked);
    EXPECT_LT(worst, 0.5);
    EXPECT_LT(worst_layer, 0.2);
    EXPECT_GT(ratio_lo, 0.1);
    EXPECT_LT(ratio_hi, 1.0);
    EXPECT_GT(corr_sum / checked, 0.8);
  }
}

// A quantized shared model: the report names each repaired layer and its BN; mean leaves
// the running variances alone; joint+mmse moves them.
TEST(Repair, SharedResNet20Report) {
  DFMPC_REQUIRE_SHARED();
  const Graph fp = import_onnx((test::shared_dir() / "models/resnet20_cifar10_bn.onnx").string());
  const Graph q0 = quantize_pairs(fp);
  Graph q = q0;
  const RepairReport rep = repair_statistics(fp, q, StatsRepair::mean);
  ASSERT_EQ(rep.layers.size(), 19u + 1u);  // 18 paired convs + stem (BN) + classifier (bias)
  EXPECT_EQ(rep.layers.front().node, "/conv1/Conv");
  EXPECT_EQ(rep.layers.front().target, "/bn1/BatchNormalization");
  EXPECT_TRUE(rep.layers.back().folded);
  for (const auto& l : rep.layers) {
    if (l.folded) continue;
    EXPECT_EQ(l.var_ratio_min, 1.0);
    const int b = [&] {
      for (size_t k = 0; k < q.nodes.size(); ++k)
        if (q.nodes[k].name == l.target) return static_cast<int>(k);
      return -1;
    }();
    ASSERT_GE(b, 0);
    EXPECT_EQ(q.constant(q.nodes[b].inputs[4]).f, fp.constant(fp.nodes[b].inputs[4]).f);
    // The stem reads the zero-mean input prior: no mean shift there.
    if (l.node != "/conv1/Conv") {
      EXPECT_GT(l.mean_shift_max, 0.0) << l.node;
    }
  }
  Graph q2 = q0;
  const RepairReport r2 = repair_statistics(fp, q2, StatsRepair::joint_mmse);
  bool moved = false;
  for (const auto& l : r2.layers) moved = moved || l.var_ratio_min != 1.0 || l.var_ratio_max != 1.0;
  EXPECT_TRUE(moved);
  EXPECT_NE(r2.to_string().find("/layer1/layer1.0/conv1/Conv"), std::string::npos);
}

TEST(Repair, OptionNames) {
  for (StatsRepair r : {StatsRepair::keep, StatsRepair::mean, StatsRepair::joint_mmse})
    EXPECT_EQ(stats_repair_from_name(std::string(stats_repair_name(r))), r);
  EXPECT_EQ(stats_repair_from_name("joint+mmse"), StatsRepair::joint_mmse);
  EXPECT_EQ(stats_repair_names(), "keep, mean, joint+mmse");
  for (const char* gone : {"bogus", "ratio", "covariance", "mean_only", "joint+mmse+foldvar"}) {
    try {
      stats_repair_from_name(gone);
      ADD_FAILURE() << gone << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("keep, mean, joint+mmse"), std::string::npos) << e.what();
    }
  }
}


// joint_conv_terms() (one pass, diagonal model) equals its definition through
// conv_moment_terms() of W, X = Q diag(a) and Q, for strided, padded, grouped convs.
TEST(MomentPropagation, JointConvTermsMatchConvMomentTerms) {
  std::mt19937 rng(3);
  std::normal_distribution<double> nd;
  for (const int64_t groups : {1, 2}) {
    ConvGeom geom;
    geom.c_in = 6, geom.h = 7, geom.w = 5, geom.c_out = 4, geom.kh = 3, geom.kw = 2;
    geom.stride_h = 2, geom.pad_t = geom.pad_b = 1, geom.pad_l = 1, geom.groups = groups;
    std::vector<float> w(static_cast<size_t>(geom.weight_numel())), q(w.size()), x(w.size());
    for (size_t e = 0; e < w.size(); ++e) w[e] = float(nd(rng)), q[e] = float(w[e] + 0.3 * nd(rng));
    ChannelMoments in, noise;
    std::vector<double> a;
    for (int64_t i = 0; i < geom.c_in; ++i) {
      in.mean.push_back(nd(rng)), in.var.push_back(0.5 + std::fabs(nd(rng)));
      noise.mean.push_back(nd(rng)), noise.var.push_back(std::fabs(nd(rng)));
      a.push_back(0.8 + 0.1 * nd(rng));
    }
    const int64_t Ig = geom.c_in / groups, K = geom.kh * geom.kw, Og = geom.c_out / groups;
    for (size_t e = 0; e < w.size(); ++e) {
      const int64_t o = static_cast<int64_t>(e) / (Ig * K), i = static_cast<int64_t>(e) / K % Ig;
      x[e] = static_cast<float>(q[e] * a[(o / Og) * Ig + i]);
    }
    const JointConvTerms j = joint_conv_terms(geom, w, q, in, a, noise);
    const ConvMomentTerms ww = conv_moment_terms(geom, w, w, in), xw = conv_moment_terms(geom, x, w, in);
    const ConvMomentTerms xx = conv_moment_terms(geom, x, x, in), nn = conv_moment_terms(geom, q, q, noise);
    for (int64_t o = 0; o < geom.c_out; ++o) {
      const auto near = [](double got, double want) { EXPECT_NEAR(got, want, 1e-6 * (1.0 + std::fabs(want))); };
      near(j.mean_w[o], ww.mean1[o]);
      near(j.var_w[o], ww.covariance(o));
      near(j.cov_xw[o], xw.covariance(o));
      near(j.var_x[o], xx.covariance(o));
      near(j.mean_q[o], nn.mean1[o]);
      near(j.var_n[o], nn.diag[o]);
    }
  }
}

// A fine trapezoid (400k panels on +-8 sd) of the same conditional integral.
double clipped_covariance_reference(double m, double v, double mq, double vq, double c, double lo, double hi) {
  const double s = std::sqrt(v), b = c / v, rs = std::sqrt(std::max(0.0, vq - c * c / v));
  const int n = 400000;
  const double h = 16.0 / n;
  double acc = 0, wsum = 0, ef = 0, efq = 0;
  for (int i = 0; i <= n; ++i) {
    const double z = -8.0 + i * h, w = (i == 0 || i == n ? 0.5 : 1.0) * normal_pdf(z);
    const double fu = std::clamp(m + s * z, lo, hi), mu = mq + b * s * z;
    const double cond = rs > 0 ? clip_moments(mu, rs, lo, hi).mean : std::clamp(mu, lo, hi);
    acc += w * fu * cond, ef += w * fu, efq += w * cond, wsum += w;
  }
  return acc / wsum - (ef / wsum) * (efq / wsum);
}

// The composite Gauss-Legendre covariance of clipped jointly Gaussian pairs agrees with a
// fine trapezoid, also for correlations near 1 (E[clip(u^) | u] nearly kinked), negative
// correlations and ReLU6, and with Monte-Carlo.
TEST(GaussianMoments, ClippedCovarianceMatchesReference) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case { double m, v, mq, vq, rho, lo, hi; };
  const Case cases[] = {{0.3, 1.0, 0.2, 1.2, 0.5, 0, inf},   {-0.5, 2.0, -0.4, 2.1, 0.99, 0, inf},
                        {0.1, 1.0, 0.1, 1.0, 0.99999, 0, inf}, {1.0, 0.5, 0.8, 0.7, -0.7, 0, inf},
                        {2.0, 4.0, 2.5, 3.0, 0.995, 0, 6},    {-3.0, 1.0, -2.9, 1.1, 0.9, 0, inf},
                        {0.0, 1.0, 0.3, 1.0, 0.9999, -1, 1}};
  for (const Case& k : cases) {
    const double c = k.rho * std::sqrt(k.v * k.vq);
    const double ef = clip_moments(k.m, std::sqrt(k.v), k.lo, k.hi).mean;
    const double efq = clip_moments(k.mq, std::sqrt(k.vq), k.lo, k.hi).mean;
    const double got = clipped_covariance(k.m, k.v, k.mq, k.vq, c, k.lo, k.hi, ef, efq);
    const double want = clipped_covariance_reference(k.m, k.v, k.mq, k.vq, c, k.lo, k.hi);
    EXPECT_NEAR(got, want, 1e-9 * std::sqrt(k.v * k.vq)) << k.m << " " << k.rho;
  }
  std::mt19937 rng(9);
  std::normal_distribution<double> nd;
  const int n = 400000;
  const double m = 0.2, v = 1.5, mq = 0.1, vq = 1.7, c = 0.9 * std::sqrt(v * vq);
  double sx = 0, sy = 0, sxy = 0;
  for (int i = 0; i < n; ++i) {
    const double z1 = nd(rng), z2 = nd(rng);
    const double x = std::max(0.0, m + std::sqrt(v) * z1);
    const double y = std::max(0.0, mq + c / std::sqrt(v) * z1 + std::sqrt(vq - c * c / v) * z2);
    sx += x, sy += y, sxy += x * y;
  }
  const double mc = sxy / n - (sx / n) * (sy / n);
  const double ef = relu_moments(m, std::sqrt(v)).mean, efq = relu_moments(mq, std::sqrt(vq)).mean;
  EXPECT_NEAR(clipped_covariance(m, v, mq, vq, c, 0, inf, ef, efq) / mc, 1.0, 0.01);
}

// infer_shapes() (shape-only for the bulk of the ops) agrees with infer_shapes_reference()
// (every op run) on every value of every fixture, with op11 / op17 variants included.
TEST(MomentPropagation, InferShapesMatchesItsReference) {
  std::vector<std::string> paths = fixture_models();
  for (const char* n : {"resnet18_small", "mobilenetv2_small"})
    for (const char* f : {"_bn_op11.onnx", "_bn_op17.onnx"}) paths.push_back((test::fixtures_dir() / (std::string(n) + f)).string());
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    const Graph g = import_onnx(path);
    for (const int64_t batch : {1, 2}) {
      const auto fast = infer_shapes(g, batch);
      for (const auto& [name, shape] : infer_shapes_reference(g, batch)) {
        ASSERT_TRUE(fast.count(name)) << name;
        EXPECT_EQ(fast.at(name), shape) << name;
      }
    }
  }
}

// conv_moment_terms() against its definition evaluated position by position: at every
// output position the taps inside the input give per-position sums, averaged over positions.
TEST(MomentPropagation, ConvMomentTermsMatchPositionwiseDefinition) {
  std::mt19937 rng(5);
  std::normal_distribution<double> nd;
  for (const int64_t groups : {1, 3}) {
    ConvGeom geom;
    geom.c_in = 6, geom.h = 6, geom.w = 5, geom.c_out = 3, geom.kh = 3, geom.kw = 3;
    geom.stride_w = 2, geom.pad_t = geom.pad_b = geom.pad_l = geom.pad_r = 1, geom.dil_h = 2, geom.groups = groups;
    std::vector<float> w1(static_cast<size_t>(geom.weight_numel())), w2(w1.size());
    for (size_t e = 0; e < w1.size(); ++e) w1[e] = float(nd(rng)), w2[e] = float(nd(rng));
    ChannelMoments in;
    for (int64_t i = 0; i < geom.c_in; ++i) in.mean.push_back(nd(rng)), in.var.push_back(0.2 + std::fabs(nd(rng)));
    const ConvMomentTerms t = conv_moment_terms(geom, w1, w2, in);
    const int64_t Ig = geom.c_in / groups, Og = geom.c_out / groups, K = geom.kh * geom.kw;
    const double npos = static_cast<double>(geom.out_h() * geom.out_w());
    for (int64_t o = 0; o < geom.c_out; ++o) {
      double m1 = 0, m2 = 0, mm = 0, diag = 0;
      for (int64_t oh = 0; oh < geom.out_h(); ++oh)
        for (int64_t ow = 0; ow < geom.out_w(); ++ow) {
          double p1 = 0, p2 = 0;
          for (int64_t i = 0; i < Ig; ++i) {
            const int64_t ci = o / Og * Ig + i;
            double s1 = 0, s2 = 0;
            for (int64_t r = 0; r < geom.kh; ++r)
              for (int64_t c = 0; c < geom.kw; ++c) {
                const int64_t ih = oh * geom.stride_h - geom.pad_t + r * geom.dil_h;
                const int64_t iw = ow * geom.stride_w - geom.pad_l + c * geom.dil_w;
                if (ih < 0 || ih >= geom.h || iw < 0 || iw >= geom.w) continue;
                const size_t e = static_cast<size_t>((o * Ig + i) * K + r * geom.kw + c);
                s1 += w1[e], s2 += w2[e];
                diag += in.var[ci] * w1[e] * w2[e] / npos;
              }
            p1 += in.mean[ci] * s1, p2 += in.mean[ci] * s2;
          }
          m1 += p1 / npos, m2 += p2 / npos, mm += p1 * p2 / npos;
        }
      const auto near = [](double got, double want) { EXPECT_NEAR(got, want, 1e-9 * (1.0 + std::fabs(want))); };
      near(t.mean1[o], m1);
      near(t.mean2[o], m2);
      near(t.between[o], mm - m1 * m2);
      near(t.diag[o], diag);
    }
  }
}

}  // namespace
}  // namespace dfmpc
