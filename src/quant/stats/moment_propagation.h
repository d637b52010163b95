// Data-free propagation of per-channel first and second moments through a Graph.
//
// Every activation value gets one (mean, variance) per channel, taken over images and
// spatial positions: channel = axis 1 ([N, C, H, W] or [N, F]). The model is Gaussian and
// "diagonal" (DFQ's assumptions, baselines.md sections 1 and 6), with the choices below:
//  - graph input: per-channel mean / variance from MomentOptions (normalised images: 0, 1);
//  - BatchNormalization: output N(beta, gamma^2) per channel, what BN produces when its
//    running statistics match its input (bn_resets); off: BN applied affinely;
//  - Conv / Gemm / MatMul: mean = W.E[x] + b exactly (linear), summed over the taps that lie
//    inside the input, per border class of output positions (zero padding handled exactly
//    for per-channel homogeneous inputs); variance from an input covariance model that is
//    diagonal by default (independent inputs), optionally with a within-channel tap
//    correlation and a cross-channel correlation (InputCorrelation); the spread of the mean
//    between border classes is added to the variance;
//  - Relu / Clip (ReLU6): exact Gaussian formulas (gaussian_moments.h) on the input moments;
//  - Add / Sub of two activations: means add (subtract), variances add (independent inputs);
//    with a per-channel constant: shifted mean; Mul / Div by a per-channel constant: scaled;
//  - Concat: channel axis concatenates, any other axis mixes (weighted by extent);
//  - MaxPool: max of kh*kw equicorrelated Gaussians (maxpool_rho); when the input comes from
//    a Relu / Clip, the max is taken on that activation's Gaussian input and the activation
//    applied after (max and ReLU commute); identity on request;
//  - AveragePool / GlobalAveragePool: mean unchanged (border zeros counted when
//    count_include_pad); variance kept (fully correlated window, an upper bound) or divided
//    by the window size (independent inputs, a lower bound) — pool_variance;
//  - Slice: on the channel axis selects channels, on other axes keeps the moments (option-A
//    subsampling); Pad (constant): padded channels get (value, 0), spatial padding mixes in
//    the constant; Flatten / Reshape / Squeeze / Unsqueeze: each output channel is the
//    mixture of the input channels its elements come from; Identity / Dropout keep moments.
// Shape arithmetic (Shape, Gather, Concat of shapes, ...) carries no moments. Any other op
// reading an activation throws ModelError naming it.
#pragma once
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/kernels/conv.h"

