// Data-free propagation of per-channel first and second moments through a Graph.
//
// Every activation value gets one (mean, variance) per channel, taken over images and
// spatial positions: channel = axis 1 ([N, C, H, W] or [N, F]). The model is Gaussian and
// "diagonal" (DFQ's assumptions, baselines.md sections 1 and 6), with the choices below:
//  - graph input: per-channel mean / variance from MomentOptions (normalised images: 0, 1);
//  - BatchNormalization: output N(beta, gamma^2) per channel, what BN produces when its
//    running statistics match its input;
//  - Conv / Gemm / MatMul: mean = W.E[x] + b exactly (linear), summed over the taps that lie
//    inside the input, per border class of output positions (zero padding handled exactly
//    for per-channel homogeneous inputs); variance under independent inputs, plus the
//    spread of the mean between border classes;
//  - Relu / Clip (ReLU6): exact Gaussian formulas (gaussian_moments.h) on the input moments;
//  - Add / Sub of two activations: means add (subtract), variances add (independent inputs);
//    with a per-channel constant: shifted mean; Mul / Div by a per-channel constant: scaled;
//  - Concat: channel axis concatenates, any other axis mixes (weighted by extent);
//  - MaxPool: max of kh*kw equicorrelated Gaussians (k_maxpool_rho); when the input comes
//    from a Relu / Clip, the max is taken on that activation's Gaussian input and the
//    activation applied after (max and ReLU commute);
//  - AveragePool / GlobalAveragePool: mean unchanged (border zeros counted when
//    count_include_pad); variance kept (fully correlated window, an upper bound);
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

// Moments of the graph input, per channel or one value for all (normalised images: 0, 1).
struct MomentOptions {
  std::vector<double> input_mean{0.0};
  std::vector<double> input_var{1.0};
};

// Equicorrelation of the inputs of one MaxPool window (max_of_normals_moments).
constexpr double k_maxpool_rho = 0.5;

// Moments of every activation value (graph input, node outputs) by name.
using MomentMap = std::map<std::string, ChannelMoments>;

MomentMap propagate_moments(const Graph& g, const MomentOptions& opt = {});
// The same with the shapes of g at batch k_moment_batch already known (infer_shapes, runtime/shape_inference.h).
constexpr int64_t k_moment_batch = 2;  // shapes at batch 2 tell the batch axis apart from a 1
MomentMap propagate_moments(const Graph& g, const std::map<std::string, Shape>& shapes,
                            const MomentOptions& opt = {});

// The pieces of a conv output's moments under the diagonal model (independent inputs), as
// bilinear forms of two weight tensors w1, w2 of the same shape (w1 = w2 for a variance,
// w1 != w2 for a covariance), per output channel, averaged over output positions:
//   mean1/mean2 = sum over valid taps of W E[x] (no bias),
//   diag    = sum_i v_i sum_t w1 w2,
//   between = covariance over border classes of the two means.
struct ConvMomentTerms {
  std::vector<double> mean1, mean2, diag, between;
  double covariance(size_t o) const { return diag[o] + between[o]; }
};

// w1, w2: OIHW weights of `geom`; `in`: moments of the conv input (geom.c_in channels).
// Without border correction every tap counts at every position (tests compare the two).
ConvMomentTerms conv_moment_terms(const ConvGeom& geom, std::span<const float> w1,
                                  std::span<const float> w2, const ChannelMoments& in,
                                  bool border_correction = true);

// The conv terms of the joint repair (joint_repair.h) in one pass over the weights, under
// the diagonal model (no input correlation). FP weights w, quantized weights q, FP input x,
// quantized input x^ = a x + n per input channel (noise.mean = E[x^], noise.var = Var[n]);
// X = q diag(a) are the effective signal weights. Per output channel, with
// T(w1, w2, in) = conv_moment_terms(geom, w1, w2, in) and cov = covariance(o):
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
                            bool border_correction = true);

// The geometry of Conv node `n` in `g` with the input shape that shape inference gives.
ConvGeom conv_node_geom(const Graph& g, const Node& n, const std::map<std::string, Shape>& shapes);

}  // namespace dfmpc
