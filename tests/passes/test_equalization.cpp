// DFQ passes: BN folding, cross-layer equalisation, high-bias absorption.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "onnx/onnx_io.h"
#include "passes/equalization.h"
#include "passes/fold_batchnorm.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

Graph load(const std::string& file) { return import_onnx((test::fixtures_dir() / file).string()); }
std::vector<float> fixture_input(const std::string& name) {
  return test::read_f32(test::fixtures_dir() / (name + ".input.f32"));
}

std::vector<float> run(const Graph& g, const std::vector<float>& x, int64_t n, bool reference = true) {
  Executor ex(g, ExecOptions{reference, 1});
  return ex.run(x.data(), n).f;
}

// max |a - b| / max |b|
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, std::fabs(double(a[i]) - b[i])), m = std::max(m, std::fabs(double(b[i])));
  return d / m;
}

int count_op(const Graph& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

const Node& node(const Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return n;
  throw std::runtime_error("no node " + name);
}
const Tensor& weight(const Graph& g, const std::string& conv) { return g.constant(node(g, conv).inputs[1]); }

// Ranges that each set equalises: out(first) vs in(second) [vs out(depthwise) for triplets].
void expect_sets_equalized(const Graph& g, const EqualizeReport& rep, RangeMode mode, const std::string& what) {
  for (const auto& set : rep.sets) {
    const Node& last = node(g, set.back());
    const auto r0 = out_channel_ranges(weight(g, set[0]), mode);
    const auto rn = in_channel_ranges(weight(g, set.back()), last.attr_i("group", 1), mode);
    const auto r1 = set.size() == 3 ? out_channel_ranges(weight(g, set[1]), mode) : r0;
    ASSERT_EQ(r0.size(), rn.size());
    for (size_t i = 0; i < r0.size(); ++i) {
      const double m = std::max({r0[i], r1[i], rn[i]});
      if (std::min({r0[i], r1[i], rn[i]}) == 0) continue;
      EXPECT_NEAR(r0[i], rn[i], 1e-5 * m) << what << " " << set[0] << " channel " << i;
      EXPECT_NEAR(r1[i], rn[i], 1e-5 * m) << what << " " << set[1] << " channel " << i;
    }
  }
}

struct Case {
  std::string name;
  int folds, pairs, triplets;
};
const std::vector<Case> kCases = {
    {"vgg_small", 4, 2, 0},     {"resnet18_small", 12, 4, 0}, {"resnet50_small", 17, 8, 0},
    {"densenet_small", 6, 6, 0}, {"mobilenetv2_small", 11, 0, 3},
};

TEST(FoldBatchnorm, FoldsConvBnAndPreservesOutputs) {
  for (const auto& c : kCases) {
    const Graph orig = load(c.name + "_bn.onnx");
    Graph g = orig;
    const BnStats bn = fold_batchnorm(g);
    EXPECT_EQ(static_cast<int>(bn.size()), c.folds) << c.name;
    EXPECT_EQ(count_op(g, "BatchNormalization"), count_op(orig, "BatchNormalization") - c.folds) << c.name;
    const auto x = fixture_input(c.name);
    EXPECT_LT(rel_diff(run(g, x, 4), run(orig, x, 4)), 1e-4) << c.name;
    // Every folded conv has a bias now; stats are the BN's own gamma/beta.
    for (const auto& [conv, p] : bn) {
      const Node& n = node(g, conv);
      ASSERT_GE(n.inputs.size(), 3u) << conv;
      EXPECT_EQ(g.constant(n.inputs[2]).numel(), static_cast<int64_t>(p.beta.size()));
    }
    for (const auto& n : orig.nodes)
      if (n.op == "BatchNormalization" && orig.producer_of(n.inputs[0]) >= 0) {
        const Node& conv = orig.nodes[orig.producer_of(n.inputs[0])];
        if (!bn.count(conv.name)) continue;
        EXPECT_EQ(bn.at(conv.name).gamma, orig.constant(n.inputs[1]).f);
        EXPECT_EQ(bn.at(conv.name).beta, orig.constant(n.inputs[2]).f);
      }
  }
}

TEST(Equalize, PreservesOutputsAndEqualizesRanges) {
  for (const auto& c : kCases) {
    for (const std::string suffix : {"_bn.onnx", "_folded.onnx"}) {
      const std::string what = c.name + suffix;
      Graph g = load(c.name + suffix);
      fold_batchnorm(g);
      const Graph ref = g;
      EqualizeOptions opt;
      opt.replace_relu6 = false;  // exactness; replacement is tested below
      const EqualizeReport rep = equalize_cross_layer(g, opt);
      EXPECT_EQ(rep.pairs, c.triplets ? 0 : c.pairs) << what;
      EXPECT_EQ(rep.triplets, 0) << what;
      EXPECT_EQ(rep.unfolded_bn, 0) << what;
      EXPECT_LT(rep.sweeps, opt.max_sweeps) << what;
      EXPECT_LE(rep.max_range_ratio_after, rep.max_range_ratio_before * (1 + 1e-6)) << what;
      const auto x = fixture_input(c.name);
      const double d = rel_diff(run(g, x, 4), run(ref, x, 4));
      EXPECT_LT(d, 1e-4) << what;
      expect_sets_equalized(g, rep, opt.range, what);
      std::printf("[ info ] %-30s pairs %d sweeps %3d range ratio %.3g -> %.3g, output diff %.2g\n",
                  what.c_str(), rep.pairs, rep.sweeps, rep.max_range_ratio_before, rep.max_range_ratio_after, d);
    }
  }
}

TEST(Equalize, MaxMinusMinRanges) {
  Graph g = load("resnet50_small_folded.onnx");
  const Graph ref = g;
  EqualizeOptions opt;
  opt.range = RangeMode::max_minus_min;
  const auto rep = equalize_cross_layer(g, opt);
  EXPECT_EQ(rep.pairs, 8);
  const auto x = fixture_input("resnet50_small");
  EXPECT_LT(rel_diff(run(g, x, 4), run(ref, x, 4)), 1e-4);
  expect_sets_equalized(g, rep, opt.range, "resnet50 max-min");
}

// DFQ's objective for a pair: sum_i r1_i r2_i / (max r1 * max r2).
double objective(const std::vector<double>& r1, const std::vector<double>& r2) {
  double s = 0;
  for (size_t i = 0; i < r1.size(); ++i) s += r1[i] * r2[i];
  return s / (*std::max_element(r1.begin(), r1.end()) * *std::max_element(r2.begin(), r2.end()));
}

TEST(Equalize, MaximisesRangeProduct) {
  for (const std::string name : {"vgg_small", "resnet50_small"}) {
    Graph g = load(name + "_folded.onnx");
    const Graph before = g;
    const auto rep = equalize_cross_layer(g);
    ASSERT_GT(rep.pairs, 0);
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> logs(-2, 2);
    for (const auto& set : rep.sets) {
      const auto ranges = [&](const Graph& gr) {
        return std::pair{out_channel_ranges(weight(gr, set[0]), RangeMode::max_abs),
                         in_channel_ranges(weight(gr, set[1]), 1, RangeMode::max_abs)};
      };
      const auto [r1, r2] = ranges(g);
      const auto [q1, q2] = ranges(before);
      const double best = objective(r1, r2);
      // A pair alone in its chain must also beat the unequalised weights (in a chain the
      // neighbouring set rescales the shared conv as well).
      int shared = 0;
      for (const auto& other : rep.sets)
        for (const auto& n : other) shared += n == set[0] || n == set[1];
      if (shared == 2) {
        EXPECT_GE(best, objective(q1, q2) * (1 - 1e-6)) << set[0];
      }
      for (int t = 0; t < 50; ++t) {
        auto a = r1, b = r2;
        for (size_t i = 0; i < a.size(); ++i) {
          const double s = std::exp(logs(rng));
          a[i] /= s, b[i] *= s;
        }
        EXPECT_LE(objective(a, b), best * (1 + 1e-6)) << set[0];
      }
    }
  }
}

TEST(Equalize, SkipsConvsWithUnfoldedBn) {
  Graph g = load("vgg_small_bn.onnx");
  const auto rep = equalize_cross_layer(g);
  EXPECT_EQ(rep.pairs, 0);
  EXPECT_EQ(rep.unfolded_bn, 4);
}

TEST(Equalize, MobileNetReplacesRelu6AndEqualizesTriplets) {
  Graph folded = load("mobilenetv2_small_bn.onnx");
  fold_batchnorm(folded);
  const auto x = fixture_input("mobilenetv2_small");
  const auto y_orig = run(folded, x, 4);

  Graph off = folded;
  EqualizeOptions no_replace;
  no_replace.replace_relu6 = false;
  const auto rep_off = equalize_cross_layer(off, no_replace);
  EXPECT_TRUE(rep_off.relu6_replaced.empty());
  EXPECT_EQ(rep_off.pairs + rep_off.triplets, 0);  // every chain runs through a ReLU6
  EXPECT_EQ(count_op(off, "Clip"), 8);

  Graph g = folded;
  const auto rep = equalize_cross_layer(g);
  EXPECT_EQ(rep.triplets, 3);
  EXPECT_EQ(rep.pairs, 0);
  EXPECT_EQ(rep.relu6_replaced.size(), 6u);  // expand and depthwise ReLU6 of 3 blocks
  EXPECT_EQ(count_op(g, "Clip"), 2);
  EXPECT_LT(rep.sweeps, 100);
  EXPECT_LT(rep.max_range_ratio_after, rep.max_range_ratio_before);
  expect_sets_equalized(g, rep, RangeMode::max_abs, "mobilenetv2");

  // Exact against the same graph with only the ReLU6 replacement applied.
  Graph relu = folded;
  for (auto& n : relu.nodes)
    if (std::find(rep.relu6_replaced.begin(), rep.relu6_replaced.end(), n.name) != rep.relu6_replaced.end()) {
      ASSERT_EQ(n.op, "Clip");
      n.op = "Relu";
      n.inputs.resize(1);
    }
  const auto y_relu = run(relu, x, 4);
  EXPECT_LT(rel_diff(run(g, x, 4), y_relu), 1e-4);
  // The fixture's activations stay below 6; with a 50x input they do not, and the
  // replacement shows up in the FP32 output.
  auto x50 = x;
  for (auto& v : x50) v *= 50;
  EXPECT_GT(rel_diff(run(g, x50, 4), run(folded, x50, 4)), 1e-3);
  EXPECT_LT(rel_diff(run(g, x50, 4), run(relu, x50, 4)), 1e-4);
  std::printf("[ info ] mobilenetv2 ReLU6->ReLU changes the FP32 output by %.3g (relative); range ratio %.3g -> %.3g\n",
              rel_diff(y_relu, y_orig), rep.max_range_ratio_before, rep.max_range_ratio_after);
}

TEST(Equalize, ScalesBnStatsWithTheConv) {
  Graph g = load("resnet18_small_bn.onnx");
  BnStats bn = fold_batchnorm(g);
  const BnStats before = bn;
  const auto rep = equalize_cross_layer(g, {}, &bn);
  ASSERT_EQ(rep.pairs, 4);
  EXPECT_EQ(rep.out_scale.size(), 4u);  // only the first conv of each pair is rescaled
  for (const auto& [conv, f] : rep.out_scale) {
    ASSERT_TRUE(bn.count(conv));
    for (size_t i = 0; i < f.size(); ++i) {
      EXPECT_GT(f[i], 0);
      EXPECT_NEAR(bn[conv].gamma[i], before.at(conv).gamma[i] * f[i], 1e-6 * std::fabs(bn[conv].gamma[i]) + 1e-12);
      EXPECT_NEAR(bn[conv].beta[i], before.at(conv).beta[i] * f[i], 1e-6 * std::fabs(bn[conv].beta[i]) + 1e-12);
    }
  }
  for (const auto& [conv, p] : bn)
    if (!rep.out_scale.count(conv)) {
      EXPECT_EQ(p.beta, before.at(conv).beta) << conv;
    }
}

// x[N,4,5,5] -> conv1 1x1 (6) [-> BN] -> Relu -> conv2 3x3 (3, pads) -> y
struct Small {
  Graph g;
  std::vector<float> x;
};

Small small_graph(bool with_bn, int64_t pad2, const std::vector<float>& b1) {
  std::mt19937 rng(3);
  const auto uniform = [&](size_t n, float a) {
    std::uniform_real_distribution<float> u(-a, a);
    std::vector<float> v(n);
    for (auto& e : v) e = u(rng);
    return v;
  };
  Small s;
  Graph& g = s.g;
  g.inputs = {{"x", {-1, 4, 5, 5}}};
  g.outputs = {{"y", {-1, 3, 5 - 2 + 2 * pad2, 5 - 2 + 2 * pad2}}};
  auto w1 = uniform(6 * 4, 0.05f);
  for (int i = 0; i < 4; ++i) w1[4 * 4 + i] *= 0.1f, w1[5 * 4 + i] *= 8;  // unequal channel ranges
  g.initializers["w1"] = Tensor::from_f32({6, 4, 1, 1}, w1);
  g.initializers["b1"] = Tensor::from_f32({6}, b1);
  g.initializers["w2"] = Tensor::from_f32({3, 6, 3, 3}, uniform(3 * 6 * 9, 0.3f));
  g.initializers["b2"] = Tensor::from_f32({3}, {0.1f, -0.2f, 0.3f});
  const std::string h = with_bn ? "z" : "h";
  Node c1{"conv1", "Conv", {"x", "w1", "b1"}, {h}, {}};
  c1.attrs["kernel_shape"] = std::vector<int64_t>{1, 1};
  g.nodes.push_back(c1);
  if (with_bn) {
    g.nodes.push_back({"bn1", "BatchNormalization", {"z", "gamma", "beta", "mean", "var"}, {"h"}, {}});
    g.initializers["gamma"] = Tensor::from_f32({6}, {0.1f, 1, -0.1f, 1, 2, 1});
    g.initializers["beta"] = Tensor::from_f32({6}, {10, 0.5f, 5, -1, 3, 0});
    g.initializers["mean"] = Tensor::from_f32({6}, std::vector<float>(6, 0));
    g.initializers["var"] = Tensor::from_f32({6}, std::vector<float>(6, 1));
  }
  g.nodes.push_back({"relu1", "Relu", {"h"}, {"a"}, {}});
  Node c2{"conv2", "Conv", {"a", "w2", "b2"}, {"y"}, {}};
  c2.attrs["kernel_shape"] = std::vector<int64_t>{3, 3};
  c2.attrs["pads"] = std::vector<int64_t>{pad2, pad2, pad2, pad2};
  g.nodes.push_back(c2);
  s.x = uniform(2 * 4 * 25, 1.0f);
  return s;
}

// c_i = max(0, beta_i - 3 |gamma_i|)
std::vector<double> expected_c(const BnParams& p) {
  std::vector<double> c;
  for (size_t i = 0; i < p.beta.size(); ++i) c.push_back(std::max(0.0, p.beta[i] - 3.0 * std::fabs(p.gamma[i])));
  return c;
}

void expect_biases_moved(const Graph& before, const Graph& after, const std::vector<double>& c) {
  const auto& b1 = before.constant(node(before, "conv1").inputs[2]).f;
  const auto& b1n = after.constant(node(after, "conv1").inputs[2]).f;
  for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(b1n[i], b1[i] - c[i], 1e-5 * (1 + std::fabs(b1[i])));
  const Tensor& w2 = after.constant("w2");
  const auto& b2 = before.constant("b2").f;
  const auto& b2n = after.constant(node(after, "conv2").inputs[2]).f;
  for (int64_t o = 0; o < 3; ++o) {
    double add = 0;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t k = 0; k < 9; ++k) add += w2.f[(o * 6 + i) * 9 + k] * c[i];
    EXPECT_NEAR(b2n[o], b2[o] + add, 1e-5 * (1 + std::fabs(add))) << o;
  }
}

