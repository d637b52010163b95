// The fast path's blocked (nChw8c) layout: Winograd and direct BlockedConvKernel against
// conv2d_ref, the layout conversions and blocked Slice / Pad / GlobalAveragePool against the
// reference ops, the thread pool, and executor plans that mix blocked and plain values.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "runtime/kernels/blocked.h"
#include "runtime/kernels/conv.h"
#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/conv_blocked.h"
#include "runtime/kernels/thread_pool.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/shape_params.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

std::vector<float> random_vec(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (auto& x : v) x = d(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what,
                  double tol = 1e-4) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i)
    if (!(std::fabs(double(got[i]) - want[i]) <= tol * scale)) {
      ADD_FAILURE() << what << " at " << i << ": got " << got[i] << " want " << want[i];
      ++bad;
    }
}

Tensor plain(const Shape& s, std::vector<float> v) { return Tensor::from_f32(s, std::move(v)); }

// Runs a BlockedConvKernel on plain data (converting in and out) and checks that the padded
// channels of the blocked output are zero.
std::vector<float> run_blocked(BlockedConvKernel& k, int64_t n, const std::vector<float>& x,
                               const std::vector<float>* residual) {
  const ConvGeom& g = k.geom();
  Tensor xb, rb, yb, y;
  blk::to_blocked(plain({n, g.c_in, g.h, g.w}, x), xb);
  if (residual) blk::to_blocked(plain({n, g.c_out, g.out_h(), g.out_w()}, *residual), rb);
  blk::prepare(yb, {n, g.c_out, g.out_h(), g.out_w()});
  std::fill(yb.f.begin(), yb.f.end(), 777.0f);  // garbage must be overwritten
  k.run(n, blk::data(xb), residual ? blk::data(rb) : nullptr, blk::data(yb));
  const int64_t cb = blk::cblocks(g.c_out), hw = g.out_h() * g.out_w();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = g.c_out; c < cb * 8; ++c)
        EXPECT_EQ(blk::data(yb)[((b * cb + c / 8) * hw + p) * 8 + c % 8], 0.0f) << "padded channel " << c;
  blk::to_plain(yb, y);
  return y.f;
}

ConvGeom geom(int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t k, int64_t stride, int64_t pad) {
  ConvGeom g;
  g.c_in = cin, g.c_out = cout, g.h = h, g.w = w, g.kh = g.kw = k;
  g.stride_h = g.stride_w = stride;
  g.pad_t = g.pad_l = g.pad_b = g.pad_r = pad;
  return g;
}

