// Defining properties of every weight quantizer (see src/quant/quantizers/).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/quantizers/quant_scheme.h"

namespace dfmpc {
namespace {

using Shape = std::vector<int64_t>;
constexpr auto k_pc = Granularity::per_channel;
constexpr auto k_pt = Granularity::per_tensor;

std::vector<float> random_weights(size_t n, uint32_t seed, bool laplace = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::exponential_distribution<float> expo(20.0f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> w(n);
  for (float& v : w) v = laplace ? (sign(rng) ? 1 : -1) * expo(rng) : normal(rng);
  return w;
}

QuantResult run(QuantScheme s, const std::vector<float>& w, const Shape& shape, int bits,
                Granularity g = k_pc, QuantOptions opt = {}) {
  opt.bits = bits, opt.granularity = g;
  return quantize_weights(s, WeightView{w, shape}, opt);
}

// Every value is scale * (code - zero) with an in-range code, bit for bit.
void expect_on_grid(const QuantResult& r, const std::string& what) {
  const QuantizedTensor& t = r.tensor;
  ASSERT_EQ(r.w_hat.size(), t.q.size()) << what;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t g = i / t.group_size;
    ASSERT_TRUE(std::isfinite(r.w_hat[i]) && std::isfinite(t.scale[g])) << what;
    ASSERT_LE(t.q[i], t.max_code()) << what;
    ASSERT_EQ(r.w_hat[i], dequantize_code(t.scale[g], t.q[i], t.zero[g])) << what;
    if (t.scale[g] == 0.0f) continue;
    const double code = r.w_hat[i] / double(t.scale[g]) + t.zero[g];
    ASSERT_NEAR(code, t.q[i], 1e-3) << what << " i=" << i;
  }
}

TEST(QuantScheme, RegistryNamesRoundTrip) {
  EXPECT_EQ(quant_schemes().size(), size_t(QuantScheme::count));
  for (const QuantSchemeTraits& t : quant_schemes()) {
    EXPECT_EQ(quant_scheme_from_name(t.name), t.scheme);
    EXPECT_EQ(&quant_scheme_traits(t.scheme), &t);
  }
  try {
    quant_scheme_from_name("ternary");
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("twn, dorefa, sym, asym, omse, squant, ternary_mse, dorefa_mse, squant_mse"),
              std::string::npos) << e.what();
  }
}

TEST(QuantScheme, RejectsBadInputs) {
  const std::vector<float> w = random_weights(12, 1);
  EXPECT_THROW(run(QuantScheme::twn, w, {3, 4}, 4), std::invalid_argument);
  EXPECT_THROW(run(QuantScheme::sym, w, {3, 4}, 9), std::invalid_argument);
  EXPECT_THROW(run(QuantScheme::sym, w, {3, 5}, 4), std::invalid_argument);
  EXPECT_THROW(run(QuantScheme::sym, {}, {0}, 4), std::invalid_argument);
}

// All schemes, bit widths and granularities on conv, 1x1, FC and degenerate tensors.
TEST(QuantScheme, EveryValueOnItsGrid) {
  struct Case {
    Shape shape;
    std::vector<float> w;
  };
  std::vector<Case> cases = {{{8, 4, 3, 3}, random_weights(288, 2)},
                             {{6, 5, 1, 1}, random_weights(30, 3, true)},
                             {{10, 7}, random_weights(70, 4)},
                             {{4, 2, 3, 3}, std::vector<float>(72, 0.0f)},
                             {{1}, {0.37f}},
                             {{1, 1, 1, 1}, {-2.5f}},
                             {{}, {0.0f}}};
  cases[0].w[5] = 0.0f;  // a zero inside a tensor
  for (float& v : std::span(cases[0].w).subspan(36, 36)) v = 0.0f;  // an all-zero channel
  for (const QuantSchemeTraits& t : quant_schemes())
    for (int bits = t.min_bits; bits <= t.max_bits; ++bits)
      for (Granularity g : {k_pt, k_pc})
        for (const Case& c : cases) {
          const std::string what = std::string(t.name) + " bits " + std::to_string(bits) +
                                   (g == k_pc ? " pc " : " pt ") + std::to_string(c.w.size());
          const QuantResult r = run(t.scheme, c.w, c.shape, bits, g);
          expect_on_grid(r, what);
          if (c.w.size() == 72) {
            for (float v : r.w_hat) ASSERT_EQ(v, 0.0f) << what;
          }
          if (c.w.size() == 1 && t.scheme != QuantScheme::dorefa) {  // DoReFa has no zero
            EXPECT_NEAR(r.w_hat[0], c.w[0], 1e-6) << what;
          }
        }
}

TEST(Twn, HandWorkedExample) {
  // mean|W| = 3.05/6, delta = 0.7 * 0.508333 = 0.355833: kept -0.5, 0.9, -1.2, alpha = 2.6/3.
  const std::vector<float> w = {0.1f, -0.5f, 0.9f, -0.05f, 0.3f, -1.2f};
  const QuantResult r = run(QuantScheme::twn, w, {6}, 2, k_pt);
  EXPECT_EQ(r.tensor.q, (std::vector<uint8_t>{1, 0, 2, 1, 1, 0}));
  EXPECT_FLOAT_EQ(r.tensor.scale[0], 2.6f / 3.0f);
  EXPECT_EQ(r.tensor.zero[0], 1.0f);
  // Per channel: row 0 = {1, -1} -> delta 0.7, alpha 1; row 1 = {0.1, 0.3} -> delta 0.14.
  const QuantResult c = run(QuantScheme::twn, {1.0f, -1.0f, 0.1f, 0.3f}, {2, 2}, 2, k_pc);
  EXPECT_EQ(c.tensor.q, (std::vector<uint8_t>{2, 0, 1, 2}));
  EXPECT_FLOAT_EQ(c.tensor.scale[0], 1.0f);
  EXPECT_FLOAT_EQ(c.tensor.scale[1], 0.3f);
}

TEST(Dorefa, MatchesEquation6InDouble) {
  const std::vector<float> w = random_weights(16 * 8 * 9, 5, true);
  for (int bits = 2; bits <= 8; ++bits)
    for (Granularity g : {k_pt, k_pc}) {
      const QuantResult r = run(QuantScheme::dorefa, w, {16, 8, 3, 3}, bits, g);
      const int64_t gs = r.tensor.group_size;
      const double n = std::pow(2.0, bits) - 1.0;
      for (size_t i = 0; i < w.size(); i += gs) {
        double m = 0.0;
        for (size_t j = i; j < i + gs; ++j) m = std::max(m, std::fabs(double(w[j])));
        for (size_t j = i; j < i + gs; ++j) {
          const double eq6 = m * (2.0 * std::nearbyint(n * (w[j] / (2.0 * m) + 0.5)) / n - 1.0);
          ASSERT_NEAR(r.w_hat[j], eq6, 1e-6 * m) << bits << " " << j;
        }
      }
    }
}

TEST(Uniform, RoundToNearestWithinHalfAStep) {
  const std::vector<float> w = random_weights(32 * 16 * 9, 6, true);
  for (QuantScheme s : {QuantScheme::sym, QuantScheme::asym})
    for (int bits = 2; bits <= 8; ++bits)
      for (Granularity g : {k_pt, k_pc}) {
        const QuantResult r = run(s, w, {32, 16, 3, 3}, bits, g);
        for (size_t i = 0; i < w.size(); ++i) {
          const float step = r.tensor.scale[i / r.tensor.group_size];
          ASSERT_LE(std::fabs(w[i] - r.w_hat[i]), step * 0.5f * (1 + 1e-5f)) << bits << " " << i;
        }
      }
}

// OMSE's objective in exact arithmetic: the float w^ = s*q carries ~1e-7 relative noise on
// the SSE, far above the 1e-9 tolerance, so both sides use s*q in double.
double level_sse(std::span<const float> w, float s, float l) {
  double e = 0.0;
  for (float v : w) {
    const double d = v - double(s) * std::clamp(std::nearbyint(v / s), -l, l);
    e += d * d;
  }
  return e;
}

// Brute force over 2000 scales in [0.05, 1] * max|W| / L, one group.
double brute_force_sse(std::span<const float> w, int bits) {
  const float l = float((1 << (bits - 1)) - 1);
  float m = 0.0f;
  for (float v : w) m = std::max(m, std::fabs(v));
  double best = INFINITY;
  for (int k = 0; k < 2000; ++k)
    best = std::min(best, level_sse(w, float(m / double(l) * (0.05 + 0.95 * k / 1999.0)), l));
  return best;
}

TEST(Omse, AtLeastAsGoodAsBruteForceAndSym) {
  struct Case {
    Shape shape;
    uint32_t seed;
    bool laplace;
  };
  // Per tensor 9216 and 4608 (4 bit) and per channel 288 (8 bit) take the coarse-grid path;
  // the rest sweep the whole range.
  for (const Case& c : {Case{{32, 32, 3, 3}, 7, false}, Case{{32, 16, 3, 3}, 8, true},
                        Case{{16, 3, 3, 3}, 9, true}, Case{{10, 64}, 10, false}})
    for (int bits : {2, 3, 4, 8})
      for (Granularity g : {k_pt, k_pc}) {
        int64_t n = 1;
        for (int64_t d : c.shape) n *= d;
        const std::vector<float> w = random_weights(n, c.seed, c.laplace);
        const QuantizedTensor omse = run(QuantScheme::omse, w, c.shape, bits, g).tensor;
        const QuantizedTensor sym = run(QuantScheme::sym, w, c.shape, bits, g).tensor;
        const float l = omse.zero[0];
        for (int64_t i = 0; i < omse.n_groups(); ++i) {
          const std::span<const float> x(w.data() + i * omse.group_size, omse.group_size);
          const std::string what = std::to_string(n) + " bits " + std::to_string(bits) +
                                   " group " + std::to_string(i);
          const double mine = level_sse(x, omse.scale[i], l);
          ASSERT_LE(mine, level_sse(x, sym.scale[i], l)) << what;
          ASSERT_LE(mine, brute_force_sse(x, bits) * (1 + 1e-9)) << what;
        }
      }
}

double sse(std::span<const float> w, std::span<const float> w_hat) {
  double e = 0.0;
  for (size_t i = 0; i < w.size(); ++i) e += (double(w[i]) - w_hat[i]) * (double(w[i]) - w_hat[i]);
  return e;
}

// Ternary {-a, 0, a}: for every threshold t (each |w| of the group), the best a is the mean
// of the kept |w|; the exact optimum is the best of those.
double brute_force_ternary_sse(std::span<const float> w) {
  double best = 0.0;
  for (float v : w) best += double(v) * v;  // a = 0
  for (float t : w) {
    double kept = 0.0, n = 0.0;
    for (float v : w)
      if (std::fabs(v) >= std::fabs(t)) kept += std::fabs(v), n += 1;
    const double a = kept / n;
    double e = 0.0;
    for (float v : w) {
      const double d = std::fabs(v) >= std::fabs(t) ? std::fabs(v) - a : std::fabs(v);
      e += d * d;
    }
    best = std::min(best, e);
  }
  return best;
}

TEST(TernaryMse, IsTheExactLeastSquaresTernaryAndBeatsTwn) {
  for (bool laplace : {false, true})
    for (Granularity g : {k_pt, k_pc}) {
      const Shape shape{8, 4, 3, 3};
      const std::vector<float> w = random_weights(8 * 36, laplace ? 21 : 22, laplace);
      const QuantResult r = run(QuantScheme::ternary_mse, w, shape, 2, g);
      const QuantResult twn = run(QuantScheme::twn, w, shape, 2, g);
      expect_on_grid(r, "ternary_mse");
      const int64_t gs = r.tensor.group_size;
      for (int64_t i = 0; i < r.tensor.n_groups(); ++i) {
        const std::span<const float> x(w.data() + i * gs, gs);
        const std::span<const float> mine(r.w_hat.data() + i * gs, gs), theirs(twn.w_hat.data() + i * gs, gs);
        for (float v : mine) ASSERT_TRUE(v == 0.0f || std::fabs(v) == r.tensor.scale[i]);
        EXPECT_NEAR(sse(x, mine), brute_force_ternary_sse(x), 1e-6 * brute_force_ternary_sse(x));
        EXPECT_LE(sse(x, mine), sse(x, theirs) * (1 + 1e-9));
      }
    }
}

// DoReFa's grid: levels (c - n/2) s, c = 0..n, n = 2^k - 1; brute force over 4000 scales.
double brute_force_half_grid_sse(std::span<const float> w, int bits) {
  const double n = (1 << bits) - 1;
  float m = 0.0f;
  for (float v : w) m = std::max(m, std::fabs(v));
  double best = INFINITY;
  for (int k = 1; k <= 4000; ++k) {
    const double s = 2.0 * m / n * k / 4000.0;
    double e = 0.0;
    for (float v : w) {
      const double d = v - s * (std::clamp(std::nearbyint(v / s + n / 2), 0.0, n) - n / 2);
      e += d * d;
    }
    best = std::min(best, e);
  }
  return best;
}

TEST(DorefaMse, NearTheBestScaleOfItsGridAndNeverWorseThanDorefa) {
  for (bool laplace : {false, true})
    for (int bits : {2, 3, 4, 6})
      for (Granularity g : {k_pt, k_pc}) {
        const Shape shape{6, 8, 3, 3};
        const std::vector<float> w = random_weights(6 * 72, laplace ? 31 : 32, laplace);
        const QuantResult r = run(QuantScheme::dorefa_mse, w, shape, bits, g);
        const QuantResult d = run(QuantScheme::dorefa, w, shape, bits, g);
        expect_on_grid(r, "dorefa_mse");
        const int64_t gs = r.tensor.group_size;
        for (int64_t i = 0; i < r.tensor.n_groups(); ++i) {
          const std::span<const float> x(w.data() + i * gs, gs);
          const double mine = sse(x, {r.w_hat.data() + i * gs, size_t(gs)});
          const std::string what = "bits " + std::to_string(bits) + " group " + std::to_string(i);
          EXPECT_EQ(r.tensor.zero[i], d.tensor.zero[i]) << what;  // the same grid
          EXPECT_LE(mine, sse(x, {d.w_hat.data() + i * gs, size_t(gs)}) * (1 + 1e-9)) << what;
          EXPECT_LE(mine, brute_force_half_grid_sse(x, bits) * 1.01) << what;
        }
      }
}

// SQuant in code units: u = w/scale + zero, error e = q - u.
struct SquantErrors {
  double max_elem = 0, max_kernel = 0, max_channel = 0;
};
SquantErrors squant_errors(const std::vector<float>& w, const QuantResult& r, int64_t co,
                           int64_t kernel) {
  const QuantizedTensor& t = r.tensor;
  SquantErrors out;
  const int64_t cs = t.numel() / co;
  for (int64_t c = 0; c < co; ++c) {
    double ec = 0.0;
    for (int64_t k = c * cs; k < (c + 1) * cs; k += kernel) {
      double ek = 0.0;
      for (int64_t i = k; i < k + kernel; ++i) {
        const int64_t g = i / t.group_size;
        const float u = t.scale[g] == 0.0f ? t.zero[g] : w[i] / t.scale[g] + t.zero[g];
        const double e = double(t.q[i]) - u;
        out.max_elem = std::max(out.max_elem, std::fabs(e));
        ek += e;
      }
      out.max_kernel = std::max(out.max_kernel, std::fabs(ek));
      ec += ek;
    }
    out.max_channel = std::max(out.max_channel, std::fabs(ec));
  }
  return out;
}

TEST(Squant, CaseBoundsHold) {
  // 7x7 kernels often need >= 4 flips in one kernel (the partial-sort path).
  for (const Shape& shape : {Shape{32, 16, 3, 3}, Shape{16, 32, 1, 1}, Shape{10, 64},
                             Shape{8, 1, 5, 5}, Shape{12, 6, 3, 3}, Shape{16, 4, 7, 7}})
    for (SquantGrid grid : {SquantGrid::asym, SquantGrid::sym})
      for (Granularity g : {k_pt, k_pc})
        for (int bits : {2, 4, 6}) {
          int64_t n = 1;
          for (int64_t d : shape) n *= d;
          const std::vector<float> w = random_weights(n, uint32_t(n + bits), bits == 4);
          QuantOptions opt;
          opt.squant_grid = grid;
          const QuantResult r = run(QuantScheme::squant, w, shape, bits, g, opt);
          const int64_t kernel = shape.size() == 4 ? shape[2] * shape[3] : 1;
          const SquantErrors e = squant_errors(w, r, shape[0], kernel);
          const std::string what = std::to_string(n) + " bits " + std::to_string(bits);
          EXPECT_LT(e.max_elem, 1.0) << what;
          EXPECT_LE(e.max_kernel, 1.0 + 1e-4) << what;
          EXPECT_LE(e.max_channel, 0.5 + 1e-4) << what;
          opt.squant_kernel = opt.squant_channel = false;  // squant-e = round to nearest
          const QuantResult e_only = run(QuantScheme::squant, w, shape, bits, g, opt);
          EXPECT_LE(squant_errors(w, e_only, shape[0], kernel).max_elem, 0.5 + 1e-4) << what;
        }
}

// squant_mse: SQuant's flipping on dorefa_mse's grid. The grid clips, so the CASE bounds
// hold where nothing is clipped; everywhere the codes stay within one step of round to
// nearest and the kernel error sums are never worse than round to nearest's.
TEST(Squant, MseGridVariantFlipsOnTheLeastSquaresGrid) {
  for (const Shape& shape : {Shape{16, 8, 3, 3}, Shape{8, 16, 1, 1}, Shape{6, 2, 5, 5}})
    for (int bits : {2, 3, 6}) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      const std::vector<float> w = random_weights(n, uint32_t(n + 7 * bits), bits == 3);
      const QuantResult r = run(QuantScheme::squant_mse, w, shape, bits, k_pc);
      const QuantResult rtn = run(QuantScheme::dorefa_mse, w, shape, bits, k_pc);
      const std::string what = std::to_string(n) + " bits " + std::to_string(bits);
      expect_on_grid(r, what);
      EXPECT_EQ(r.tensor.scale, rtn.tensor.scale) << what;
      EXPECT_EQ(r.tensor.zero, rtn.tensor.zero) << what;
      for (int64_t i = 0; i < n; ++i) ASSERT_LE(std::abs(int(r.tensor.q[i]) - int(rtn.tensor.q[i])), 1) << what;
      const int64_t kernel = shape[2] * shape[3];
      const SquantErrors mine = squant_errors(w, r, shape[0], kernel), nearest = squant_errors(w, rtn, shape[0], kernel);
      if (kernel > 1) {
        EXPECT_LE(mine.max_kernel, std::max(nearest.max_kernel, 1.0 + 1e-4)) << what;
      }
      EXPECT_LE(mine.max_channel, std::max(nearest.max_channel, 0.5 + 1e-4)) << what;
    }
}

