#include "quant/stats/gaussian_moments.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>
#include <vector>

namespace dfmpc {
namespace {

constexpr double k_tmax = 40.0;  // |t| beyond this: Phi is 0 or 1 to double precision

// Relative threshold under which s counts as 0 (deterministic input).
bool degenerate(double m, double s) {
  return !(s > 1e-300) || s <= 1e-12 * std::fabs(m);
}

// E[clip(Z, a, b)] for a standard normal Z, from the clamped bounds ac <= bc and
// Pa = Phi(ac), Qb = Phi(-bc), pa = phi(ac), pb = phi(bc):
// a P(Z<a) + b P(Z>b) + E[Z; a<Z<b], E[Z; a<Z<b] = phi(a) - phi(b).
double clipped_standard_mean(double ac, double Pa, double pa, double bc, double Qb, double pb) {
  return ac * Pa + bc * Qb + (pa - pb);
}

// Standard normal Z clipped to [a, b] (a <= b, each in [-k_tmax, k_tmax] or +-inf).
// Returns mean and variance of clip(Z, a, b).
GaussMoments clipped_standard(double a, double b) {
  const double ac = std::clamp(a, -k_tmax, k_tmax), bc = std::clamp(b, -k_tmax, k_tmax);
  const double Pa = normal_cdf(ac), Qb = normal_cdf(-bc), pa = normal_pdf(ac), pb = normal_pdf(bc);
  const double mid = std::max(0.0, normal_cdf(bc) - Pa);  // P(a < Z < b)
  const double mean = clipped_standard_mean(ac, Pa, pa, bc, Qb, pb);
  // E[clip^2] = a^2 P(Z<a) + b^2 P(Z>b) + E[Z^2; a<Z<b], E[Z^2; a<Z<b] = mid + a phi(a) - b phi(b).
  const double second = ac * ac * Pa + bc * bc * Qb + mid + ac * pa - bc * pb;
  return {mean, std::max(0.0, second - mean * mean)};
}

}  // namespace

double normal_pdf(double t) { return std::exp(-0.5 * t * t) / std::sqrt(2.0 * std::numbers::pi); }
double normal_cdf(double t) { return 0.5 * std::erfc(-t / std::numbers::sqrt2); }

namespace {
// Phi(-k_tmax) and phi(+-k_tmax): the terms of an infinite clip bound.
const double k_cdf_low = normal_cdf(-k_tmax);
const double k_pdf_limit = normal_pdf(k_tmax);
}  // namespace

GaussMoments identity_moments(double m, double s) { return {m, s * s}; }

GaussMoments relu_moments(double m, double s) {
  s = std::fabs(s);
  if (degenerate(m, s)) return {std::max(m, 0.0), 0.0};
  // |t| < 1e12 here (degenerate() caught the rest): t P and t^2 P Q stay finite and exact
  // in the tails (Phi underflows to exactly 0 or 1 beyond |t| ~ 38).
  const double t = m / s;
  const double P = normal_cdf(t), Q = normal_cdf(-t), p = normal_pdf(t);
  // E = s (t P + phi). In units of s^2 the variance
  //   g(t) = (1 + t^2) P + t phi - (t P + phi)^2 = P + t^2 P Q + t phi (Q - P) - phi^2
  // has no cancellation of O(t^2) terms for large t (P Q is computed from erfc).
  const double mean = s * (t * P + p);
  const double g = P + t * t * P * Q + t * p * (Q - P) - p * p;
  return {std::max(0.0, mean), s * s * std::clamp(g, 0.0, 1.0)};
}

GaussMoments clip_moments(double m, double s, double lo, double hi) {
  s = std::fabs(s);
  if (lo > hi) std::swap(lo, hi);
  if (degenerate(m, s)) return {std::clamp(m, lo, hi), 0.0};
  const double a = (lo - m) / s, b = (hi - m) / s;  // +-inf stays +-inf, clamped inside
  const GaussMoments z = clipped_standard(a, b);
  double mean = m + s * z.mean;
  mean = std::clamp(mean, lo, hi);
  return {mean, s * s * std::min(z.var, 1.0)};
}

ClippedMean::ClippedMean(double s, double lo, double hi) : s_(std::fabs(s)), lo_(lo), hi_(hi) {
  if (lo_ > hi_) std::swap(lo_, hi_);
  lo_inf_ = lo_ == -std::numeric_limits<double>::infinity();
  hi_inf_ = hi_ == std::numeric_limits<double>::infinity();
}

double ClippedMean::operator()(double m) const {
  // The steps of clip_moments(m, s, lo, hi).mean; for a finite m an infinite bound sits at
  // the clamp limit, whose Phi and phi are constants.
  if (degenerate(m, s_)) return std::clamp(m, lo_, hi_);
  const double ac = std::clamp((lo_ - m) / s_, -k_tmax, k_tmax), bc = std::clamp((hi_ - m) / s_, -k_tmax, k_tmax);
  const bool lo_fixed = lo_inf_ && std::isfinite(m), hi_fixed = hi_inf_ && std::isfinite(m);
  const double Pa = lo_fixed ? k_cdf_low : normal_cdf(ac), pa = lo_fixed ? k_pdf_limit : normal_pdf(ac);
  const double Qb = hi_fixed ? k_cdf_low : normal_cdf(-bc), pb = hi_fixed ? k_pdf_limit : normal_pdf(bc);
  const double mean = m + s_ * clipped_standard_mean(ac, Pa, pa, bc, Qb, pb);
  return std::clamp(mean, lo_, hi_);
}

namespace {

// n-point Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_n from Chebyshev guesses).
struct GaussLegendre {
  static constexpr int n = 8;
  double x[n], w[n];
  GaussLegendre() {
    for (int i = 0; i < n; ++i) {
      double z = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5)), dp = 1;
      for (int it = 0; it < 100; ++it) {
        double p0 = 1, p1 = z;  // P_0, P_1, then the recurrence up to P_n
        for (int k = 2; k <= n; ++k) {
          const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
          p0 = p1, p1 = p2;
        }
        dp = n * (z * p1 - p0) / (z * z - 1);
        const double dz = p1 / dp;
        z -= dz;
        if (std::fabs(dz) < 1e-16) break;
      }
      x[i] = z, w[i] = 2 / ((1 - z * z) * dp * dp);
    }
  }
};