namespace dfmpc {

struct ChannelMoments {
  std::vector<double> mean, var;  // one per channel
  int64_t channels() const { return static_cast<int64_t>(mean.size()); }
};

// Correlation structure assumed for a conv's input patch (all zero = independent inputs).
struct InputCorrelation {
  double tap = 0.0;      // between two taps of the same input channel
  double channel = 0.0;  // between two different input channels (any taps)
  bool any() const { return tap != 0.0 || channel != 0.0; }
};

enum class MaxPoolModel { identity, equicorrelated };
enum class PoolVariance { keep, independent };

struct MomentOptions {
  std::vector<double> input_mean{0.0};  // per input channel, or one value for all
  std::vector<double> input_var{1.0};
  bool bn_resets = true;
  bool border_correction = true;
  InputCorrelation correlation;  // used for every Conv / Gemm variance
  MaxPoolModel maxpool = MaxPoolModel::equicorrelated;
  double maxpool_rho = 0.5;
  PoolVariance pool_variance = PoolVariance::keep;
};

// Moments of every activation value (graph input, node outputs) by name.
using MomentMap = std::map<std::string, ChannelMoments>;

MomentMap propagate_moments(const Graph& g, const MomentOptions& opt = {});
// The same with the shapes of g at batch k_moment_batch already known (infer_shapes, runtime/shape_inference.h).
constexpr int64_t k_moment_batch = 2;  // shapes at batch 2 tell the batch axis apart from a 1
MomentMap propagate_moments(const Graph& g, const std::map<std::string, Shape>& shapes,
                            const MomentOptions& opt = {});

// The pieces of a conv output's moments under the diagonal-plus-correlation model, as
// bilinear forms of two weight tensors w1, w2 of the same shape (w1 = w2 for a variance,
// w1 != w2 for a covariance), per output channel, averaged over output positions:
//   mean1/mean2 = sum over valid taps of W E[x] (no bias),
//   diag    = sum_i v_i sum_t w1 w2,
//   tapsum  = sum_i v_i (sum_t w1)(sum_t w2),
//   chansum = (sum_i sqrt(v_i) sum_t w1)(sum_i sqrt(v_i) sum_t w2)  (within the group),
//   between = covariance over border classes of the two means.
// Covariance model: diag + tap (tapsum - diag) + channel (chansum - tapsum) + between.
struct ConvMomentTerms {
  std::vector<double> mean1, mean2, diag, tapsum, chansum, between;
  double covariance(size_t o, const InputCorrelation& c) const {
    double v = diag[o];  // (tapsum, chansum are NaN when not computed; only read when needed)
    if (c.tap != 0.0) v += c.tap * (tapsum[o] - diag[o]);
    if (c.channel != 0.0) v += c.channel * (chansum[o] - tapsum[o]);
    return v + between[o];
  }
};

// w1, w2: OIHW weights of `geom`; `in`: moments of the conv input (geom.c_in channels).
// Without border correction every tap counts at every position. Without correlation_terms
// tapsum and chansum (the costly part, needed only under a correlated input model) are NaN.
ConvMomentTerms conv_moment_terms(const ConvGeom& geom, std::span<const float> w1,
                                  std::span<const float> w2, const ChannelMoments& in,
                                  bool border_correction = true, bool correlation_terms = true);

// The conv terms of the joint repair (joint_repair.h) in one pass over the weights, under
// the diagonal model (no input correlation). FP weights w, quantized weights q, FP input x,
// quantized input x^ = a x + n per input channel (noise.mean = E[x^], noise.var = Var[n]);
// X = q diag(a) are the effective signal weights. Per output channel, with
// T(w1, w2, in) = conv_moment_terms(geom, w1, w2, in) and cov = covariance(o, {}):
struct JointConvTerms {
  std::vector<double> mean_w;  // T(w, w, x).mean1
  std::vector<double> var_w;   // T(w, w, x).cov
  std::vector<double> cov_xw;  // T(X, w, x).cov
  std::vector<double> var_x;   // T(X, X, x).cov
  std::vector<double> mean_q;  // T(q, q, noise).mean1
  std::vector<double> var_n;   // T(q, q, noise).diag
};
JointConvTerms joint_conv_terms(const ConvGeom& geom, std::span<const float> w, std::span<const float> q,
                                const ChannelMoments& x, std::span<const double> a, const ChannelMoments& noise,
                                bool border_correction = true);

// Moments of conv(x, w) + bias (bias may be empty).
ChannelMoments conv_moments(const ConvGeom& geom, std::span<const float> w,
                            std::span<const float> bias, const ChannelMoments& in,
                            bool border_correction = true, const InputCorrelation& corr = {});

// Tap and channel correlation (0 <= channel <= tap <= 0.99, grid step 0.01) under which the
// covariance model of `t` (w1 = w2 = the FP weights) comes closest, in relative least
// squares over output channels, to `target` (e.g. the FP BN running variances + eps).
// Optionally returns the relative RMS error of the fit and of the diagonal model.
InputCorrelation fit_input_correlation(const ConvMomentTerms& t, const std::vector<double>& target,
                                       double* fit_rel_rms = nullptr, double* diag_rel_rms = nullptr);

// The geometry of Conv node `n` in `g` with the input shape that shape inference gives.
ConvGeom conv_node_geom(const Graph& g, const Node& n, const std::map<std::string, Shape>& shapes);

}  // namespace dfmpc