TEST(Squant, KernelWithZeroErrorSumIsGuarded) {
  // Sym grid, 4 bit, max 7: scale 1, u = w + 7 exactly. Kernel 0 errors {0, -.25, .25, 0..}
  // sum to exactly 0; kernel 1 errors {-.25, -.25, -.25}; channel 1 is all zero.
  std::vector<float> w(2 * 2 * 9, 0.0f);
  const std::vector<float> k0 = {7, 0.25f, -0.25f}, k1 = {1.25f, 2.25f, -3.75f};
  std::copy(k0.begin(), k0.end(), w.begin());
  std::copy(k1.begin(), k1.end(), w.begin() + 9);
  QuantOptions opt;
  opt.squant_grid = SquantGrid::sym;
  const QuantResult r = run(QuantScheme::squant, w, {2, 2, 3, 3}, 4, k_pc, opt);
  expect_on_grid(r, "E_K = 0");
  const SquantErrors e = squant_errors(w, r, 2, 9);
  EXPECT_LT(e.max_elem, 1.0);
  EXPECT_LE(e.max_kernel, 1.0);
  EXPECT_LE(e.max_channel, 0.5);
  EXPECT_EQ(std::vector<uint8_t>(r.tensor.q.begin(), r.tensor.q.begin() + 3),
            (std::vector<uint8_t>{14, 7, 7}));  // kernel 0 untouched
  EXPECT_EQ(r.w_hat[0], 7.0f);
}

}  // namespace
}  // namespace dfmpc