struct Case {
  std::string name;
  ConvGeom g;
  Activation act;
  bool residual, bias;
  bool winograd;  // expected algorithm
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  cs.push_back({"w_16x16_32x32_res_relu", geom(16, 16, 32, 32, 3, 1, 1), Activation::relu, true, true, true});
  cs.push_back({"w_64x64_8x8_relu", geom(64, 64, 8, 8, 3, 1, 1), Activation::relu, false, true, true});
  cs.push_back({"w_3to16_odd_size", geom(3, 16, 13, 11, 3, 1, 1), Activation::none, false, true, true});
  cs.push_back({"w_5to7_clip_res", geom(5, 7, 9, 10, 3, 1, 1), Activation::clip, true, false, true});
  cs.push_back({"w_24to40_nopad", geom(24, 40, 10, 7, 3, 1, 0), Activation::relu, false, true, true});
  cs.push_back({"w_8to24_pad2", geom(8, 24, 6, 6, 3, 1, 2), Activation::none, true, true, true});
  cs.push_back({"w_tiny_3x3_input", geom(9, 9, 3, 3, 3, 1, 1), Activation::clip, false, true, true});
  {
    auto g = geom(12, 20, 9, 12, 3, 1, 0);
    g.pad_t = 2, g.pad_l = 0, g.pad_b = 1, g.pad_r = 2;  // asymmetric
    cs.push_back({"w_asym_pads", g, Activation::relu, true, true, true});
  }
  cs.push_back({"d_s2_16to32", geom(16, 32, 32, 32, 3, 2, 1), Activation::relu, false, true, false});
  cs.push_back({"d_1x1_res", geom(16, 12, 9, 9, 1, 1, 0), Activation::relu, true, true, false});
  cs.push_back({"d_7x7_s2_3ch", geom(3, 10, 17, 15, 7, 2, 3), Activation::clip, false, true, false});
  // ImageNet ResNet geometries: the 3-channel 7x7 stride-2 stem (oneDNN runs it from a plain
  // NCHW copy of the blocked input), 1x1 stride-2 projections, wide 3x3 (stride 1 and 2).
  // The "big" ones have >= 8M multiply-adds per image: with 2 threads, a batch of 1 splits
  // their output channels over the threads (DnnlBlockedConv::split_worthwhile).
  cs.push_back({"d_stem_7x7_s2_3to64", geom(3, 64, 30, 28, 7, 2, 3), Activation::relu, false, true, false});
  cs.push_back({"d_big_stem_7x7_s2_3to64", geom(3, 64, 64, 64, 7, 2, 3), Activation::relu, false, true, false});
  cs.push_back({"d_1x1_s2_proj", geom(32, 72, 14, 14, 1, 2, 0), Activation::none, false, true, false});
  cs.push_back({"d_big_1x1_s2_proj", geom(256, 160, 32, 32, 1, 2, 0), Activation::none, false, true, false});
  cs.push_back({"d_1x1_s1_res_tail", geom(40, 44, 7, 9, 1, 1, 0), Activation::clip, true, true, false});
  cs.push_back({"d_big_1x1_res_tail", geom(200, 100, 21, 21, 1, 1, 0), Activation::clip, true, true, false});
  cs.push_back({"d_3x3_s2_wide", geom(64, 128, 13, 13, 3, 2, 1), Activation::relu, false, true, false});
  cs.push_back({"d_3x3_s1_wide", geom(136, 136, 7, 7, 3, 1, 1), Activation::relu, true, true, false});
  {
    auto g = geom(8, 8, 11, 11, 3, 1, 2);
    g.dil_h = g.dil_w = 2;
    cs.push_back({"d_dilated", g, Activation::none, true, false, false});
  }
  {  // issue 10: the AVX-512 brgemm crash geometry (output rows entirely in the padding)
    ConvGeom g = geom(3, 5, 2, 18, 1, 1, 2);
    g.kw = 4, g.stride_w = 2, g.dil_h = g.dil_w = 2;
    cs.push_back({"d_issue10_padding_only_rows", g, Activation::relu, true, true, false});
    cs.push_back({"d_padding_only_16ch", geom(16, 24, 5, 5, 1, 2, 3), Activation::clip, true, true, false});
  }
  {
    auto g = geom(8, 16, 9, 9, 3, 1, 1);
    g.groups = 2;
    cs.push_back({"d_groups2", g, Activation::relu, false, true, false});
  }
  return cs;
}

class BlockedConvVsRef : public ::testing::TestWithParam<Case> {};

