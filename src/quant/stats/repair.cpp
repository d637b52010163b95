#include "quant/stats/repair.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "quant/stats/joint_repair.h"
#include "quant/stats/layer_view.h"
#include "runtime/shape_inference.h"

namespace dfmpc {

namespace stats_detail {

void scale_layer(Graph& q, int k, const LayerView& view, const std::vector<double>& s,
                 const std::vector<double>& shift, const std::vector<double>& fp_mean) {
  const Node& qn = q.nodes[k];
  const int64_t O = static_cast<int64_t>(s.size());
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
  for (int64_t o = 0; o < O; ++o) nb[o] = static_cast<float>(s[o] * (qb[o] - shift[o]) + (1.0 - s[o]) * fp_mean[o]);
  // Write the bias (as a fresh [O] tensor when there was none, or it was broadcast).
  std::string bname;
  if (has_bias && q.constant(qn.inputs[2]).numel() == O && q.constant(qn.inputs[2]).is_f32()) {
    bname = own_initializer(q, k, 2, "repaired_bias");
  } else {
    bname = qn.name + "/repaired_bias";
    while (q.initializers.count(bname)) bname += "_";
    q.initializers[bname] = Tensor::zeros({O});
    if (q.nodes[k].inputs.size() < 3) q.nodes[k].inputs.resize(3);
    q.nodes[k].inputs[2] = bname;
  }
  if (q.nodes[k].op == "Gemm") {
    if (beta == 0.0) q.nodes[k].attrs["beta"] = 1.0f, beta = 1.0;
    for (auto& x : nb) x = static_cast<float>(x / beta);
  }
  q.constant(bname).f.assign(nb.begin(), nb.end());
  // Scale the weights per output channel.
  bool any = false;
  for (int64_t o = 0; o < O; ++o) any = any || s[o] != 1.0;
  if (!any) return;
  const std::string wn = own_initializer(q, k, 1, "repaired_weight");
  Tensor& W = q.constant(wn);
  if (q.nodes[k].op == "Conv") {
    const int64_t per = W.numel() / O;
    for (int64_t o = 0; o < O; ++o)
      for (int64_t e = 0; e < per; ++e) W.f[o * per + e] = static_cast<float>(W.f[o * per + e] * s[o]);
  } else {
    const int64_t J = O, K = W.numel() / O;
    for (int64_t j = 0; j < J; ++j)
      for (int64_t kk = 0; kk < K; ++kk) {
        float& x = W.f[view.trans_b ? j * K + kk : kk * J + j];
        x = static_cast<float>(x * s[j]);
      }
  }
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

RepairOptions repair_options_from_name(const std::string& spec) {
  RepairOptions o;
  o.gain = GainRepair::none;
  std::string name = spec;
  auto strip = [&name](const std::string& suffix) {
    const size_t at = name.find(suffix);
    if (at == std::string::npos || at == 0) return false;
    name.erase(at, suffix.size());
    return true;
  };
  if (strip("+mmse")) o.gain = GainRepair::mmse;
  if (strip("+foldvar")) o.bnless_variance = true;
  if (name == "mean_only") o.variance = VarianceRepair::none;
  else if (name == "additive") o.variance = VarianceRepair::additive;
  else if (name == "noise") o.variance = VarianceRepair::noise;
  else if (name == "ratio") o.variance = VarianceRepair::ratio;
  else if (name == "fitted") o.variance = VarianceRepair::fitted;
  else if (name == "joint") o.variance = VarianceRepair::joint;
  else if (name == "covariance") o.variance = VarianceRepair::covariance;
  else if (name == "split") o.variance = VarianceRepair::split;
  else if (name == "none") o.mean = false, o.variance = VarianceRepair::none;
  else
    throw std::invalid_argument("unknown statistics repair '" + name +
                                "' (valid: none, mean_only, additive, noise, ratio, fitted, split, joint, covariance, each optionally +mmse and / or +foldvar)");
  return o;
}

std::string RepairReport::to_string() const {
  std::ostringstream s;
  s.precision(4);
  for (const auto& l : layers) {
    s << l.node << " -> " << (l.folded ? "bias/scale" : l.target) << ": channels " << l.channels
      << ", |mean shift|/sigma mean " << l.mean_shift_mean << " max " << l.mean_shift_max
      << ", var ratio min " << l.var_ratio_min << " geomean " << l.var_ratio_geomean << " max "
      << l.var_ratio_max;
    if (l.folded) s << ", weight scale " << l.weight_scale_min << ".." << l.weight_scale_max;
    if (l.fit_rel_rms > 0 || l.diag_rel_rms > 0)
      s << ", fitted tap " << l.fitted.tap << " channel " << l.fitted.channel << " (rel rms "
        << l.fit_rel_rms << ", diagonal " << l.diag_rel_rms << ")";
    s << "\n";
  }
  if (weights_off_grid) s << "note: folded layers were scaled per output channel; their weights are off the quantization grid by that factor\n";
  return s.str();
}

RepairReport repair_statistics(const Graph& fp, Graph& q, const RepairOptions& opt) {
  RepairReport report;
  if (opt.variance == VarianceRepair::joint) {
    propagate_joint(fp, q, opt, true, &report);
    return report;
  }
  std::set<std::string> handled;
  RepairOptions plain = opt;
  if (opt.variance == VarianceRepair::covariance) {
    handled = repair_covariance(fp, q, opt, &report);
    plain.variance = VarianceRepair::ratio;
  }
  const auto shapes = infer_shapes(fp, k_moment_batch);
  const MomentMap mom = propagate_moments(fp, shapes, opt.moments);
  std::map<std::string, int> fp_index;
  for (size_t k = 0; k < fp.nodes.size(); ++k) fp_index[fp.nodes[k].name] = static_cast<int>(k);
  const double rmin = opt.min_var_ratio, rmax = opt.max_var_ratio;

  for (int k = 0; k < static_cast<int>(q.nodes.size()); ++k) {
    const Node qn = q.nodes[k];  // copy: q.nodes may be edited below
    if ((qn.op != "Conv" && qn.op != "Gemm") || qn.inputs.size() < 2 || !q.is_const(qn.inputs[1])) continue;
    if (qn.op == "Gemm" && !opt.gemm) continue;
    if (handled.count(qn.name)) continue;
    auto it = fp_index.find(qn.name);
    if (it == fp_index.end()) throw ModelError(qn.where() + ": no node of that name in the FP graph");
    const Node& fn = fp.nodes[it->second];
    if (fn.op != qn.op || !fp.is_const(fn.inputs.at(1)))
      throw ModelError(qn.where() + ": the FP graph's node of that name differs");
    const Tensor& Wt = fp.constant(fn.inputs[1]);
    const Tensor& Qt = q.constant(qn.inputs[1]);
    if (Wt.shape != Qt.shape) throw ModelError(qn.where() + ": quantized weight shape differs from the FP one");
    if (treat_as_unquantized(Wt.f, Qt.f, opt.min_rel_error)) continue;  // not (noticeably) quantized
    const ChannelMoments& in = mom.at(fn.inputs.at(0));

    const LayerView vw = view_of(fp, fn, shapes);
    LayerView vq = view_of(q, qn, shapes);
    vq.geom = vw.geom;
    const bool corr_terms = plain.variance == VarianceRepair::fitted || opt.moments.correlation.any();
    const bool border = opt.moments.border_correction;
    const ConvMomentTerms tww = conv_moment_terms(vw.geom, vw.w, vw.w, in, border, corr_terms);
    const ConvMomentTerms tqq = conv_moment_terms(vw.geom, vq.w, vq.w, in, border, corr_terms);
    const ConvMomentTerms twq = conv_moment_terms(vw.geom, vw.w, vq.w, in, border, corr_terms);
    const int64_t O = vw.geom.c_out;

    LayerRepair lr;
    lr.node = qn.name;
    lr.channels = O;
    const int bn = following_bn(q, qn.outputs.at(0));
    std::vector<double> sigma2(O), fp_mean(O, 0.0);
    InputCorrelation corr = opt.moments.correlation;
    std::vector<float> fp_bias(O, 0.0f);
    if (bn >= 0) {
      const Node& qb = q.nodes[bn];
      auto bi = fp_index.find(qb.name);
      if (bi == fp_index.end()) throw ModelError(qb.where() + ": no node of that name in the FP graph");
      const Node& fb = fp.nodes[bi->second];
      const auto& var = fp.constant(fb.inputs.at(4)).f;
      const double eps = fb.attr_f("epsilon", 1e-5f);
      for (int64_t o = 0; o < O; ++o) sigma2[o] = double(var[o]) + eps;
      if (plain.variance == VarianceRepair::fitted) {
        corr = fit_input_correlation(tww, sigma2, &lr.fit_rel_rms, &lr.diag_rel_rms);
        lr.fitted = corr;
      }
    } else {
      if (qn.op == "Conv" && fn.inputs.size() > 2 && !fn.inputs[2].empty()) fp_bias = fp.constant(fn.inputs[2]).f;
      if (qn.op == "Gemm" && fn.inputs.size() > 2 && !fn.inputs[2].empty()) {
        const auto b = fp.constant(fn.inputs[2]).as_f32();
        const double beta = fn.attr_f("beta", 1.0f);
        for (int64_t o = 0; o < O; ++o) fp_bias[o] = static_cast<float>(beta * (b.size() == 1 ? b[0] : b.at(o)));
      }
      for (int64_t o = 0; o < O; ++o) {
        sigma2[o] = std::max(tww.covariance(o, corr), 1e-30);
        fp_mean[o] = tww.mean1[o] + fp_bias[o];
      }
    }

    // New mean shift and variance ratio (sigma^2 new / old) per output channel; with the
    // mmse gain the ratio is that of the effective normaliser.
    std::vector<double> shift(O), ratio(O);
    double lsum = 0;
    lr.var_ratio_min = 1e300, lr.var_ratio_max = 0;
    for (int64_t o = 0; o < O; ++o) {
      shift[o] = opt.mean ? tqq.mean1[o] - tww.mean1[o] : 0.0;
      const double vw_ = std::max(tww.covariance(o, corr), 1e-30), vq_ = tqq.covariance(o, corr),
                   cwq = twq.covariance(o, corr);
      const double s2 = sigma2[o];
      double var_hat = s2, cov = s2;  // Var(z^) and Cov(z, z^) estimates
      switch (plain.variance) {
        case VarianceRepair::none: break;
        case VarianceRepair::additive: var_hat = s2 + (vq_ - vw_); cov = s2 + (cwq - vw_); break;
        case VarianceRepair::noise: var_hat = s2 + (vq_ - 2 * cwq + vw_); break;
        case VarianceRepair::split: {
          // W^ = a W + E with E orthogonal to W in the model's metric: the a W part keeps
          // the FP correlation structure (its variance is a^2 sigma^2, true sigma), the
          // residual E is noise-like, for which the diagonal model is unbiased.
          const double a = cwq / vw_;
          var_hat = a * a * s2 + std::max(0.0, vq_ - a * a * vw_);
          cov = a * s2;
          break;
        }
        case VarianceRepair::ratio:
        case VarianceRepair::fitted:
        case VarianceRepair::joint:
        case VarianceRepair::covariance: var_hat = s2 * vq_ / vw_; cov = s2 * cwq / vw_; break;
      }
      if (plain.variance == VarianceRepair::none) cov = s2 * cwq / vw_;
      double r = var_hat / s2;
      if (opt.gain == GainRepair::mmse && bn >= 0) {
        // sigma_eff = sigma Var(z^) / Cov(z, z^)  ->  ratio (sigma_eff / sigma)^2.
        const double g = cov > 0 ? var_hat / cov : rmax;
        r = g * g;
      }
      if (!std::isfinite(r)) r = 1.0;
      r = std::clamp(r, rmin, rmax);
      ratio[o] = r;
      lr.var_ratio_min = std::min(lr.var_ratio_min, r);
      lr.var_ratio_max = std::max(lr.var_ratio_max, r);
      lsum += std::log(r);
      const double a = std::fabs(shift[o]) / std::sqrt(s2);
      lr.mean_shift_mean += a / static_cast<double>(O);
      lr.mean_shift_max = std::max(lr.mean_shift_max, a);
    }
    lr.var_ratio_geomean = std::exp(lsum / static_cast<double>(O));

    if (bn >= 0) {
      const Node& qb = q.nodes[bn];
      lr.target = qb.name;
      const double eps = qb.attr_f("epsilon", 1e-5f);
      const std::string vm = own_initializer(q, bn, 3, "repaired_mean");
      const std::string vv = own_initializer(q, bn, 4, "repaired_var");
      auto& qm = q.constant(vm).f;
      auto& qv = q.constant(vv).f;
      const Node& fb = fp.nodes[fp_index.at(qb.name)];
      const auto& fmu = fp.constant(fb.inputs[3]).f;
      for (int64_t o = 0; o < O; ++o) {
        if (opt.mean) qm[o] = static_cast<float>(fmu[o] + shift[o]);
        if (ratio[o] != 1.0) qv[o] = static_cast<float>(std::max(0.0, sigma2[o] * ratio[o] - eps));
      }
    } else {
      lr.folded = true;
      lr.target = qn.name;
      // s = sigma / sigma^ per output channel; W' = s W^, b' = s (b^ - shift) + (1 - s) m.
      std::vector<double> s(O);
      lr.weight_scale_min = 1e300, lr.weight_scale_max = 0;
      for (int64_t o = 0; o < O; ++o) {
        s[o] = opt.bnless_variance ? 1.0 / std::sqrt(ratio[o]) : 1.0;
        lr.weight_scale_min = std::min(lr.weight_scale_min, s[o]);
        lr.weight_scale_max = std::max(lr.weight_scale_max, s[o]);
        if (s[o] != 1.0) report.weights_off_grid = true;
      }
      scale_layer(q, k, vq, s, shift, fp_mean);
    }
    report.layers.push_back(lr);
  }
  return report;
}

}  // namespace dfmpc