TEST(HighBias, AbsorbsExactlyWithoutPadding) {
  const std::vector<float> b1 = {10, 0.5f, 5, -1, 3, 0};
  Small s = small_graph(false, 0, b1);
  const Graph before = s.g;
  BnStats bn{{"conv1", {{0.1f, 1, -0.1f, 1, 2, 1}, b1}}};
  const auto c = expected_c(bn["conv1"]);
  ASSERT_GT(c[0], 9);
  ASSERT_GT(c[2], 4);
  const auto rep = absorb_high_bias(s.g, bn);
  EXPECT_EQ(rep.pairs, 1);
  EXPECT_EQ(rep.padded_pairs, 0);
  EXPECT_EQ(rep.channels, 2);
  for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(bn["conv1"].beta[i], b1[i] - c[i], 1e-5);
  expect_biases_moved(before, s.g, c);
  EXPECT_LT(rel_diff(run(s.g, s.x, 2), run(before, s.x, 2)), 1e-5);
}

TEST(HighBias, PaddingIsReportedAndCanBeSkipped) {
  const std::vector<float> b1 = {10, 0.5f, 5, -1, 3, 0};
  Small s = small_graph(false, 1, b1);
  const Graph before = s.g;
  BnStats bn{{"conv1", {{0.1f, 1, -0.1f, 1, 2, 1}, b1}}};
  Graph skipped = s.g;
  BnStats bn_skipped = bn;
  EXPECT_EQ(absorb_high_bias(skipped, bn_skipped, {3, true}).pairs, 0);
  EXPECT_EQ(bn_skipped["conv1"].beta, b1);
  const auto rep = absorb_high_bias(s.g, bn);
  EXPECT_EQ(rep.pairs, 1);
  EXPECT_EQ(rep.padded_pairs, 1);
  expect_biases_moved(before, s.g, expected_c(BnParams{{0.1f, 1, -0.1f, 1, 2, 1}, b1}));
  // Inexact at the borders: the padded zeros now stand for h = -c.
  EXPECT_GT(rel_diff(run(s.g, s.x, 2), run(before, s.x, 2)), 1e-3);
}

