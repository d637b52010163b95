// DF-MPC closed-form compensation (Chen et al. 2023, Eq. 22-27), one channel at a time.
//
// For channel j joining low layer l and high layer l+1:
//   L(c) = || c X^ - X ||^2 + lambda1 (c y^ - y)^2 + lambda2 c^2
//   X  = gamma w / sigma,   X^ = gamma^ w^ / sigma^        (flattened filter j of layer l)
//   y  = beta - gamma mu / sigma,   y^ = beta^ - gamma^ mu^ / sigma^
// whose minimiser (Eq. 27) is c = (X^.X + lambda1 y^ y) / (X^.X^ + lambda1 y^^2 + lambda2),
// clamped to c >= 0 (the bound of Lemma 2 needs a non-negative c).
#pragma once
#include <span>

namespace dfmpc {

struct CompensationTerms {
  double xhat_dot_x = 0;     // X^ . X
  double xhat_dot_xhat = 0;  // X^ . X^
  double y = 0, y_hat = 0;
};

// X^.X and X^.X^ for one channel, with X = a * w and X^ = a_hat * w_hat.
CompensationTerms compensation_terms(std::span<const float> w, double a, std::span<const float> w_hat,
                                     double a_hat, double y, double y_hat);

double compensation_coefficient(const CompensationTerms& t, double lambda1, double lambda2);

// The loss L(c) itself (for tests and reports).
double compensation_loss(const CompensationTerms& t, double x_dot_x, double c, double lambda1,
                         double lambda2);

}  // namespace dfmpc