TEST_P(BlockedConvVsRef, MatchesReference) {
  const Case& c = GetParam();
  const ConvGeom& g = c.g;
  std::mt19937 rng(99);
  const auto w = random_vec(g.weight_numel(), rng);
  const auto b = random_vec(g.c_out, rng);
  Epilogue ep;
  ep.act = c.act, ep.add_residual = c.residual, ep.clip_lo = -0.25f, ep.clip_hi = 0.5f;
  BlockedConvKernel k(g, w.data(), c.bias ? b.data() : nullptr, ep);
  EXPECT_EQ(k.winograd(), c.winograd && avx2_kernels_enabled());
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t n : {1, 3, 7, 1}) {
      const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
      const auto res = random_vec(n * g.c_out * g.out_h() * g.out_w(), rng);
      std::vector<float> want(res.size());
      conv2d_ref(g, n, x.data(), w.data(), c.bias ? b.data() : nullptr, c.residual ? res.data() : nullptr, ep,
                 want.data());
      expect_close(run_blocked(k, n, x, c.residual ? &res : nullptr), want,
                   c.name + " n=" + std::to_string(n) + " threads=" + std::to_string(threads));
    }
  }
  set_num_threads(0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BlockedConvVsRef, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BlockedConv, WinogradAndDirectAgreeOnRandomShapes) {
  if (!avx2_kernels_enabled()) GTEST_SKIP() << "dfmpc's AVX2 kernels are off (CPU or ONEDNN_MAX_CPU_ISA below AVX2): no Winograd";
  std::mt19937 rng(5);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int t = 0; t < 25; ++t) {
    ConvGeom g = geom(pick(1, 40), pick(1, 40), pick(1, 19), pick(1, 19), 3, 1, 0);
    g.pad_t = pick(0, 2), g.pad_l = pick(0, 2), g.pad_b = pick(0, 2), g.pad_r = pick(0, 2);
    if (g.out_h() <= 0 || g.out_w() <= 0) continue;
    Epilogue ep;
    ep.act = static_cast<Activation>(pick(0, 2));
    ep.clip_lo = -0.5f, ep.clip_hi = 0.75f;
    ep.add_residual = pick(0, 1);
    const auto w = random_vec(g.weight_numel(), rng), b = random_vec(g.c_out, rng);
    BlockedConvKernel wino(g, w.data(), b.data(), ep, BlockedConvKernel::Algo::winograd);
    BlockedConvKernel direct(g, w.data(), b.data(), ep, BlockedConvKernel::Algo::direct);
    ASSERT_TRUE(wino.winograd());
    ASSERT_FALSE(direct.winograd());
    const int64_t n = pick(1, 4);
    const auto x = random_vec(n * g.c_in * g.h * g.w, rng);
    const auto res = random_vec(n * g.c_out * g.out_h() * g.out_w(), rng);
    std::vector<float> want(res.size());
    conv2d_ref(g, n, x.data(), w.data(), b.data(), ep.add_residual ? res.data() : nullptr, ep, want.data());
    const auto* r = ep.add_residual ? &res : nullptr;
    expect_close(run_blocked(wino, n, x, r), want, "winograd case " + std::to_string(t));
    expect_close(run_blocked(direct, n, x, r), want, "direct case " + std::to_string(t));
  }
}

TEST(BlockedConv, InPlaceResidual) {
  const ConvGeom g = geom(16, 16, 12, 12, 3, 1, 1);
  std::mt19937 rng(3);
  const auto w = random_vec(g.weight_numel(), rng), b = random_vec(16, rng);
  const auto x = random_vec(2 * 16 * 144, rng), res = random_vec(2 * 16 * 144, rng);
  Epilogue ep;
  ep.act = Activation::relu, ep.add_residual = true;
  std::vector<float> want(res.size());
  conv2d_ref(g, 2, x.data(), w.data(), b.data(), res.data(), ep, want.data());
  for (auto algo : {BlockedConvKernel::Algo::winograd, BlockedConvKernel::Algo::direct}) {
    if (algo == BlockedConvKernel::Algo::winograd && !avx2_kernels_enabled()) continue;
    BlockedConvKernel k(g, w.data(), b.data(), ep, algo);
    Tensor xb, yb, y;
    blk::to_blocked(plain({2, 16, 12, 12}, x), xb);
    blk::to_blocked(plain({2, 16, 12, 12}, res), yb);
    k.run(2, blk::data(xb), blk::data(yb), blk::data(yb));
    blk::to_plain(yb, y);
    expect_close(y.f, want, k.winograd() ? "winograd in place" : "direct in place");
  }
}

TEST(BlockedConv, Errors) {
  std::vector<float> w(1000, 0.0f);
  EXPECT_THROW(BlockedConvKernel(geom(2, 2, 2, 2, 5, 1, 0), w.data(), nullptr, {}), std::runtime_error);
  EXPECT_THROW(BlockedConvKernel(geom(4, 4, 8, 8, 3, 2, 1), w.data(), nullptr, {}, BlockedConvKernel::Algo::winograd),
               std::runtime_error);
  Epilogue ep;
  ep.add_residual = true;
  BlockedConvKernel k(geom(2, 2, 4, 4, 3, 1, 1), w.data(), nullptr, ep);
  std::vector<float> x(4 * 4 * 8), y(4 * 4 * 8);
  EXPECT_THROW(k.run(1, x.data(), nullptr, y.data()), std::runtime_error);
}

// ---- layout conversions and blocked data-movement ops ---------------------------------------

