// Joint (FP, quantized) moment propagation and the "joint" statistics repair built on it.
//
// Where the plain repair (repair.h) looks at one quantized layer at a time and assumes its
// input is the FP input, the joint model follows every activation x of fp together with
// its counterpart x^ in q, per channel:
//   m = E[x], v = Var[x], mq = E[x^], vq = Var[x^], c = Cov[x, x^].
// Writing x^ = a x + n with a = c / v and n uncorrelated with x (per input channel), a conv
// with FP weights W and quantized weights W^ sees the effective signal weights
// X = W^ diag(a), which split, per output channel o, into b_o W_o + E_o (b_o the regression
// coefficient of X_o on W_o in the model's metric, diagonal by default). Then
//   Cov(z, z^) = b sigma^2,   Var(z^) = b^2 sigma^2 + [E' D E] + [sum_i n_i sum_taps W^^2],
// where sigma^2 is the FP BN's running variance + eps (the truth; without a BN, the
// model's FP variance): the part along W keeps the FP (spatially and cross-channel
// correlated) structure, whose variance only the BN knows; the residual E and the input
// noise n are noise-like, for which the diagonal model D (input variances) is unbiased.
// This is the "split" repair applied at every layer to inputs that are themselves noisy,
// so it predicts the pre-BN statistics of EVERY BN downstream of a quantized layer too
// (a 6-bit conv fed by a noisy input sees less variance than in FP: its filters amplify
// the correlated signal, not the white-ish noise). Relu / Clip map the joint Gaussian
// (x, x^) exactly (Cov by quadrature); Add sums independent branches; the other ops of
// moment_propagation.h act on (m, v, mq, vq, c) the same way.

#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/stats/repair.h"

namespace dfmpc {

struct JointMoments {
  std::vector<double> m, v, mq, vq, c;
  bool exact = true;  // x^ is x (nothing upstream differs)
  int64_t channels() const { return static_cast<int64_t>(m.size()); }
};

// Propagates through fp and q together and, when `repair` is set, rewrites every BN (and,
// without a BN, every Conv / Gemm bias) whose predicted input statistics differ from fp's:
// the BN gets the predicted mean and the MMSE-gain variance. Returns the joint moments of
// every activation value of q (after repair).
std::map<std::string, JointMoments> propagate_joint(const Graph& fp, Graph& q, const MomentOptions& moments,
                                                    bool repair, RepairReport* report = nullptr);

}  // namespace dfmpc
