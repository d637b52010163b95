// ConvKernel (oneDNN) against conv2d_ref, and conv2d_ref against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/conv_padding.h"

namespace dfmpc {
namespace {

std::vector<float> random_vec(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

int64_t out_numel(const ConvGeom& g, int64_t n) { return n * g.c_out * g.out_h() * g.out_w(); }

// Relative-ish comparison: |a-b| <= tol * max(1, |b|, scale) with scale ~ typical magnitude.
void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    const double tol = 1e-4 * scale;
    if (!(std::fabs(double(got[i]) - want[i]) <= tol)) {
      ADD_FAILURE() << what << " at " << i << ": got " << got[i] << " want " << want[i];
      ++bad;
    }
  }
}

TEST(ConvRef, HandComputed2x2On3x3) {
  ConvGeom g;
  g.c_in = 1, g.h = 3, g.w = 3, g.c_out = 1, g.kh = 2, g.kw = 2;
  const std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> w{1, 0, 0, -1};  // y = x[i][j] - x[i+1][j+1]
  const float bias = 0.5f;
  std::vector<float> y(4);
  conv2d_ref(g, 1, x.data(), w.data(), &bias, nullptr, {}, y.data());
  EXPECT_EQ(y, (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));

  // Pads 1 on top/left only, stride 2: out 2x2 with windows anchored at (-1,-1),(-1,1),(1,-1),(1,1).
  g.pad_t = 1, g.pad_l = 1, g.stride_h = 2, g.stride_w = 2;
  ASSERT_EQ(g.out_h(), 2);
  const std::vector<float> w2{1, 2, 3, 4};
  conv2d_ref(g, 1, x.data(), w2.data(), nullptr, nullptr, {}, y.data());
  // (0,0): only x[0][0]*4 = 4; (0,1): x[0][1]*3 + x[0][2]*4 = 6+12 = 18
  // (1,0): x[1][0]*2 + x[2][0]*4 = 8+28 = 36; (1,1): 5*1+6*2+8*3+9*4 = 77
  EXPECT_EQ(y, (std::vector<float>{4, 18, 36, 77}));

  // Epilogues: residual then relu / clip.
  const std::vector<float> res{-10, 0, -40, 0};
  Epilogue ep;
  ep.add_residual = true;
  ep.act = Activation::relu;
  conv2d_ref(g, 1, x.data(), w2.data(), nullptr, res.data(), ep, y.data());
  EXPECT_EQ(y, (std::vector<float>{0, 18, 0, 77}));
  ep.act = Activation::clip;
  ep.clip_lo = 1.0f, ep.clip_hi = 20.0f;
  conv2d_ref(g, 1, x.data(), w2.data(), nullptr, res.data(), ep, y.data());
  EXPECT_EQ(y, (std::vector<float>{1, 18, 1, 20}));
}

TEST(ConvRef, HandComputedDilationAndGroups) {
  // 2 groups, 1 channel each, 3x3 kernel of ones with dilation 2 on a 5x5 input of ones,
  // pad 2: centre output sees all 9 taps, corner sees 4.
  ConvGeom g;
  g.c_in = 2, g.h = 5, g.w = 5, g.c_out = 2, g.kh = 3, g.kw = 3, g.dil_h = 2, g.dil_w = 2;
  g.pad_t = g.pad_l = g.pad_b = g.pad_r = 2, g.groups = 2;
  ASSERT_EQ(g.out_h(), 5);
  std::vector<float> x(50, 1.0f);
  for (int i = 25; i < 50; ++i) x[i] = 2.0f;  // second channel is 2s
  std::vector<float> w(18, 1.0f);
  std::vector<float> y(50);
  conv2d_ref(g, 1, x.data(), w.data(), nullptr, nullptr, {}, y.data());
  EXPECT_EQ(y[0 * 25 + 12], 9.0f);
  EXPECT_EQ(y[0 * 25 + 0], 4.0f);
  EXPECT_EQ(y[1 * 25 + 12], 18.0f);
  EXPECT_EQ(y[1 * 25 + 1], 8.0f);  // out (0,1): rows {0,2} x cols {1,3} valid, 4 taps of 2
}

struct Case {
  std::string name;
  ConvGeom g;
  Epilogue ep;
  bool bias = true;
};

ConvGeom geom(int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k, int64_t stride,
              int64_t pad, int64_t groups = 1, int64_t dil = 1) {
  ConvGeom g;
  g.c_in = cin, g.c_out = cout, g.h = h, g.w = w, g.kh = g.kw = k;
  g.stride_h = g.stride_w = stride;
  g.pad_t = g.pad_l = g.pad_b = g.pad_r = pad;
  g.groups = groups, g.dil_h = g.dil_w = dil;
  return g;
}

Epilogue epi(Activation act, bool residual = false) {
  Epilogue e;
  e.act = act, e.add_residual = residual;
  return e;
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  const auto none = epi(Activation::none), relu = epi(Activation::relu);
  const auto clip = epi(Activation::clip), res_relu = epi(Activation::relu, true);
  cs.push_back({"3x3_s1_p1", geom(16, 16, 15, 13, 3, 1, 1), relu});
  cs.push_back({"3x3_s2_p1", geom(16, 32, 17, 17, 3, 2, 1), none});
  cs.push_back({"3x3_s1_p1_res_relu", geom(8, 8, 9, 11, 3, 1, 1), res_relu});
  cs.push_back({"3x3_s1_p1_res_none", geom(5, 7, 9, 11, 3, 1, 1), epi(Activation::none, true)});
  cs.push_back({"3x3_clip", geom(3, 16, 11, 9, 3, 1, 1), clip});
  {
    auto g = geom(6, 10, 10, 9, 3, 2, 0);
    g.pad_t = 0, g.pad_l = 1, g.pad_b = 2, g.pad_r = 1;  // asymmetric
    cs.push_back({"3x3_s2_asym_pad", g, relu});
  }
  {
    auto g = geom(4, 5, 7, 8, 3, 1, 0);
    g.kh = 3, g.kw = 2, g.stride_h = 1, g.stride_w = 2, g.pad_b = 1, g.pad_r = 1;
    cs.push_back({"3x2_mixed_stride_asym_pad", g, none, false});
  }
  cs.push_back({"1x1", geom(16, 32, 9, 9, 1, 1, 0), relu});
  cs.push_back({"1x1_s2", geom(16, 32, 9, 9, 1, 2, 0), none, false});
  cs.push_back({"1x1_spatial1_gemm", geom(64, 10, 1, 1, 1, 1, 0), none});
  cs.push_back({"7x7_s2_p3", geom(3, 16, 23, 21, 7, 2, 3), relu});
  cs.push_back({"3x3_dil2", geom(8, 8, 13, 13, 3, 1, 2, 1, 2), relu});
  cs.push_back({"groups2", geom(8, 12, 9, 9, 3, 1, 1, 2), clip});
  cs.push_back({"depthwise", geom(16, 16, 11, 11, 3, 1, 1, 16), clip});
  cs.push_back({"depthwise_s2_res", geom(8, 8, 12, 12, 3, 2, 1, 8), res_relu});
  cs.push_back({"depthwise_nobias", geom(8, 8, 7, 7, 5, 1, 2, 8), none, false});
  cs.push_back({"groups4_1x1_res", geom(8, 8, 5, 5, 1, 1, 0, 4), res_relu});
  return cs;
}

class ConvKernelVsRef : public ::testing::TestWithParam<Case> {};

TEST_P(ConvKernelVsRef, MatchesReference) {
  const Case& c = GetParam();
  const ConvGeom& g = c.g;
  std::mt19937 rng(1234);
  const auto w = random_vec(g.weight_numel(), rng);
  const auto b = random_vec(g.c_out, rng);
  const float* bias = c.bias ? b.data() : nullptr;
  ConvKernel k(g, w.data(), bias, c.ep);
  EXPECT_EQ(k.geom().c_out, g.c_out);
  // Several batch sizes, each run twice: exercises the per-batch primitive cache.
  for (int64_t n : {1, 3, 32, 1, 3}) {
    const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
    const auto res = random_vec(out_numel(g, n), rng);
    const float* r = c.ep.add_residual ? res.data() : nullptr;
    std::vector<float> want(out_numel(g, n));
    conv2d_ref(g, n, x.data(), w.data(), bias, r, c.ep, want.data());
    for (int rep = 0; rep < 2; ++rep) {
      std::vector<float> got(out_numel(g, n), 12345.0f);  // garbage must be overwritten
      k.run(n, x.data(), r, got.data());
      expect_close(got, want, c.name + " n=" + std::to_string(n) + " rep=" + std::to_string(rep));
    }
    if (c.ep.add_residual) {  // in place: residual already in y
      std::vector<float> got = res;
      k.run(n, x.data(), got.data(), got.data());
      expect_close(got, want, c.name + " in-place residual n=" + std::to_string(n));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvKernelVsRef, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ConvKernel, RandomShapes) {
  std::mt19937 rng(42);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int t = 0; t < 40; ++t) {
    ConvGeom g;
    g.groups = pick(0, 3) == 0 ? pick(1, 4) : 1;
    g.c_in = g.groups * pick(1, 6);
    g.c_out = g.groups * pick(1, 6);
    if (pick(0, 5) == 0) g.groups = g.c_in = g.c_out = pick(1, 12);  // depthwise
    g.kh = pick(1, 5), g.kw = pick(1, 5);
    g.stride_h = pick(1, 3), g.stride_w = pick(1, 3);
    g.dil_h = pick(1, 2), g.dil_w = pick(1, 2);
    g.pad_t = pick(0, 2), g.pad_l = pick(0, 2), g.pad_b = pick(0, 2), g.pad_r = pick(0, 2);
    g.h = pick(1, 14) + g.dil_h * (g.kh - 1), g.w = pick(1, 14) + g.dil_w * (g.kw - 1);
    Epilogue ep;
    ep.act = static_cast<Activation>(pick(0, 2));
    ep.clip_lo = -0.5f, ep.clip_hi = 0.75f;
    ep.add_residual = pick(0, 1);
    const bool has_bias = pick(0, 1);
    const auto w = random_vec(g.weight_numel(), rng);
    const auto b = random_vec(g.c_out, rng);
    ConvKernel k(g, w.data(), has_bias ? b.data() : nullptr, ep);
    for (int64_t n : {1, 2}) {
      const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
      const auto res = random_vec(out_numel(g, n), rng);
      const float* r = ep.add_residual ? res.data() : nullptr;
      std::vector<float> want(out_numel(g, n)), got(out_numel(g, n));
      conv2d_ref(g, n, x.data(), w.data(), has_bias ? b.data() : nullptr, r, ep, want.data());
      k.run(n, x.data(), r, got.data());
      expect_close(got, want, "random case " + std::to_string(t) + " n=" + std::to_string(n));
    }
  }
}

// The geometry that crashed oneDNN's AVX-512 brgemm convolution (issue 10):
// mb1_ic3oc5_ih2oh5kh1sh1dh1ph2_iw18ow8kw4sw2dw1pw2 with post-ops sum+relu. Its first two
// output rows lie entirely in the padding; ConvKernel hands oneDNN an explicitly padded input.
ConvGeom issue10_crash_geom() {
  ConvGeom g;
  g.c_in = 3, g.c_out = 5, g.h = 2, g.w = 18, g.kh = 1, g.kw = 4;
  g.stride_h = 1, g.stride_w = 2, g.dil_h = 2, g.dil_w = 2;
  g.pad_t = g.pad_b = 2, g.pad_l = g.pad_r = 2;
  return g;
}

TEST(ConvPadding, DetectsOutputsWithoutInputTaps) {
  EXPECT_TRUE(has_padding_only_outputs(issue10_crash_geom()));
  ConvGeom same3x3;
  same3x3.c_in = same3x3.c_out = 4, same3x3.h = same3x3.w = 8, same3x3.kh = same3x3.kw = 3;
  same3x3.pad_t = same3x3.pad_l = same3x3.pad_b = same3x3.pad_r = 1;
  EXPECT_FALSE(has_padding_only_outputs(same3x3));
  same3x3.pad_b = 3;  // the last output row sees rows 8..10 only
  EXPECT_TRUE(has_padding_only_outputs(same3x3));
  ConvGeom skipping;  // dilation 2 steps over the only input column: taps at -1 and 1
  skipping.c_in = skipping.c_out = 1, skipping.h = 3, skipping.w = 1, skipping.kh = 1, skipping.kw = 2;
  skipping.dil_w = 2, skipping.pad_l = skipping.pad_r = 1;
  ASSERT_EQ(skipping.out_w(), 1);
  EXPECT_TRUE(has_padding_only_outputs(skipping));
  const ConvGeom p = explicitly_padded(issue10_crash_geom());
  EXPECT_EQ(p.h, 6);
  EXPECT_EQ(p.w, 22);
  EXPECT_EQ(p.out_h(), issue10_crash_geom().out_h());
  EXPECT_EQ(p.out_w(), issue10_crash_geom().out_w());
  EXPECT_FALSE(has_padding_only_outputs(p));
}

TEST(ConvKernel, Issue10PaddingOnlyRowsWithSumReluRegression) {
  const ConvGeom g = issue10_crash_geom();
  std::mt19937 rng(10);
  const auto w = random_vec(g.weight_numel(), rng), b = random_vec(g.c_out, rng);
  const Epilogue ep = epi(Activation::relu, true);
  ConvKernel k(g, w.data(), b.data(), ep);
  EXPECT_EQ(k.geom().h, g.h);
  EXPECT_EQ(k.geom().pad_t, g.pad_t);
  for (int64_t n : {1, 3}) {
    const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
    const auto res = random_vec(out_numel(g, n), rng);
    std::vector<float> want(out_numel(g, n)), got(out_numel(g, n));
    conv2d_ref(g, n, x.data(), w.data(), b.data(), res.data(), ep, want.data());
    k.run(n, x.data(), res.data(), got.data());
    expect_close(got, want, "issue 10 geometry n=" + std::to_string(n));
  }
}

// Pads up to 4 around kernels of extent 1-3: most of these have padding-only outputs.
TEST(ConvKernel, RandomPaddingOnlyGeometries) {
  std::mt19937 rng(4242);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int padding_only = 0;
  for (int t = 0; t < 30; ++t) {
    ConvGeom g;
    g.groups = pick(0, 2) == 0 ? 2 : 1;
    g.c_in = g.groups * pick(1, 5), g.c_out = g.groups * pick(1, 5);
    g.kh = pick(1, 3), g.kw = pick(1, 3);
    g.stride_h = pick(1, 3), g.stride_w = pick(1, 3), g.dil_h = pick(1, 2), g.dil_w = pick(1, 2);
    g.pad_t = pick(0, 4), g.pad_l = pick(0, 4), g.pad_b = pick(0, 4), g.pad_r = pick(0, 4);
    g.h = pick(1, 6) + g.dil_h * (g.kh - 1), g.w = pick(1, 6) + g.dil_w * (g.kw - 1);
    padding_only += has_padding_only_outputs(g);
    Epilogue ep = epi(static_cast<Activation>(pick(0, 2)), pick(0, 1));
    ep.clip_lo = -0.5f, ep.clip_hi = 0.75f;
    const auto w = random_vec(g.weight_numel(), rng), b = random_vec(g.c_out, rng);
    ConvKernel k(g, w.data(), b.data(), ep);
    for (int64_t n : {1, 2}) {
      const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
      const auto res = random_vec(out_numel(g, n), rng);
      const float* r = ep.add_residual ? res.data() : nullptr;
      std::vector<float> want(out_numel(g, n)), got(out_numel(g, n));
      conv2d_ref(g, n, x.data(), w.data(), b.data(), r, ep, want.data());
      k.run(n, x.data(), r, got.data());
      expect_close(got, want, "padding case " + std::to_string(t) + " n=" + std::to_string(n));
    }
  }
  EXPECT_GE(padding_only, 15);
}

TEST(ConvKernel, ThreadCountDoesNotChangeResults) {
  const ConvGeom g = geom(16, 16, 16, 16, 3, 1, 1);
  std::mt19937 rng(7);
  const auto w = random_vec(g.weight_numel(), rng), b = random_vec(g.c_out, rng);
  const auto x = random_vec(4 * g.c_in * g.h * g.w, rng);
  ConvKernel k(g, w.data(), b.data(), epi(Activation::relu));
  std::vector<float> want(out_numel(g, 4)), got(out_numel(g, 4));
  conv2d_ref(g, 4, x.data(), w.data(), b.data(), nullptr, epi(Activation::relu), want.data());
  for (int t : {1, 2, 0}) {
    set_num_threads(t);
    k.run(4, x.data(), nullptr, got.data());
    expect_close(got, want, "threads=" + std::to_string(t));
  }
}

TEST(ConvKernel, Errors) {
  const ConvGeom bad_groups = geom(6, 4, 8, 8, 3, 1, 1, 4);  // 6 % 4 != 0
  std::vector<float> w(1000, 0.0f);
  EXPECT_THROW(ConvKernel(bad_groups, w.data(), nullptr, {}), std::runtime_error);
  const ConvGeom too_small = geom(2, 2, 2, 2, 5, 1, 0);  // empty output
  EXPECT_THROW(ConvKernel(too_small, w.data(), nullptr, {}), std::runtime_error);
  ConvKernel k(geom(2, 2, 4, 4, 3, 1, 1), w.data(), nullptr, epi(Activation::none, true));
  std::vector<float> x(32), y(32);
  EXPECT_THROW(k.run(1, x.data(), nullptr, y.data()), std::runtime_error);
}

}  // namespace
}  // namespace dfmpc
