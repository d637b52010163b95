// Low-bit execution: LowBitConvKernel (convolution straight from packed codes, nChw8c) against
// its reference conv2d_lowbit_ref (dequantize + conv2d_ref) on random shapes, bit widths and
// epilogues, and PackedWeight's code reader / dequantization.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/kernels/blocked.h"
#include "runtime/kernels/conv.h"
#include "runtime/kernels/cpu_features.h"
#include "runtime/kernels/conv_lowbit.h"
#include "runtime/packed_weights.h"

namespace dfmpc {
namespace {

std::vector<float> random_vec(int64_t count, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = d(rng);
  return v;
}

// Random b-bit codes packed LSB-first, bit by bit (the layout of quant/packing/bit_packing.h),
// with per-channel or per-tensor scale and zero (half-integer zeros included).
PackedWeight random_weight(const Shape& shape, int bits, bool per_channel, std::mt19937& rng,
                           std::vector<uint8_t>* codes_out = nullptr) {
  PackedWeight w;
  w.bits = bits;
  w.shape = shape;
  const int64_t n = shape_numel(shape), groups = per_channel ? shape[0] : 1;
  w.group_size = n / groups;
  std::uniform_int_distribution<int> code(0, (1 << bits) - 1);
  std::vector<uint8_t> codes(static_cast<size_t>(n));
  for (auto& c : codes) c = static_cast<uint8_t>(code(rng));
  w.codes.assign(static_cast<size_t>((n * bits + 7) / 8), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int b = 0; b < bits; ++b)
      if ((codes[i] >> b) & 1) w.codes[(i * bits + b) / 8] |= static_cast<uint8_t>(1 << ((i * bits + b) % 8));
  std::uniform_real_distribution<float> scale(0.01f, 0.2f);
  for (int64_t g = 0; g < groups; ++g) {
    w.scale.push_back(g == 1 ? 0.0f : scale(rng));  // group 1 (if any): an all-zero channel
    w.zero.push_back(static_cast<float>(code(rng)) + (g % 3 == 2 ? 0.5f : 0.0f));
  }
  if (codes_out) *codes_out = codes;
  return w;
}

struct Case {
  int64_t n, c_in, h, w, c_out, k, stride, pad, dil;
  int bits;
  bool per_channel, residual;
  Activation act;
};

std::string describe(const Case& c) {
  std::ostringstream os;  // (not operator+: GCC 12 warns falsely (-Wrestrict) on "literal" + string)
  os << "n" << c.n << " " << c.c_in << "x" << c.h << "x" << c.w << " -> " << c.c_out << " k" << c.k << " s"
     << c.stride << " p" << c.pad << " d" << c.dil << " bits " << c.bits;
  return os.str();
}

void check_case(const Case& c, std::mt19937& rng) {
  ConvGeom g;
  g.c_in = c.c_in, g.h = c.h, g.w = c.w, g.c_out = c.c_out, g.kh = g.kw = c.k;
  g.stride_h = g.stride_w = c.stride;
  g.pad_t = g.pad_l = c.pad;
  g.pad_b = g.pad_r = c.pad + (c.k == 5 ? 1 : 0);  // asymmetric for the 5x5 cases
  g.dil_h = g.dil_w = c.dil;
  const PackedWeight w = random_weight({c.c_out, c.c_in, c.k, c.k}, c.bits, c.per_channel, rng);
  ASSERT_EQ(LowBitConvKernel::supports(w, 1), avx2_kernels_enabled());
  if (!avx2_kernels_enabled()) GTEST_SKIP() << "dfmpc's AVX2 kernels are off (CPU or ONEDNN_MAX_CPU_ISA below AVX2)";
  const auto channel_scale = random_vec(c.c_out, rng, 0.5f, 2.0f), bias = random_vec(c.c_out, rng);
  Epilogue ep;
  ep.act = c.act;
  ep.clip_lo = 0.25f;  // > 0: padded output channels must still come out as zeros
  ep.clip_hi = 3.0f;
  ep.add_residual = c.residual;
  const auto x = random_vec(c.n * c.c_in * c.h * c.w, rng);
  const Shape ys{c.n, c.c_out, g.out_h(), g.out_w()};
  const auto residual = random_vec(shape_numel(ys), rng);

  std::vector<float> want(static_cast<size_t>(shape_numel(ys)));
  conv2d_lowbit_ref(g, c.n, x.data(), w, channel_scale.data(), bias.data(), c.residual ? residual.data() : nullptr,
                    ep, want.data());

  LowBitConvKernel k(g, w, channel_scale.data(), bias.data(), ep);
  Tensor xb, yb, got;
  blk::to_blocked(Tensor::from_f32({c.n, c.c_in, c.h, c.w}, x), xb);
  if (c.residual) blk::to_blocked(Tensor::from_f32(ys, residual), yb);  // in place: residual == y
  else blk::prepare(yb, ys);
  k.run(c.n, blk::data(xb), c.residual ? blk::data(yb) : nullptr, blk::data(yb));
  const float* raw = blk::data(yb);
  const int64_t cbo = blk::cblocks(c.c_out), pixels = g.out_h() * g.out_w();
  for (int64_t i = 0; i < c.n * cbo * pixels * 8; ++i)
    if (i % 8 >= c.c_out - (i / (pixels * 8) % cbo) * 8) {
      ASSERT_EQ(raw[i], 0.0f) << describe(c) << ": padded channel";
    }
  blk::to_plain(yb, got);

  double scale = 1.0;
  for (float v : want) scale = std::max(scale, double(std::fabs(v)));
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i)
    if (!(std::fabs(double(got.f[i]) - want[i]) <= 1e-5 * scale)) {
      ADD_FAILURE() << describe(c) << " at " << i << ": got " << got.f[i] << " want " << want[i];
      ++bad;
    }
}

TEST(LowBitConv, MatchesDequantizedReference) {
  std::mt19937 rng(7);
  const std::vector<Case> cases = {
      // ResNet-like: 3x3 stride 1 / 2 with padding, 1x1 projections, 2 and 6 bits.
      {2, 16, 12, 12, 16, 3, 1, 1, 1, 2, true, true, Activation::relu},
      {1, 16, 13, 13, 32, 3, 2, 1, 1, 6, true, false, Activation::relu},
      {3, 32, 8, 8, 64, 1, 2, 0, 1, 3, false, false, Activation::none},
      {1, 8, 5, 30, 8, 1, 1, 0, 1, 8, true, true, Activation::none},
      // Channels that are not multiples of 8, widths that are not multiples of the tile.
      {2, 3, 11, 17, 10, 3, 1, 1, 1, 6, true, false, Activation::clip},
      {1, 12, 7, 25, 5, 3, 1, 0, 1, 1, false, true, Activation::clip},
      // 5x5, dilation 2, asymmetric padding, stride 3 (generic stride path), 4 / 5 bits.
      {1, 9, 14, 14, 11, 5, 1, 2, 2, 4, true, false, Activation::relu},
      {2, 8, 16, 19, 8, 5, 3, 2, 1, 5, false, true, Activation::none},
      // More input channels than one decoded chunk holds (partial sums, in-place residual).
      {1, 100, 6, 6, 16, 3, 1, 1, 1, 2, true, true, Activation::relu},
      {2, 200, 4, 9, 12, 1, 1, 0, 1, 7, true, true, Activation::clip},
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : cases) check_case(c, rng);
  }
  set_num_threads(0);
}

