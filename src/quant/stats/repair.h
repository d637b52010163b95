// Data-free repair of the statistics a quantized model normalises with (issue 4: "after
// quantization every BN normalises with statistics (mu, sigma) that no longer match its
// input").
//
// q is fp with some weight tensors replaced by their quantized (dequantized float) values,
// same node names and topology. The default (joint + mmse) was the best measured option
// (docs/stats-repair.md). For every Conv / Gemm whose weights differ:
//  - input moments E[x_i], Var[x_i] come from propagate_moments() on the FULL-PRECISION
//    graph fp (the repaired q is meant to reproduce fp's statistics, so fp's are the target
//    at every layer; no data is used);
//  - mean: mu^ = mu + sum_i epsbar_{o,i} E[x_i] (epsbar = sum over the valid taps of W^ - W,
//    border classes of zero padding accounted for), i.e. DFQ's analytic bias correction;
//  - variance, per VarianceRepair (v_i = Var[x_i], sums over valid taps):
//      additive: sigma^2 + sum (W^2 - W^2) v  (baselines.md section 6)
//      noise:    sigma^2 + sum (W^ - W)^2 v   (findings.md section 2)
//      ratio:    sigma^2 * sum W^^2 v / sum W^2 v  (baselines.md section 6)
//      split:    W^ = a W + E per output channel (a = <W^, W> / <W, W> in the model's
//                metric): a^2 sigma^2 + sum E^2 v — the part along W keeps the true
//                (correlated) variance, the residual is noise-like, for which the diagonal
//                model is unbiased; = ratio when E = 0, = additive when a = 1;
//      fitted:   the ratio of the same quadratic forms under an input covariance with a
//                within-channel tap correlation and a cross-channel correlation fitted, per
//                layer, to the FP BN's running variances (data-free: the running variances
//                are part of the pretrained model); needs a BN, otherwise ratio;
//      joint:    the split model applied at every layer with the layer's input itself
//                noisy (joint_repair.h): every BN, and every BN-less Conv / Gemm, whose
//                input statistics differ from fp's is repaired, including the high-bit and
//                unquantized layers downstream of a low-bit one;
//      covariance: full second-order propagation (covariance_propagation.h) through fp and
//                q side by side; every BN downstream of a quantized layer gets
//                mu^ = mu + (m_q - m_fp), sigma^2 = sigma^2 V_q / V_fp with the models'
//                means / variances; layers past the model's reach (pooling, Gemm) get
//                the `ratio` repair;
//  - optional gain (GainRepair::mmse, BN layers only): the BN slope is shrunk to the linear
//    MMSE estimate of the FP BN output from the quantized pre-activation,
//    gamma/sigma * Cov(z, z^)/Var(z^), with Cov and Var from the chosen model (the running
//    variance written is that of the effective normaliser sigma Var(z^)/Cov(z, z^)).
//    BN-less layers always get the plain variance match (the gain measured worse there).
// With a BN after the layer the new mu^, sigma^2 are written into its running mean / var
// (gamma and beta are kept). Without one (BN-folded graphs, edge layers) the mean
// correction goes into the bias and the variance correction becomes a per-output-channel
// scale s_o = sigma / sigma^ around the FP mean m_o: W' = s W^, b' = s (b^ - shift) +
// (1 - s) m. That moves W' off its quantization grid by a per-channel factor (reported in
// weights_off_grid); a quantize pipeline absorbs s into its per-channel scales.
#pragma once
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/stats/covariance_propagation.h"
#include "quant/stats/moment_propagation.h"

namespace dfmpc {

enum class VarianceRepair { none, additive, noise, ratio, fitted, joint, covariance, split };
enum class GainRepair { none, mmse };

struct RepairOptions {
  // Defaults: the best measured combination on the shared ResNets (docs/stats-repair.md).
  bool mean = true;                                  // false: variance only
  VarianceRepair variance = VarianceRepair::joint;   // none = the "mean_only" option
  GainRepair gain = GainRepair::mmse;
  MomentOptions moments;                             // how fp's moments are propagated
  CovOptions cov;             // variance = covariance: the model (input prior fitted if
  bool fit_input_prior = true;  // fit_input_prior is set)
  bool gemm = true;        // repair quantized Gemm layers too (bias; scale per VarianceRepair)
  // Layers without a BN after them (BN-folded graphs, edge layers) get the mean correction
  // only unless this is set ("+foldvar"): their FP variance and mean are only modelled, and
  // the per-channel scale around the modelled mean lowered top-1 on the BN-folded
  // Fashion-MNIST model (docs/decisions.md section 6).
  bool bnless_variance = false;
  // sigma^2 new / old is clamped to [min_var_ratio, max_var_ratio]: a channel is never
  // amplified more than 10x, but may be shrunk to (almost) nothing — a channel whose FP
  // weights are all zero (gamma = 0 folded in) is pure quantization noise after DoReFa,
  // whose grid has no zero.
  double min_var_ratio = 1e-2;
  double max_var_ratio = 1e12;
  // Layers with ||W^ - W|| < min_rel_error ||W|| are treated as unquantized (their own
  // repair is skipped; the joint / covariance models still follow their inputs' errors).
  double min_rel_error = 0.0;
};

// "mean_only", "additive", "noise", "ratio", "fitted", "split", "joint", "covariance", each
// optionally with "+mmse" (GainRepair::mmse) and / or "+foldvar" (bnless_variance), or
// "none" (nothing); throws
// std::invalid_argument naming the valid values.
RepairOptions repair_options_from_name(const std::string& name);

struct LayerRepair {
  std::string node;         // the quantized Conv / Gemm
  std::string target;       // the BN whose statistics were rewritten, or `node` itself
  bool folded = false;      // true: bias / per-channel weight scale instead of a BN
  int64_t channels = 0;
  // |mu^ - mu| / sigma over output channels (sigma: FP running std, or the modelled std).
  double mean_shift_mean = 0, mean_shift_max = 0;
  // sigma^2 new / old over output channels (1 = unchanged).
  double var_ratio_min = 1, var_ratio_geomean = 1, var_ratio_max = 1;
  // Folded layers: the per-channel scale s_o applied to W^ (1 = still on the grid).
  double weight_scale_min = 1, weight_scale_max = 1;
  // variance = fitted: the correlation fitted to fp's running variances, and the relative
  // RMS error of the fitted (and of the diagonal) model over the layer's channels.
  InputCorrelation fitted;
  double fit_rel_rms = 0, diag_rel_rms = 0;
};

struct RepairReport {
  std::vector<LayerRepair> layers;
  bool weights_off_grid = false;  // some folded layer got a scale s_o != 1
  std::string to_string() const;  // one line per layer
};

RepairReport repair_statistics(const Graph& fp, Graph& q, const RepairOptions& opt = {});

}  // namespace dfmpc