// Panel edges in standard units of u within [-zmax, zmax]: the kinks zl, zh of clip(u) and,
// for each kink zg of clip(u^) (u^ = lo or hi at the conditional mean), zg and zg +- 1, 4, 12
// widths of its smoothing (the conditional sd in units of u); panels longer than 2 are split
// (8 Gauss-Legendre nodes are exact to ~1e-12 on the Gaussian over 2 sd).
std::vector<double> panel_edges(double zl, double zh, const double* zg, int n_zg, double width, double zmax) {
  std::vector<double> e{-zmax, zmax};
  for (double z : {zl, zh}) e.push_back(z);
  for (int k = 0; k < n_zg; ++k)
    for (double d : {0.0, 1.0, -1.0, 4.0, -4.0, 12.0, -12.0}) e.push_back(zg[k] + d * width);
  for (double& z : e) z = std::isfinite(z) ? std::clamp(z, -zmax, zmax) : (z > 0 ? zmax : -zmax);
  std::sort(e.begin(), e.end());
  e.erase(std::unique(e.begin(), e.end()), e.end());
  constexpr double max_len = 2.0;
  std::vector<double> split{e[0]};
  for (size_t k = 1; k < e.size(); ++k) {
    const int parts = static_cast<int>(std::ceil((e[k] - e[k - 1]) / max_len));
    for (int j = 1; j < parts; ++j) split.push_back(e[k - 1] + (e[k] - e[k - 1]) * j / parts);
    split.push_back(e[k]);
  }
  return split;
}

}  // namespace

double clipped_covariance(double m, double v, double mq, double vq, double c, double lo, double hi, double ef,
                          double efq) {
  if (!(v > 0) || !(vq > 0)) return 0.0;
  static const GaussLegendre gl;
  constexpr double zmax = 8.0;
  if (lo > hi) std::swap(lo, hi);
  // u = m + s z; u^ | u ~ N(mq + b (u - m), rs^2).
  const double s = std::sqrt(v), b = c / v, rs = std::sqrt(std::max(0.0, vq - c * c / v));
  const ClippedMean cond_mean(rs, lo, hi);
  double zg[2];
  int n_zg = 0;
  const double bs = b * s;
  if (bs != 0.0)
    for (double bound : {lo, hi})
      if (std::isfinite(bound)) zg[n_zg++] = (bound - mq) / bs;
  const double width = bs != 0.0 ? rs / std::fabs(bs) : 0.0;
  const std::vector<double> edges = panel_edges((lo - m) / s, (hi - m) / s, zg, n_zg, width, zmax);
  double acc = 0;
  for (size_t p = 0; p + 1 < edges.size(); ++p) {
    const double mid = 0.5 * (edges[p] + edges[p + 1]), half = 0.5 * (edges[p + 1] - edges[p]);
    if (std::clamp(m + s * mid, lo, hi) == 0.0 && (lo == 0.0 || hi == 0.0)) continue;  // ReLU's clipped half
    for (int i = 0; i < GaussLegendre::n; ++i) {
      const double z = mid + half * gl.x[i];
      const double fu = std::clamp(m + s * z, lo, hi);
      acc += half * gl.w[i] * normal_pdf(z) * fu * cond_mean(mq + bs * z);
    }
  }
  static const double mass = 1.0 - 2.0 * normal_cdf(-zmax);  // of the truncated range
  return acc / mass - ef * efq;
}

GaussMoments max_of_normals_moments(double m, double s, int n, double rho) {
  s = std::fabs(s);
  if (n <= 1 || degenerate(m, s)) return {m, s * s};
  rho = std::clamp(rho, 0.0, 1.0);
  // E and Var of the max of n iid N(0,1), by quadrature of n z phi(z) Phi(z)^(n-1).
  static std::mutex mu;
  static std::map<int, GaussMoments> cache;
  GaussMoments mn;
  {
    std::lock_guard lock(mu);
    auto it = cache.find(n);
    if (it == cache.end()) {
      double e1 = 0, e2 = 0;
      const double h = 1e-3;
      for (double z = -12.0; z <= 12.0; z += h) {
        const double d = n * normal_pdf(z) * std::pow(normal_cdf(z), n - 1) * h;
        e1 += z * d;
        e2 += z * z * d;
      }
      it = cache.emplace(n, GaussMoments{e1, std::max(0.0, e2 - e1 * e1)}).first;
    }
    mn = it->second;
  }
  return {m + s * std::sqrt(1.0 - rho) * mn.mean, s * s * (rho + (1.0 - rho) * mn.var)};
}

}  // namespace dfmpc