TEST(BlockedLayout, RoundTripAndAlignment) {
  std::mt19937 rng(11);
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 8, 4, 4}, Shape{3, 13, 1, 2}, Shape{2, 16, 3, 3}}) {
    const Tensor x = plain(s, random_vec(shape_numel(s), rng));
    Tensor b, y;
    blk::to_blocked(x, b);
    EXPECT_EQ(b.shape, s);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(blk::data(b)) % 64, 0u);
    blk::to_plain(b, y);
    EXPECT_EQ(y.shape, s);
    EXPECT_EQ(y.f, x.f);
  }
}

Node node(const std::string& op, std::vector<std::string> in) {
  Node n;
  n.name = op;
  n.op = op;
  n.inputs = std::move(in);
  n.outputs = {"y"};
  return n;
}

TEST(BlockedLayout, SlicePadAndPoolMatchReferenceOps) {
  std::mt19937 rng(12);
  const Shape s{3, 13, 7, 6};
  const Tensor x = plain(s, random_vec(shape_numel(s), rng));
  Tensor xb;
  blk::to_blocked(x, xb);
  auto compare_blocked = [&](const Tensor& want, const Tensor& got_blocked, const std::string& what) {
    Tensor got;
    blk::to_plain(got_blocked, got);
    EXPECT_EQ(got.shape, want.shape) << what;
    EXPECT_EQ(got.f, want.f) << what;
  };
  // Slices: spatial with steps (option A shortcut), batch, channels (unaligned), negative step.
  const std::vector<std::vector<std::vector<int64_t>>> slices = {
      {{0, 0}, {INT64_MAX, INT64_MAX}, {2, 3}, {2, 2}},
      {{1}, {3}, {0}, {1}},
      {{3}, {11}, {1}, {1}},
      {{2, -1}, {13, 0}, {1, 3}, {3, -2}},
  };
  for (const auto& sl : slices) {
    const int64_t k = static_cast<int64_t>(sl[0].size());
    const Tensor starts = Tensor::from_i64({k}, sl[0]), ends = Tensor::from_i64({k}, sl[1]);
    const Tensor axes = Tensor::from_i64({k}, sl[2]), steps = Tensor::from_i64({k}, sl[3]);
    const Node n = node("Slice", {"x", "s", "e", "a", "t"});
    std::vector<const Tensor*> in{&x, &starts, &ends, &axes, &steps};
    Tensor want, got;
    std::vector<Tensor*> out{&want};
    ops::slice(n, 13, in, out);
    const ops::SliceParams sp = ops::slice_params(n, 13, in);  // as the executor resolves them
    EXPECT_EQ(sp.out, want.shape);
    blk::slice(xb, sp.begin, sp.step, sp.out, got);
    compare_blocked(want, got, "slice " + shape_str(want.shape));
  }
  // Pads: option A channel pad (aligned), unaligned channel pad with a value, spatial crop.
  const std::vector<std::pair<std::vector<int64_t>, float>> pads = {
      {{0, 8, 0, 0, 0, 8, 0, 0}, 0.0f},
      {{0, 3, 1, 0, 1, 2, 0, 2}, 0.5f},
      {{1, 0, -1, 2, 0, 5, 1, -2}, -1.0f},
  };
  for (const auto& [p, value] : pads) {
    const Tensor pt = Tensor::from_i64({8}, p), vt = Tensor::from_f32({1}, {value});
    Node n = node("Pad", {"x", "p", "v"});
    std::vector<const Tensor*> in{&x, &pt, &vt};
    Tensor want, got;
    std::vector<Tensor*> out{&want};
    ops::pad(n, 13, in, out);
    blk::pad(xb, p, value, want.shape, got);
    compare_blocked(want, got, "pad " + shape_str(want.shape));
  }
  {
    Node n = node("GlobalAveragePool", {"x"});
    std::vector<const Tensor*> in{&x};
    Tensor want, got;
    std::vector<Tensor*> out{&want};
    ops::global_average_pool(n, 13, in, out);
    blk::global_average_pool(xb, got);
    EXPECT_EQ(got.shape, want.shape);
    EXPECT_EQ(got.f, want.f);
  }
}

