#include "quant/stats/repair.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

#include "ir/graph_edit.h"
#include "quant/stats/joint_repair.h"
#include "quant/stats/layer_view.h"
#include "runtime/shape_inference.h"

namespace dfmpc {

namespace {

constexpr std::array<std::pair<StatsRepair, std::string_view>, 3> k_names{{
    {StatsRepair::keep, "keep"},
    {StatsRepair::mean, "mean"},
    {StatsRepair::joint_mmse, "joint+mmse"},
}};

}  // namespace

std::string_view stats_repair_name(StatsRepair r) {
  for (const auto& [v, name] : k_names)
    if (v == r) return name;
  throw std::logic_error("unknown StatsRepair");
}

std::string stats_repair_names() {
  std::string s;
  for (const auto& [v, name] : k_names) s += (s.empty() ? "" : ", ") + std::string(name);
  return s;
}

StatsRepair stats_repair_from_name(const std::string& name) {
  for (const auto& [v, n] : k_names)
    if (n == name) return v;
  throw std::invalid_argument("unknown statistics repair '" + name + "' (valid: " + stats_repair_names() + ")");
}

namespace stats_detail {

void shift_bias(Graph& q, int k, const std::vector<double>& shift) {
  const Node& qn = q.nodes[k];
  const int64_t O = static_cast<int64_t>(shift.size());
  // Current (quantized model's) effective bias.
  std::vector<double> qb(O, 0.0);
  double beta = 1.0;
  const bool has_bias = qn.inputs.size() > 2 && !qn.inputs[2].empty();
  if (qn.op == "Gemm") beta = qn.attr_f("beta", 1.0f);
  if (has_bias) {
    const auto b = q.constant(qn.inputs[2]).as_f32();
    for (int64_t o = 0; o < O; ++o) qb[o] = beta * (b.size() == 1 ? b[0] : b.at(o));
  }
  std::vector<float> nb(O);
  for (int64_t o = 0; o < O; ++o) nb[o] = static_cast<float>(qb[o] - shift[o]);
  // The bias to write: this node's own [O] copy (a fresh one when there was none, or it was
  // broadcast).
  const bool own_shape = has_bias && q.constant(qn.inputs[2]).numel() == O && q.constant(qn.inputs[2]).is_f32();
  if (!own_shape && has_bias) q.nodes[k].inputs[2].clear();
  Tensor& bias = own_constant(q, k, 2, O);
  if (q.nodes[k].op == "Gemm") {
    if (beta == 0.0) q.nodes[k].attrs["beta"] = 1.0f, beta = 1.0;
    for (auto& x : nb) x = static_cast<float>(x / beta);
  }
  bias.f.assign(nb.begin(), nb.end());
}

void summarize_channels(LayerRepair& lr, const std::vector<double>& shift_over_sigma,
                        const std::vector<double>& ratio) {
  const double n = static_cast<double>(std::max<size_t>(1, ratio.size()));
  lr.channels = static_cast<int64_t>(ratio.size());
  lr.var_ratio_min = 1e300, lr.var_ratio_max = 0;
  double ls = 0;
  for (size_t o = 0; o < ratio.size(); ++o) {
    lr.mean_shift_mean += std::fabs(shift_over_sigma[o]) / n;
    lr.mean_shift_max = std::max(lr.mean_shift_max, std::fabs(shift_over_sigma[o]));
    lr.var_ratio_min = std::min(lr.var_ratio_min, ratio[o]);
    lr.var_ratio_max = std::max(lr.var_ratio_max, ratio[o]);
    ls += std::log(ratio[o]);
  }
  lr.var_ratio_geomean = std::exp(ls / n);
}

}  // namespace stats_detail

using namespace stats_detail;

std::string RepairReport::to_string() const {
  std::ostringstream s;
  s.precision(4);
  for (const auto& l : layers) {
    s << l.node << " -> " << (l.folded ? "bias" : l.target) << ": channels " << l.channels
      << ", |mean shift|/sigma mean " << l.mean_shift_mean << " max " << l.mean_shift_max
      << ", var ratio min " << l.var_ratio_min << " geomean " << l.var_ratio_geomean << " max "
      << l.var_ratio_max << "\n";
  }
  return s.str();
}

namespace {

// StatsRepair::mean: mu^ = mu + sum over the valid taps of (W^ - W) E[x], per quantized layer.
RepairReport repair_means(const Graph& fp, Graph& q, const MomentOptions& moments) {
  RepairReport report;
  const auto shapes = infer_shapes(fp, k_moment_batch);
  const MomentMap mom = propagate_moments(fp, shapes, moments);
  std::map<std::string, int> fp_index;
  for (size_t k = 0; k < fp.nodes.size(); ++k) fp_index[fp.nodes[k].name] = static_cast<int>(k);

  for (int k = 0; k < static_cast<int>(q.nodes.size()); ++k) {
    const Node qn = q.nodes[k];  // copy: q.nodes may be edited below
    if ((qn.op != "Conv" && qn.op != "Gemm") || qn.inputs.size() < 2 || !q.is_const(qn.inputs[1])) continue;
    auto it = fp_index.find(qn.name);
    if (it == fp_index.end()) throw ModelError(qn.where() + ": no node of that name in the FP graph");
    const Node& fn = fp.nodes[it->second];
    if (fn.op != qn.op || !fp.is_const(fn.inputs.at(1)))
      throw ModelError(qn.where() + ": the FP graph's node of that name differs");
    const Tensor& Wt = fp.constant(fn.inputs[1]);
    const Tensor& Qt = q.constant(qn.inputs[1]);
    if (Wt.shape != Qt.shape) throw ModelError(qn.where() + ": quantized weight shape differs from the FP one");
    if (bit_equal(Wt.f, Qt.f)) continue;  // not quantized
    const ChannelMoments& in = mom.at(fn.inputs.at(0));
    const LayerView vw = view_of(fp, fn, shapes);
    const LayerView vq = view_of(q, qn, shapes);
    const ConvMomentTerms tww = conv_moment_terms(vw.geom, vw.w, vw.w, in);
    const ConvMomentTerms tqq = conv_moment_terms(vw.geom, vq.w, vq.w, in);
    const int64_t O = vw.geom.c_out;

    // sigma (for the report): the following BN's running std, or the modelled FP std.
    std::vector<double> shift(O), rel(O);
    const int bn = following_bn(q, qn.outputs.at(0));
    for (int64_t o = 0; o < O; ++o) {
      double s2 = 0;
      if (bn >= 0) {
        const Node& fb = fp.nodes[fp_index.at(q.nodes[bn].name)];
        s2 = double(fp.constant(fb.inputs.at(4)).f[o]) + fb.attr_f("epsilon", 1e-5f);
      } else {
        s2 = std::max(tww.covariance(o), 1e-30);
      }
      shift[o] = tqq.mean1[o] - tww.mean1[o];
      rel[o] = shift[o] / std::sqrt(s2);
    }
    LayerRepair lr;
    lr.node = qn.name;
    if (bn >= 0) {
      lr.target = q.nodes[bn].name;
      const auto& fmu = fp.constant(fp.nodes[fp_index.at(lr.target)].inputs[3]).f;
      auto& qm = own_constant(q, bn, 3).f;
      for (int64_t o = 0; o < O; ++o) qm[o] = static_cast<float>(fmu[o] + shift[o]);
    } else {
      lr.folded = true;
      lr.target = qn.name;
      shift_bias(q, k, shift);
    }
    summarize_channels(lr, rel, std::vector<double>(O, 1.0));
    report.layers.push_back(lr);
  }
  return report;
}

}  // namespace

RepairReport repair_statistics(const Graph& fp, Graph& q, StatsRepair mode, const MomentOptions& moments) {
  switch (mode) {
    case StatsRepair::keep: return {};
    case StatsRepair::mean: return repair_means(fp, q, moments);
    case StatsRepair::joint_mmse: {
      RepairReport report;
      propagate_joint(fp, q, moments, true, &report);
      return report;
    }
  }
  throw std::logic_error("unknown StatsRepair");
}

}  // namespace dfmpc
