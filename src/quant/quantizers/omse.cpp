// OMSE: per group, the scale s minimising SSE(s) = ||W - s*clip(round(W/s), -L, L)||^2.
//
// SSE(s) is continuous and piecewise quadratic: with B = sum|w|q and C = sum q^2 fixed,
// SSE = A - 2Bs + Cs^2 between the breakpoints s = |w|/(j + 1/2) where an element changes
// level, and every breakpoint is a concave kink. So there are many local minima, each inside a
// piece, and the region near the optimum is flat and jagged (at 8 bit the best pieces can lie
// several percent apart); golden section, which assumes one minimum, stops in the wrong piece.
// Instead:
// 1. a coarse grid over s in [0.05, 1] * max|W|/L finds the region worth searching: every
//    grid interval next to a point within 2% of the coarse minimum or at one of the 3 best
//    local minima (small groups skip this and search the whole range);
// 2. an exact sweep over the pieces of that region minimises each piece in closed form;
// 3. alternating least squares (Q = codes at s, s = <W,Q>/<Q,Q>) polishes the best scale.
// Every candidate is scored by fit_at (the codes quantize would pick, the objective in
// double), and the sym scale max|W|/L is always a candidate.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {
namespace {

using namespace quant_detail;

constexpr int k_coarse_points = 64;
constexpr double k_near_min = 0.02;        // coarse points this close to the minimum ...
constexpr size_t k_basins = 3;             // ... and the best local minima are refined
constexpr int64_t k_full_sweep_max = 512;  // n * L up to which the whole range is swept
constexpr int k_als_iters = 16;

// Ranking only: reciprocal multiply and float lanes.
double coarse_sse(std::span<const float> x, float s, float l) {
  const float inv = 1.0f / s;
  float acc[k_lanes] = {};
  auto err2 = [&](float v) {
    const float d = v - s * std::clamp(std::nearbyint(v * inv), -l, l);
    return d * d;
  };
  size_t i = 0;
  for (; i + k_lanes <= x.size(); i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j) acc[j] += err2(x[i + j]);
  for (; i < x.size(); ++i) acc[0] += err2(x[i]);
  double sse = 0.0;
  for (float a : acc) sse += a;
  return sse;
}

// At scale s, with the codes sym_encode picks: SSE in double (the objective; the float w^
// adds ~1e-7 relative noise, which would let an arbitrary grid point beat the optimum), and
// <W,Q>, <Q,Q> for the least-squares update s = <W,Q>/<Q,Q>.
struct Fit {
  double sse = 0.0, xq = 0.0, qq = 0.0;
};
Fit fit_at(std::span<const float> x, float s, float l) {
  double sse[k_lanes] = {}, xq[k_lanes] = {}, qq[k_lanes] = {};
  auto visit = [&](float v, size_t lane) {
    const double r = std::clamp(round_code(v / s), -l, l);
    const double d = v - static_cast<double>(s) * r;
    sse[lane] += d * d, xq[lane] += v * r, qq[lane] += r * r;
  };
  size_t i = 0;
  for (; i + k_lanes <= x.size(); i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j) visit(x[i + j], j);
  for (; i < x.size(); ++i) visit(x[i], 0);
  Fit f;
  for (size_t j = 0; j < k_lanes; ++j) f.sse += sse[j], f.xq += xq[j], f.qq += qq[j];
  return f;
}

struct Scratch {
  std::vector<double> coarse;
  std::vector<int> order;
  std::vector<char> marked;
  std::vector<uint8_t> q_lo, q_hi;
  std::vector<uint32_t> moving;
  std::vector<uint64_t> bp;
};

// Exact minimiser of SSE over [lo, hi]: levels only drop as s grows, so one sorted sweep over
// the breakpoints visits every piece, updating B and C as it goes. A breakpoint is keyed as
// (float bits of s, element index) so that one integer sort orders them; the level it drops
// to is floor(|w|/s), recovered exactly since |w|/s = j + 1/2 up to float rounding.
double sweep_best_scale(std::span<const float> x, int levels, double lo, double hi,
                        Scratch& sc) {
  const size_t n = x.size();
  const float inv_lo = static_cast<float>(1.0 / lo), inv_hi = static_cast<float>(1.0 / hi);
  const auto l = static_cast<float>(levels);
  sc.q_lo.resize(n), sc.q_hi.resize(n), sc.moving.resize(n);
  double a2[k_lanes] = {}, b[k_lanes] = {}, c[k_lanes] = {};
  auto visit = [&](size_t i, size_t lane) {  // levels at both ends; sums at lo
    const float a = std::fabs(x[i]);
    const float q = std::min(l, std::floor(a * inv_lo + 0.5f));
    sc.q_lo[i] = static_cast<uint8_t>(q);
    sc.q_hi[i] = static_cast<uint8_t>(std::min(l, std::floor(a * inv_hi + 0.5f)));
    a2[lane] += static_cast<double>(a) * a, b[lane] += a * q, c[lane] += q * q;
  };
  size_t i = 0;
  for (; i + k_lanes <= n; i += k_lanes)
    for (size_t j = 0; j < k_lanes; ++j) visit(i + j, j);
  for (; i < n; ++i) visit(i, 0);
  for (size_t j = 1; j < k_lanes; ++j) a2[0] += a2[j], b[0] += b[j], c[0] += c[j];
  size_t count = 0;  // elements whose level changes inside the bracket, compacted branch-free
  for (i = 0; i < n; ++i)
    sc.moving[count] = static_cast<uint32_t>(i), count += sc.q_lo[i] != sc.q_hi[i];

  sc.bp.clear();
  for (size_t k = 0; k < count; ++k) {
    const uint32_t e = sc.moving[k];
    const double a = std::fabs(x[e]);
    for (int j = sc.q_lo[e] - 1; j >= sc.q_hi[e]; --j) {
      const auto s = std::bit_cast<uint32_t>(static_cast<float>(a / (j + 0.5)));
      sc.bp.push_back(static_cast<uint64_t>(s) << 32 | e);
    }
  }
  std::sort(sc.bp.begin(), sc.bp.end());
  double best_s = lo, best_v = std::numeric_limits<double>::infinity(), left = lo;
  auto piece = [&](double right) {
    right = std::max(right, left);  // float-rounded breakpoints may straddle lo
    const double s = c[0] > 0.0 ? std::clamp(b[0] / c[0], left, right) : left;
    const double v = a2[0] - 2.0 * b[0] * s + c[0] * s * s;
    if (v < best_v) best_v = v, best_s = s;
  };
  for (uint64_t key : sc.bp) {
    const double s = std::bit_cast<float>(static_cast<uint32_t>(key >> 32));
    const double a = std::fabs(x[static_cast<uint32_t>(key)]);
    piece(s);
    b[0] -= a, c[0] -= 2.0 * std::floor(a / s) + 1.0, left = std::max(left, s);
  }
  piece(hi);
  return best_s;
}

// Marks the coarse intervals worth an exact sweep: next to a point within k_near_min of the
// coarse minimum or at one of the k_basins best local minima.
void mark_region(const std::vector<double>& v, Scratch& sc) {
  const int last = static_cast<int>(v.size()) - 1;
  const double v_min = *std::min_element(v.begin(), v.end());
  sc.order.clear();
  for (int k = 0; k <= last; ++k)
    if ((k == 0 || v[k] <= v[k - 1]) && (k == last || v[k] <= v[k + 1])) sc.order.push_back(k);
  std::sort(sc.order.begin(), sc.order.end(), [&](int i, int j) { return v[i] < v[j]; });
  sc.order.resize(std::min(sc.order.size(), k_basins));
  for (int k = 0; k <= last; ++k)
    if (v[k] <= v_min * (1.0 + k_near_min)) sc.order.push_back(k);
  sc.marked.assign(v.size(), 0);
  for (int k : sc.order)
    for (int i = std::max(k - 1, 0); i <= std::min(k + 1, last); ++i) sc.marked[i] = 1;
}

float omse_scale(std::span<const float> x, int bits, Scratch& sc) {
  const int levels = sym_levels(bits);
  const auto l = static_cast<float>(levels);
  const float m = abs_max(x);
  if (m == 0.0f) return 0.0f;
  float best_s = m / l;  // the sym quantizer's scale, bit for bit
  Fit best = fit_at(x, best_s, l);
  auto consider = [&](double s_d) {
    const auto s = static_cast<float>(s_d);
    if (!(s > 0.0f) || s == best_s) return;
    const Fit f = fit_at(x, s, l);
    if (f.sse < best.sse) best = f, best_s = s;
  };

  constexpr int last = k_coarse_points - 1;
  const double unit = static_cast<double>(m) / levels;
  auto grid = [&](int k) { return unit * (0.05 + 0.95 * k / last); };
  if (static_cast<int64_t>(x.size()) * levels <= k_full_sweep_max) {
    consider(sweep_best_scale(x, levels, grid(0), grid(last), sc));
  } else {
    sc.coarse.resize(k_coarse_points);
    for (int k = 0; k <= last; ++k) sc.coarse[k] = coarse_sse(x, static_cast<float>(grid(k)), l);
    consider(grid(static_cast<int>(std::min_element(sc.coarse.begin(), sc.coarse.end()) -
                                   sc.coarse.begin())));
    mark_region(sc.coarse, sc);
    for (int k = 0; k <= last; ++k) {  // one sweep per run of marked points
      if (!sc.marked[k]) continue;
      int end = k;
      while (end < last && sc.marked[end + 1]) ++end;
      consider(sweep_best_scale(x, levels, grid(k), grid(end), sc));
      k = end;
    }
  }
  for (int it = 0; it < k_als_iters && best.qq > 0.0; ++it) {
    const float prev = best_s;
    consider(best.xq / best.qq);
    if (best_s == prev) break;
  }
  return best_s;
}

}  // namespace

QuantizedTensor quantize_omse(const WeightView& w, const QuantOptions& opt) {
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  Scratch sc;
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const std::span<const float> x = group_values(w, t, g);
    t.scale[g] = omse_scale(x, opt.bits, sc);
    t.zero[g] = static_cast<float>(sym_levels(opt.bits));
    sym_encode(x, t.scale[g], opt.bits, group_codes(t, g));
  }
  return t;
}

}  // namespace dfmpc
