// Data-free propagation of full second-order statistics: per-channel means and the
// cross-channel, spatial auto-covariance of every activation, Cov(x_i(p), x_j(p + d)) for
// offsets d in [-R, R]^2, under a stationary Gaussian model (a "Gaussian process" view of
// the CNN with its actual weights):
//  - Conv: exact for the stationary model, Cov_out(o, o', d) = sum W[o,i,t] W[o',j,t']
//    Cov_in(i, j, s d + t' - t) (zero padding ignored for covariances; means are
//    border-aware as in moment_propagation.h); offsets beyond R are extrapolated from the
//    nearest stored offset times extrapolation_decay per step;
//  - Relu: exact for jointly Gaussian pairs, E[X+ Y+] by conditioning on X (closed form for
//    Y | X) and Gauss-Legendre quadrature over X;
//  - BatchNormalization: the model's pre-BN covariance is turned into a correlation and
//    re-scaled by gamma gamma' (BN output = N(beta, gamma^2) per channel, the running
//    statistics trusted), which re-anchors the model to the truth at every BN;
//  - Add: covariances add (branches independent); Slice: channel selection / spatial
//    subsampling (offset d reads 2d for a step of 2); Pad on channels: zero channels;
//    Identity / Dropout keep everything.
// The graph input's covariance is a prior: per-channel variance input_var, correlation
// input_channel_corr between channels and input_spatial_corr^|d| (Euclidean) in space;
// fit_input_prior() chooses those two correlations so that the first Conv -> BN of the FP
// model reproduces its running variances (data-free: those are model parameters).
// Propagation stops at the first value it cannot follow (pooling to 1x1, Gemm, other ops);
// values after it are absent from the result.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/stats/moment_propagation.h"

namespace dfmpc {

struct SpatialCov {
  int64_t C = 0;
  int R = 0;
  std::vector<double> mean;  // [C]
  std::vector<double> cov;   // [C][C][2R+1][2R+1], Cov(x_i(p), x_j(p + (dy, dx)))
  int D() const { return 2 * R + 1; }
  size_t idx(int64_t i, int64_t j, int dy, int dx) const {
    return ((static_cast<size_t>(i) * C + j) * D() + (dy + R)) * D() + (dx + R);
  }
  double& at(int64_t i, int64_t j, int dy, int dx) { return cov[idx(i, j, dy, dx)]; }
  double at(int64_t i, int64_t j, int dy, int dx) const { return cov[idx(i, j, dy, dx)]; }
  double var(int64_t i) const { return at(i, i, 0, 0); }
};

struct CovOptions {
  int radius = 3;
  double extrapolation_decay = 0.8;
  std::vector<double> input_mean{0.0};
  double input_var = 1.0;
  double input_spatial_corr = 0.9;
  double input_channel_corr = 0.5;
  bool border_correction = true;  // for the means
};

// The prior of a graph input with C channels.
SpatialCov input_prior(int64_t C, const CovOptions& opt);

// Fits input_spatial_corr and input_channel_corr (grid search) to the running variances of
// the BN after the first Conv of fp that reads the graph input; returns opt unchanged when
// there is no such Conv -> BN.
CovOptions fit_input_prior(const Graph& fp, CovOptions opt);

// Single-value transfer functions.
SpatialCov conv_cov(const ConvGeom& geom, const std::vector<float>& w, const std::vector<double>& bias,
                    const SpatialCov& in, const CovOptions& opt);
SpatialCov relu_cov(const SpatialCov& in);

// One step through a Relu / Add / Identity / Dropout / Slice / Pad node of g, reading and
// writing m; false (m unchanged) for any other op or an unsupported form.
bool covariance_step(const Graph& g, const Node& n, std::map<std::string, SpatialCov>& m, const CovOptions& opt);
// y = scale * x (per channel) with the given means: BN on a covariance.
SpatialCov batch_norm_cov(const SpatialCov& x, const std::vector<double>& scale, const std::vector<double>& mean);

// Propagates through fp; stops at the first unsupported op (see above).
std::map<std::string, SpatialCov> propagate_covariance(const Graph& fp, const CovOptions& opt);

}  // namespace dfmpc
