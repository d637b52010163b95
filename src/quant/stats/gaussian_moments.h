// Mean and variance of a Gaussian pre-activation N(m, s^2) after ReLU, after a clip to
// [lo, hi] (ReLU6 = clip to [0, 6]) and after the identity. Used by the data-free
// statistics repair (DFQ-style analytic bias correction, baselines.md sections 1 and 6).
//
// Numerics: every function is finite for every finite m and s >= 0 (also for infinite clip
// bounds), returns var >= 0, and is continuous in the limit s -> 0, where it returns the
// deterministic value (f(m), 0). Standardised bounds are clamped to +-40 (Phi(-40) is below
// the smallest double), so no Inf * 0 can arise; the variance is computed in units of s^2
// (no m^2 - m^2 cancellation), so its absolute error is ~1e-15 s^2.
#pragma once

namespace dfmpc {

struct GaussMoments {
  double mean = 0.0;
  double var = 0.0;
  double second() const { return var + mean * mean; }  // E[x^2]
};

double normal_pdf(double t);
double normal_cdf(double t);

// x ~ N(m, s^2) unchanged. s < 0 is read as |s| (BN's gamma may be negative).
GaussMoments identity_moments(double m, double s);
// max(x, 0): E = m Phi(t) + s phi(t), E[x^2] = (m^2 + s^2) Phi(t) + m s phi(t), t = m / s.
GaussMoments relu_moments(double m, double s);
// min(max(x, lo), hi) with lo <= hi; lo may be -inf, hi +inf.
GaussMoments clip_moments(double m, double s, double lo, double hi);

// clip_moments(m, s, lo, hi).mean, bit for bit, for many m with the same s, lo, hi (the
// terms of an infinite bound are computed once, not per call).
class ClippedMean {
 public:
  ClippedMean(double s, double lo, double hi);
  double operator()(double m) const;

 private:
  double s_, lo_, hi_;
  bool lo_inf_ = false, hi_inf_ = false;
};

// Cov(clip(u), clip(u^)) for jointly Gaussian (u, u^) (means m, mq, variances v, vq,
// covariance c), clip to [lo, hi] as in clip_moments(); ef, efq: E[clip(u)], E[clip(u^)].
// Conditions on u (the clipped mean of u^ | u is closed-form) and integrates over u in
// [m - 8 sd, m + 8 sd] by composite Gauss-Legendre, with panel edges at the kinks of clip(u)
// and around the (smoothed) kinks of E[clip(u^) | u]: relative error ~1e-9.
double clipped_covariance(double m, double v, double mq, double vq, double c, double lo, double hi, double ef,
                          double efq);

// Moments of max(x_1..x_n) for n equicorrelated N(m, s^2) (pairwise correlation rho in
// [0, 1]): m + s sqrt(1-rho) E[M_n], s^2 (rho + (1-rho) Var[M_n]), where M_n is the max of
// n iid standard normals (computed once per n by quadrature, exact to ~1e-10).
GaussMoments max_of_normals_moments(double m, double s, int n, double rho);

}  // namespace dfmpc
