// VarianceRepair::covariance (see repair.h, covariance_propagation.h).
#include <algorithm>
#include <cmath>

#include "quant/stats/joint_repair.h"
#include "quant/stats/layer_view.h"
#include "runtime/shape_inference.h"

namespace dfmpc {

using namespace stats_detail;

std::set<std::string> repair_covariance(const Graph& fp, Graph& q, const RepairOptions& opt, RepairReport* report) {
  std::set<std::string> handled;
  const CovOptions co = opt.fit_input_prior ? fit_input_prior(fp, opt.cov) : opt.cov;
  const auto shapes = infer_shapes(fp, 2);
  std::map<std::string, int> fp_index;
  for (size_t k = 0; k < fp.nodes.size(); ++k) fp_index[fp.nodes[k].name] = static_cast<int>(k);
  const double rmin = opt.min_var_ratio, rmax = opt.max_var_ratio;

  std::map<std::string, SpatialCov> F, Q;  // Q holds only values that differ from fp's
  std::set<std::string> exact;
  for (const auto& in : fp.inputs) {
    F[in.name] = input_prior(shapes.at(in.name).at(1), co);
    exact.insert(in.name);
  }
  auto qv = [&](const std::string& v) -> const SpatialCov& { return exact.count(v) ? F.at(v) : Q.at(v); };

  for (int k = 0; k < static_cast<int>(q.nodes.size()); ++k) {
    const Node qn = q.nodes[k];
    if (qn.inputs.empty() || !F.count(qn.inputs[0])) continue;
    auto fit = fp_index.find(qn.name);
    if (fit == fp_index.end()) throw ModelError(qn.where() + ": no node of that name in the FP graph");
    const Node& fn = fp.nodes[fit->second];
    const std::string out = qn.outputs.at(0);
    bool in_exact = true;
    for (const auto& v : qn.inputs)
      if (F.count(v)) in_exact = in_exact && exact.count(v);

    if (qn.op == "Conv") {
      const ConvGeom g = conv_node_geom(fp, fn, shapes);
      auto bias = [&](const Graph& gr, const Node& n) {
        std::vector<double> b(g.c_out, 0.0);
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
          const auto& t = gr.constant(n.inputs[2]).f;
          b.assign(t.begin(), t.end());
        }
        return b;
      };
      const std::vector<double> bf = bias(fp, fn), bq = bias(q, qn);
      const auto& wf = fp.constant(fn.inputs.at(1)).f;
      const auto& wq = q.constant(qn.inputs.at(1)).f;
      F[out] = conv_cov(g, wf, bf, F.at(fn.inputs[0]), co);
      handled.insert(qn.name);
      if (in_exact && treat_as_unquantized(wf, wq, opt.min_rel_error) && bf == bq) {
        exact.insert(out);
        continue;
      }
      SpatialCov z = conv_cov(g, wq, bq, qv(qn.inputs[0]), co);
      if (following_bn(fp, fn.outputs[0]) < 0) {
        // BN-less conv: bias and per-channel scale towards the FP model's moments.
        const SpatialCov& f = F.at(out);
        const int64_t O = g.c_out;
        std::vector<double> s(O), shift(O), rel(O), ratio(O);
        for (int64_t o = 0; o < O; ++o) {
          shift[o] = opt.mean ? z.mean[o] - f.mean[o] : 0.0;
          double rr = f.var(o) > 0 ? z.var(o) / f.var(o) : (z.var(o) > 0 ? rmax : 1.0);
          if (!(rr > 0)) rr = 1.0;
          if (opt.variance == VarianceRepair::none) rr = 1.0;
          rr = std::clamp(rr, rmin, rmax);
          ratio[o] = rr;
          s[o] = opt.bnless_variance ? 1.0 / std::sqrt(rr) : 1.0;
          rel[o] = f.var(o) > 0 ? shift[o] / std::sqrt(f.var(o)) : 0.0;
        }
        LayerView view = view_of(q, qn, shapes);
        scale_layer(q, k, view, s, shift, f.mean);
        std::vector<double> newmean(O);
        for (int64_t o = 0; o < O; ++o) newmean[o] = s[o] * (z.mean[o] - shift[o]) + (1.0 - s[o]) * f.mean[o];
        z = batch_norm_cov(z, s, newmean);
        if (report) {
          LayerRepair lr;
          lr.node = lr.target = qn.name;
          lr.folded = true;
          lr.weight_scale_min = *std::min_element(s.begin(), s.end());
          lr.weight_scale_max = *std::max_element(s.begin(), s.end());
          summarize_channels(lr, rel, ratio);
          if (lr.weight_scale_min != 1.0 || lr.weight_scale_max != 1.0) report->weights_off_grid = true;
          report->layers.push_back(lr);
        }
      }
      Q[out] = std::move(z);
    } else if (qn.op == "BatchNormalization") {
      const SpatialCov& xf = F.at(fn.inputs[0]);
      const auto& gam = fp.constant(fn.inputs.at(1)).f;
      const auto& bet = fp.constant(fn.inputs.at(2)).f;
      const auto& mu = fp.constant(fn.inputs.at(3)).f;
      const auto& var = fp.constant(fn.inputs.at(4)).f;
      const double eps = fn.attr_f("epsilon", 1e-5f);
      const int64_t C = xf.C;
      std::vector<double> sc(C), mb(C);
      for (int64_t i = 0; i < C; ++i) sc[i] = gam[i] / std::sqrt(std::max(xf.var(i), 1e-30)), mb[i] = bet[i];
      F[out] = batch_norm_cov(xf, sc, mb);
      handled.insert(qn.name);
      bool same = true;
      for (size_t i = 1; i < 5; ++i) same = same && bit_equal(fp.constant(fn.inputs[i]).f, q.constant(qn.inputs[i]).f);
      if (in_exact && same) {
        exact.insert(out);
        continue;
      }
      const SpatialCov& xq = qv(qn.inputs[0]);
      const std::string vm = own_initializer(q, k, 3, "repaired_mean");
      const std::string vvn = own_initializer(q, k, 4, "repaired_var");
      auto& qm = q.constant(vm).f;
      auto& qvv = q.constant(vvn).f;
      std::vector<double> rel(C), ratio(C);
      for (int64_t i = 0; i < C; ++i) {
        const double s2 = double(var[i]) + eps;
        const double shift = xq.mean[i] - xf.mean[i];
        double rr = xf.var(i) > 0 ? xq.var(i) / xf.var(i) : (xq.var(i) > 0 ? rmax : 1.0);
        if (!(rr > 0)) rr = 1.0;
        if (opt.variance == VarianceRepair::none) rr = 1.0;
        rr = std::clamp(rr, rmin, rmax);
        ratio[i] = rr;
        rel[i] = opt.mean ? shift / std::sqrt(s2) : 0.0;
        if (opt.mean) qm[i] = static_cast<float>(mu[i] + shift);
        if (rr != 1.0) qvv[i] = static_cast<float>(std::max(0.0, s2 * rr - eps));
      }
      // q's BN output: gamma (x^ - mu^) / sigma^ + beta with the model calibrated to fp's
      // running variance (k_i = sigma_i / sqrt(V_fp,i)).
      const auto& gq = q.constant(qn.inputs[1]).f;
      const auto& bq = q.constant(qn.inputs[2]).f;
      std::vector<double> scq(C), mq(C);
      for (int64_t i = 0; i < C; ++i) {
        const double s = std::sqrt(double(var[i]) + eps), sq = std::sqrt(double(qvv[i]) + eps);
        const double kcal = s / std::sqrt(std::max(xf.var(i), 1e-30));
        scq[i] = gq[i] * kcal / sq;
        mq[i] = bq[i] + gq[i] * ((xq.mean[i] - xf.mean[i]) - (double(qm[i]) - mu[i])) / sq;
      }
      Q[out] = batch_norm_cov(xq, scq, mq);
      if (report) {
        LayerRepair lr;
        const int p = q.producer_of(qn.inputs[0]);
        lr.node = p >= 0 ? q.nodes[p].name : qn.name;
        lr.target = qn.name;
        summarize_channels(lr, rel, ratio);
        report->layers.push_back(lr);
      }
    } else {
      if (!covariance_step(fp, fn, F, co)) break;  // the model ends here
      if (in_exact) {
        exact.insert(out);
        continue;
      }
      // The same step on q's values (exact inputs read from F).
      std::map<std::string, SpatialCov> tmp;
      for (const auto& v : qn.inputs)
        if (F.count(v)) tmp[v] = qv(v);
      if (!covariance_step(q, qn, tmp, co)) break;
      Q[out] = std::move(tmp.at(out));
    }
  }
  return handled;
}

}  // namespace dfmpc