// MaxPool on the blocked layout against the reference op: the ImageNet stem's 3x3 / stride 2 /
// pad 1, 2x2 / stride 2, ceil_mode with asymmetric pads, dilation, a window wider than the
// input; channels 13 (a padded block, which must stay zero) and 16; 1 and 2 threads.
TEST(BlockedLayout, MaxPoolMatchesReferenceOp) {
  std::mt19937 rng(31);
  struct P {
    std::vector<int64_t> k, s, pads, dil;
    int64_t ceil;
  };
  const std::vector<P> ps = {
      {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0}, {{2, 2}, {2, 2}, {0, 0, 0, 0}, {1, 1}, 0},
      {{3, 2}, {2, 3}, {0, 1, 2, 0}, {1, 1}, 1}, {{2, 3}, {1, 2}, {1, 0, 0, 1}, {2, 2}, 0},
      {{5, 5}, {1, 1}, {2, 2, 2, 2}, {1, 1}, 0},
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Shape& s : {Shape{2, 13, 9, 8}, Shape{1, 16, 12, 11}}) {
      const Tensor x = plain(s, random_vec(shape_numel(s), rng));
      Tensor xb;
      blk::to_blocked(x, xb);
      for (const P& p : ps) {
        Node n = node("MaxPool", {"x"});
        n.attrs["kernel_shape"] = p.k;
        n.attrs["strides"] = p.s;
        n.attrs["pads"] = p.pads;
        n.attrs["dilations"] = p.dil;
        n.attrs["ceil_mode"] = p.ceil;
        std::vector<const Tensor*> in{&x};
        Tensor want, got, got_plain;
        std::vector<Tensor*> out{&want};
        ops::max_pool(n, 13, in, out);
        blk::max_pool(xb, pool_geom(n, x.shape), got);
        const std::string what = "max_pool " + shape_str(s) + " -> " + shape_str(want.shape) +
                                 " threads=" + std::to_string(threads);
        const int64_t cb = blk::cblocks(s[1]), hw = got.shape[2] * got.shape[3];
        for (int64_t b = 0; b < s[0]; ++b)
          for (int64_t c = s[1]; c < cb * 8; ++c)
            for (int64_t q = 0; q < hw; ++q)
              ASSERT_EQ(blk::data(got)[((b * cb + c / 8) * hw + q) * 8 + c % 8], 0.0f) << what << " padded channel";
        blk::to_plain(got, got_plain);
        EXPECT_EQ(got_plain.shape, want.shape) << what;
        EXPECT_EQ(got_plain.f, want.f) << what;
      }
    }
  }
  set_num_threads(0);
}

// ---- thread pool ------------------------------------------------------------------------------

