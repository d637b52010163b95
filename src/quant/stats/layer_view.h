// Internal helpers of the statistics repair (not a public API).
#pragma once
#include <cmath>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/stats/moment_propagation.h"
#include "quant/stats/repair.h"

namespace dfmpc::stats_detail {

inline bool bit_equal(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// sigma^2 new / old is clamped to [k_min_var_ratio, k_max_var_ratio]: a normaliser shrinks
// to a tenth of its FP std at most, but may grow almost without bound — a channel whose FP
// weights are all zero (gamma = 0 folded in) is pure quantization noise after DoReFa, whose
// grid has no zero.
constexpr double k_min_var_ratio = 1e-2;
constexpr double k_max_var_ratio = 1e12;

// The weights of a Conv ([O, I/g, kh, kw]) or a Gemm as [J, K] (alpha folded in), with the
// geometry that lets conv_moment_terms() treat a Gemm as a 1x1 conv on a 1x1 image.
// A Conv's view reads the graph's tensor in place (no copy): it is valid while that tensor
// is neither resized nor destroyed, and sees any edit of its values.
struct LayerView {
  ConvGeom geom;
  std::span<const float> w;  // OIHW / [J, K]
  std::vector<float> gemm_w;  // a Gemm's [J, K] copy that w points into
  bool gemm = false, trans_b = false;
  double alpha = 1.0;

  LayerView() = default;
  LayerView(LayerView&&) = default;  // moving gemm_w keeps its buffer, so w stays valid
  LayerView& operator=(LayerView&&) = default;
  LayerView(const LayerView&) = delete;
  LayerView& operator=(const LayerView&) = delete;
};

inline LayerView view_of(const Graph& g, const Node& n, const std::map<std::string, Shape>& shapes) {
  LayerView v;
  const Tensor& W = g.constant(n.inputs.at(1));
  if (n.op == "Conv") {
    v.geom = conv_node_geom(g, n, shapes);
    v.w = W.f;
    return v;
  }
  v.gemm = true;
  if (n.attr_i("transA", 0) != 0) throw ModelError(n.where() + ": Gemm with transA cannot be repaired");
  if (W.shape.size() != 2) throw ModelError(n.where() + ": Gemm weight is not 2-D");
  v.trans_b = n.attr_i("transB", 0) != 0;
  v.alpha = n.attr_f("alpha", 1.0f);
  const int64_t J = v.trans_b ? W.dim(0) : W.dim(1), K = v.trans_b ? W.dim(1) : W.dim(0);
  v.gemm_w.resize(J * K);
  for (int64_t j = 0; j < J; ++j)
    for (int64_t k = 0; k < K; ++k)
      v.gemm_w[j * K + k] = static_cast<float>(v.alpha * W.f[v.trans_b ? j * K + k : k * J + j]);
  v.w = v.gemm_w;
  v.geom.c_in = K;
  v.geom.c_out = J;
  v.geom.h = v.geom.w = 1;
  return v;
}

// The BN reading value `v` as its only consumer (with constant parameters), or -1.
inline int following_bn(const Graph& q, const std::string& v) {
  if (q.is_graph_output(v)) return -1;
  const auto c = q.consumers_of(v);
  if (c.size() != 1) return -1;
  const Node& n = q.nodes[c[0]];
  if (n.op != "BatchNormalization" || n.inputs.at(0) != v) return -1;
  for (size_t k = 1; k < 5; ++k)
    if (n.inputs.size() <= k || !q.is_const(n.inputs[k])) return -1;
  return c[0];
}

// Subtracts shift[o] from output channel o's bias of a BN-less Conv / Gemm of q (the bias
// input is created when absent).
void shift_bias(Graph& q, int node, const std::vector<double>& shift);

// Fills lr's channel count and its |mean shift| / sigma and variance-ratio summaries.
void summarize_channels(LayerRepair& lr, const std::vector<double>& shift_over_sigma,
                        const std::vector<double>& ratio);

}  // namespace dfmpc::stats_detail
