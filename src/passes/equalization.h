// DFQ (Nagel et al. 2019) weight-space passes; see docs/baselines.md section 1.
//
// equalize_cross_layer: cross-layer equalisation. Layers h = f(W1 x + b1), y = W2 h + b2
// with f positively homogeneous (ReLU or nothing) are rescaled to W1/s, b1/s (per output
// channel i of W1) and W2*s (per input channel i of W2), s_i = sqrt(r1_i / r2_i), which
// makes both channel ranges sqrt(r1_i r2_i) and maximises sum_i r1_i r2_i / (R1 R2).
// Conv -> depthwise -> Conv triplets use the cube-root rule (g = cbrt(r0 r1 r2), s12 = r0/g,
// s23 = g/r2). Chains are Conv nodes linked through a value with a single reader (not a graph
// output), optionally through one Relu; groups other than 1 and depthwise (group = C, depth
// multiplier 1) break chains, as do Add, Concat, pooling, Gemm and anything else, so ResNets
// are equalised only inside residual branches. A Conv still followed by a BatchNormalization
// is skipped (counted in `unfolded_bn`): run fold_batchnorm first. A chain of n convs gives
// overlapping sets (triplet where the middle conv is depthwise, else pairs); they are swept
// until every per-sweep scale is within `tolerance` of 1, or `max_sweeps`.
//
// ReLU6 (Clip with min 0 and a finite max) is not scale-equivariant. With `replace_relu6`
// (default, as DFQ and AIMET do) such a Clip inside a chain becomes a Relu; this changes the
// FP32 function wherever a pre-activation exceeded the clip (small for trained MobileNetV2:
// 71.81 -> 71.78 top-1 in jakc4103's run). The replaced nodes are listed in the report. With
// the option off the Clip ends the chain. Clip(0, +inf) is an exact ReLU and always links.
//
// absorb_high_bias: for Conv1 -> Relu -> Conv2 (single readers) with Conv1 in `bn`, the
// pre-activation of channel i is taken as N(beta_i, gamma_i^2) and c_i = max(0, beta_i -
// n_sigma |gamma_i|) is moved: b1 -= c, b2[o] += sum_{spatial} W2[o, i] c_i, beta -= c.
// Exact (up to the 0.135 % Gaussian tail) only when Conv2 has no padding: with zero padding
// the border outputs change, since a padded zero stood for h = 0, now h = -c. Such pairs are
// absorbed unless `skip_padded`, and counted in `padded_pairs`.
//
// Data flow for DFQ:  auto bn = fold_batchnorm(g);
//                     equalize_cross_layer(g, opt, &bn);   // divides gamma, beta by s
//                     absorb_high_bias(g, bn);             // uses and shifts beta
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/fold_batchnorm.h"

namespace dfmpc {

enum class RangeMode {
  max_abs,   // max |w| per channel (symmetric grids; AIMET)
  max_minus_min,  // max(w) - min(w) per channel (asymmetric grids; jakc4103 default)
};

struct EqualizeOptions {
  RangeMode range = RangeMode::max_abs;
  bool replace_relu6 = true;
  int max_sweeps = 100;
  double tolerance = 1e-6;  // stop when max_i |s_i - 1| of a sweep is below this
};

struct EqualizeReport {
  int pairs = 0;
  int triplets = 0;
  int sweeps = 0;
  int unfolded_bn = 0;  // Convs skipped because a BatchNormalization still follows them
  std::vector<std::string> relu6_replaced;    // Clip nodes turned into Relu
  std::vector<std::vector<std::string>> sets;  // conv names of each pair / triplet
  // Per conv touched: the factor its output channel i was multiplied by in total (1/s_i).
  std::map<std::string, std::vector<float>> out_scale;
  // max over equalised convs of (max_i r_i / min_i r_i) over output channels (r_i > 0).
  double max_range_ratio_before = 0, max_range_ratio_after = 0;
};

// With `bn`, the gamma and beta of every rescaled conv are multiplied by its out_scale.
EqualizeReport equalize_cross_layer(Graph& g, const EqualizeOptions& opt = {}, BnStats* bn = nullptr);

struct HighBiasOptions {
  double n_sigma = 3;
  bool skip_padded = false;
};

struct HighBiasReport {
  int pairs = 0;          // Conv -> Relu -> Conv pairs absorbed
  int padded_pairs = 0;   // of those, Conv2 has padding (inexact at the borders)
  int channels = 0;       // channels with c_i > 0
};

// Updates `bn` (beta -= c) so later steps (bias correction) see the shifted mean.
HighBiasReport absorb_high_bias(Graph& g, BnStats& bn, const HighBiasOptions& opt = {});

// Per-channel weight ranges of a conv weight [O, I/groups, k...] under `mode`: over output
// channels, or over input channels (the full input channel index, of size I).
std::vector<double> out_channel_ranges(const Tensor& w, RangeMode mode);
std::vector<double> in_channel_ranges(const Tensor& w, int64_t groups, RangeMode mode);

}  // namespace dfmpc