TEST(LowBitConv, UnsupportedWeightsAreRejected) {
  std::mt19937 rng(3);
  PackedWeight w = random_weight({8, 4, 3, 3}, 2, true, rng);
  EXPECT_EQ(LowBitConvKernel::supports(w, 1), avx2_kernels_enabled());
  EXPECT_FALSE(LowBitConvKernel::supports(w, 2));  // grouped: FP32 path
  PackedWeight sub = w;
  sub.group_size = 12;  // groups smaller than an output channel
  sub.scale.resize(24), sub.zero.resize(24);
  EXPECT_FALSE(LowBitConvKernel::supports(sub, 1));
  PackedWeight gemm = random_weight({10, 64}, 8, true, rng);
  EXPECT_FALSE(LowBitConvKernel::supports(gemm, 1));
}

TEST(PackedWeight, CodesAndDequantizationFollowTheBitStream) {
  std::mt19937 rng(11);
  for (int bits = 1; bits <= 8; ++bits) {
    std::vector<uint8_t> codes;
    const PackedWeight w = random_weight({6, 5, 1, 3}, bits, bits % 2 == 0, rng, &codes);
    const auto deq = dequantize_packed(w);
    for (int64_t i = 0; i < w.numel(); ++i) {
      ASSERT_EQ(w.code(i), codes[i]) << bits << " bits, code " << i;
      const int64_t g = i / w.group_size;
      ASSERT_EQ(deq[i], w.scale[g] * (static_cast<float>(codes[i]) - w.zero[g]));
    }
  }
}

}  // namespace
}  // namespace dfmpc
