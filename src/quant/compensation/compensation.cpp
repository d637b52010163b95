#include "quant/compensation/compensation.h"

#include <algorithm>

namespace dfmpc {

CompensationTerms compensation_terms(std::span<const float> w, double a, std::span<const float> w_hat,
                                     double a_hat, double y, double y_hat) {
  CompensationTerms t;
  double wh_w = 0, wh_wh = 0;
  for (size_t k = 0; k < w.size(); ++k) {
    wh_w += static_cast<double>(w_hat[k]) * w[k];
    wh_wh += static_cast<double>(w_hat[k]) * w_hat[k];
  }
  t.xhat_dot_x = a_hat * a * wh_w;
  t.xhat_dot_xhat = a_hat * a_hat * wh_wh;
  t.y = y;
  t.y_hat = y_hat;
  return t;
}

double compensation_coefficient(const CompensationTerms& t, double lambda1, double lambda2) {
  const double num = t.xhat_dot_x + lambda1 * t.y_hat * t.y;
  const double den = t.xhat_dot_xhat + lambda1 * t.y_hat * t.y_hat + lambda2;
  if (den <= 0) return 1.0;  // X^ = 0 and y^ = 0: the channel is dead; c has no effect
  return std::max(0.0, num / den);
}

double compensation_loss(const CompensationTerms& t, double x_dot_x, double c, double lambda1,
                         double lambda2) {
  const double weight = c * c * t.xhat_dot_xhat - 2 * c * t.xhat_dot_x + x_dot_x;
  const double bias = (c * t.y_hat - t.y) * (c * t.y_hat - t.y);
  return weight + lambda1 * bias + lambda2 * c * c;
}

}  // namespace dfmpc