TEST(ThreadPool, RunsEveryItemOnceNestedAndConcurrent) {
  set_num_threads(2);
  for (int64_t n : {0, 1, 2, 3, 17, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool::parallel_for(n, [&](int64_t i, int t) {
      EXPECT_GE(t, 0);
      EXPECT_LT(t, pool::threads());
      hits[i].fetch_add(1);
      int inner = 0;
      pool::parallel_for(3, [&](int64_t, int) { ++inner; });  // nested: inline
      EXPECT_EQ(inner, 3);
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
  // Two external threads sharing the pool (one of them runs inline).
  std::atomic<int64_t> total{0};
  auto work = [&] {
    for (int r = 0; r < 50; ++r) pool::parallel_for(64, [&](int64_t i, int) { total.fetch_add(i); });
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(total.load(), 2 * 50 * (63 * 64 / 2));
  EXPECT_THROW(pool::parallel_for(8,
                                  [](int64_t i, int) {
                                    if (i == 5) throw std::runtime_error("item 5");
                                  }),
               std::runtime_error);
  set_num_threads(0);
}

// ---- executor plans mixing layouts ------------------------------------------------------------

// conv(3->6) -> relu; graph outputs: the conv output (blocked producer) and a channel Slice of
// it (blocked op) followed by Relu (plain op) and Pad (plain input).
Graph mixed_graph() {
  Graph g;
  g.opset = 13;
  g.inputs = {{"x", {-1, 3, 6, 5}}};
  std::mt19937 rng(21);
  g.initializers["w"] = Tensor::from_f32({6, 3, 3, 3}, random_vec(6 * 27, rng));
  g.initializers["b"] = Tensor::from_f32({6}, random_vec(6, rng));
  g.initializers["starts"] = Tensor::from_i64({1}, {1});
  g.initializers["ends"] = Tensor::from_i64({1}, {5});
  g.initializers["axes"] = Tensor::from_i64({1}, {1});
  g.initializers["pads"] = Tensor::from_i64({8}, {0, 1, 0, 0, 0, 0, 1, 1});
  Node conv;
  conv.name = "conv", conv.op = "Conv", conv.inputs = {"x", "w", "b"}, conv.outputs = {"c"};
  conv.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  Node slice;
  slice.name = "slice", slice.op = "Slice", slice.inputs = {"c", "starts", "ends", "axes"}, slice.outputs = {"s"};
  Node relu;
  relu.name = "relu", relu.op = "Relu", relu.inputs = {"s"}, relu.outputs = {"r"};
  Node pad;
  pad.name = "pad", pad.op = "Pad", pad.inputs = {"r", "pads"}, pad.outputs = {"p"};
  g.nodes = {conv, slice, relu, pad};
  g.outputs = {{"p", {}}, {"c", {}}};
  return g;
}

TEST(ExecutorLayouts, MixedBlockedAndPlainStepsMatchReference) {
  const Graph g = mixed_graph();
  std::mt19937 rng(8);
  for (int64_t n : {1, 3}) {
    const auto x = random_vec(n * 3 * 6 * 5, rng);
    Executor ref(g, ExecOptions{true, 0}), fast(g, ExecOptions{false, 0});
    const std::vector<float> want = ref.run(x.data(), n).f;
    const Tensor& got = fast.run(x.data(), n);
    EXPECT_EQ(got.shape, (Shape{n, 5, 7, 6}));
    expect_close(got.f, want, "mixed graph n=" + std::to_string(n));
    EXPECT_EQ(fast.run(x.data(), n).f, got.f);
  }
}

// ImageNet-style stem on the fast path: 7x7 / stride 2 conv from 3 channels (+ BN-free bias,
// ReLU), blocked MaxPool 3x3 / stride 2, a 1x1 stride-2 projection conv, GlobalAveragePool;
// against the reference path at batch 1 and 3, on 1 and 2 threads.
TEST(ExecutorLayouts, StemConvMaxPoolMatchesReference) {
  Graph g;
  g.opset = 13;
  g.inputs = {{"x", {-1, 3, 40, 36}}};
  std::mt19937 rng(41);
  g.initializers["w1"] = Tensor::from_f32({24, 3, 7, 7}, random_vec(24 * 3 * 49, rng));
  g.initializers["b1"] = Tensor::from_f32({24}, random_vec(24, rng));
  g.initializers["w2"] = Tensor::from_f32({20, 24, 1, 1}, random_vec(20 * 24, rng));
  Node conv1;
  conv1.name = "conv1", conv1.op = "Conv", conv1.inputs = {"x", "w1", "b1"}, conv1.outputs = {"c1"};
  conv1.attrs["pads"] = std::vector<int64_t>{3, 3, 3, 3};
  conv1.attrs["strides"] = std::vector<int64_t>{2, 2};
  Node relu;
  relu.name = "relu", relu.op = "Relu", relu.inputs = {"c1"}, relu.outputs = {"r1"};
  Node mp;
  mp.name = "mp", mp.op = "MaxPool", mp.inputs = {"r1"}, mp.outputs = {"m"};
  mp.attrs["kernel_shape"] = std::vector<int64_t>{3, 3};
  mp.attrs["strides"] = std::vector<int64_t>{2, 2};
  mp.attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  Node conv2;
  conv2.name = "conv2", conv2.op = "Conv", conv2.inputs = {"m", "w2"}, conv2.outputs = {"c2"};
  conv2.attrs["strides"] = std::vector<int64_t>{2, 2};
  Node gap;
  gap.name = "gap", gap.op = "GlobalAveragePool", gap.inputs = {"c2"}, gap.outputs = {"y"};
  g.nodes = {conv1, relu, mp, conv2, gap};
  g.outputs = {{"y", {}}};
  for (int threads : {1, 2}) {
    for (int64_t n : {1, 3}) {
      const auto x = random_vec(n * 3 * 40 * 36, rng);
      Executor ref(g, ExecOptions{true, threads}), fast(g, ExecOptions{false, threads});
      const std::vector<float> want = ref.run(x.data(), n).f;
      const Tensor& got = fast.run(x.data(), n);
      EXPECT_EQ(got.shape, (Shape{n, 20, 1, 1}));
      expect_close(got.f, want, "stem n=" + std::to_string(n) + " threads=" + std::to_string(threads));
    }
  }
  set_num_threads(0);
}

// Option-A CIFAR ResNet (blocked convs with residual adds, blocked Slice / Pad shortcut):
// micro-batched runs on 1 and 2 threads, whole-batch runs, and single images all agree with
// the reference path, whatever the micro-batch size.
TEST(ExecutorLayouts, MicroBatchesMatchReferenceOnOptionAResNet) {
  const Graph g = import_onnx((test::fixtures_dir() / "resnet_cifar_optionA_bn.onnx").string());
  const auto four = test::read_f32(test::fixtures_dir() / "resnet_cifar_optionA.input.f32");
  const size_t per_image = four.size() / 4;
  const int64_t n = 11;
  std::vector<float> x(n * per_image);
  for (int64_t i = 0; i < n; ++i)  // images 0-3 and mixtures of them
    for (size_t k = 0; k < per_image; ++k)
      x[i * per_image + k] = four[(i % 4) * per_image + k] * (1.0f + 0.1f * float(i / 4)) - 0.05f * float(i % 3);
  Executor ref(g, ExecOptions{true, 1});
  const std::vector<float> want = ref.run(x.data(), n).f;
  for (const char* micro : {"1", "3", "0", ""}) {
    if (*micro) setenv("DFMPC_MICROBATCH", micro, 1);
    else unsetenv("DFMPC_MICROBATCH");
    for (int threads : {1, 2}) {
      Executor fast(g, ExecOptions{false, threads});
      for (int rep = 0; rep < 2; ++rep) {
        const Tensor& got = fast.run(x.data(), n);
        EXPECT_EQ(got.shape, (Shape{n, 10}));
        expect_close(got.f, want, std::string("micro=") + micro + " threads=" + std::to_string(threads));
      }
      const Tensor& one = fast.run(x.data() + 5 * per_image, 1);
      expect_close(one.f, std::vector<float>(want.begin() + 50, want.begin() + 60), "single image");
    }
  }
  unsetenv("DFMPC_MICROBATCH");
  set_num_threads(0);
}


// A large model (e.g. a torchvision ResNet-50 at 224x224, tools/make_resnet50_onnx.py) named by
// DFMPC_LARGE_MODEL: the fast path, at batch 1 and in micro-batches on 2 threads, against the
// reference path on 2 pseudo-random images. Skipped when the variable is unset (the reference
// convolutions take about 15 s on ResNet-50).
TEST(ExecutorLayouts, LargeModelMatchesReference) {
  const char* path = std::getenv("DFMPC_LARGE_MODEL");
  if (!path || !*path) GTEST_SKIP() << "opt-in: set DFMPC_LARGE_MODEL to a large ONNX model (e.g. one written by tools/make_resnet50_onnx.py) to run it";
  const Graph g = import_onnx(path);
  int64_t per_image = 1;
  for (size_t k = 1; k < g.inputs[0].shape.size(); ++k) per_image *= g.inputs[0].shape[k];
  std::mt19937 rng(5);
  const int64_t n = 2;
  std::vector<float> x = random_vec(n * per_image, rng);
  for (auto& v : x) v *= 2.0f;
  Executor ref(g, ExecOptions{true, 2});
  const std::vector<float> want = ref.run(x.data(), n).f;
  Executor fast(g, ExecOptions{false, 2});
  expect_close(fast.run(x.data(), n).f, want, "batch of 2");
  const int64_t per_out = static_cast<int64_t>(want.size()) / n;
  for (int64_t i = 0; i < n; ++i)
    expect_close(fast.run(x.data() + i * per_image, 1).f,
                 std::vector<float>(want.begin() + i * per_out, want.begin() + (i + 1) * per_out),
                 "image " + std::to_string(i) + " alone");
  set_num_threads(0);
}

}  // namespace
}  // namespace dfmpc
