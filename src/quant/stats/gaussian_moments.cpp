#include "quant/stats/gaussian_moments.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <numbers>

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
