// Joint (FP, quantized) moment propagation and the "joint" statistics repair built on it.
//
// Where the plain repair (repair.h) looks at one quantized layer at a time and assumes its
// input is the FP input, the joint model follows every activation x of fp together with
// its counterpart x^ in q, per channel:
//   m = E[x], v = Var[x], mq = E[x^], vq = Var[x^], c = Cov[x, x^].
// Writing x^ = a x + n with a = c / v and n uncorrelated with x, the quantized model carries
// a "signal" part a x, which keeps the FP spatial / cross-channel correlation structure, and
// a "noise" part n, modelled as white (independent across taps and channels). At a conv:
//   signal covariances use the FP input covariance model, calibrated per layer to the FP
//   BN running variances (tap / channel correlation fitted as in VarianceRepair::fitted,
//   then scaled so that the FP weights reproduce each running variance exactly);
//   the noise part uses the diagonal model  sum_i noise_i sum_taps W^^2.
// This predicts the pre-BN statistics of EVERY BN downstream of a quantized layer (a 6-bit
// conv fed by a noisy input normalises with too large a sigma otherwise: the white noise is
// not amplified by the conv the way the correlated signal is). Relu / Clip map the joint
// Gaussian (x, x^) exactly (Cov by quadrature); Add sums independent branches.
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
// without a BN, every Conv / Gemm bias and per-channel scale) whose predicted input
// statistics differ from fp's, as RepairOptions says (mean, gain; the variance is always the
// joint prediction). Returns the joint moments of every activation value of q (after repair).
std::map<std::string, JointMoments> propagate_joint(const Graph& fp, Graph& q,
                                                    const RepairOptions& opt, bool repair,
                                                    RepairReport* report = nullptr);

// VarianceRepair::covariance: repairs every BN / BN-less Conv that the covariance model
// reaches; returns the names of the Conv / Gemm / BN nodes it handled (or passed exactly).
std::set<std::string> repair_covariance(const Graph& fp, Graph& q, const RepairOptions& opt,
                                        RepairReport* report);

}  // namespace dfmpc