// The full DFQ data flow: fold -> CLE (scales the stats) -> absorption with scaled stats.
TEST(HighBias, UsesStatsScaledByEqualization) {
  Small s = small_graph(true, 0, std::vector<float>(6, 0));
  const Graph orig = s.g;
  BnStats bn = fold_batchnorm(s.g);
  ASSERT_EQ(bn.size(), 1u);
  const auto c_unscaled = expected_c(bn["conv1"]);
  const auto eq = equalize_cross_layer(s.g, {}, &bn);
  ASSERT_EQ(eq.pairs, 1);
  const auto& f = eq.out_scale.at("conv1");
  const Graph after_cle = s.g;
  const auto rep = absorb_high_bias(s.g, bn);
  EXPECT_EQ(rep.pairs, 1);
  std::vector<double> c(6);
  for (size_t i = 0; i < 6; ++i) c[i] = c_unscaled[i] * f[i];  // s > 0: c scales with 1/s
  EXPECT_GT(std::fabs(f[0] - 1), 1e-3);
  expect_biases_moved(after_cle, s.g, c);
  EXPECT_LT(rel_diff(run(s.g, s.x, 2), run(orig, s.x, 2)), 1e-5);
}

TEST(Equalize, SharedResNet56) {
  DFMPC_REQUIRE_SHARED();
  const auto path = test::shared_dir() / "models" / "resnet56_cifar10_folded.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
  Graph g = import_onnx(path.string());
  const Graph ref = g;
  const auto rep = equalize_cross_layer(g);
  std::printf("[ info ] resnet56: %d pairs, %d triplets, %d sweeps, range ratio %.3g -> %.3g\n", rep.pairs,
              rep.triplets, rep.sweeps, rep.max_range_ratio_before, rep.max_range_ratio_after);
  EXPECT_EQ(rep.pairs, 27);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd;
  std::vector<float> x(2 * 3 * 32 * 32);
  for (auto& v : x) v = nd(rng);
  EXPECT_LT(rel_diff(run(g, x, 2, false), run(ref, x, 2, false)), 1e-3);
}

}  // namespace
}  // namespace dfmpc
