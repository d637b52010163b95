#include "quant/stats/joint_repair.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "ir/graph_edit.h"
#include "quant/stats/gaussian_moments.h"
#include "quant/stats/layer_view.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/shape_inference.h"

namespace dfmpc {
namespace {

using namespace stats_detail;
using JM = JointMoments;
constexpr double k_inf = std::numeric_limits<double>::infinity();

JM exact_moments(std::vector<double> m, std::vector<double> v) {
  JM r;
  r.mq = m;
  r.vq = v;
  r.c = v;
  r.m = std::move(m);
  r.v = std::move(v);
  r.exact = true;
  return r;
}

void push(JM& r, double m, double v, double mq, double vq, double c) {
  r.m.push_back(m);
  r.v.push_back(v);
  r.mq.push_back(mq);
  r.vq.push_back(vq);
  r.c.push_back(c);
}

void append(JM& r, const JM& x, int64_t c) { push(r, x.m[c], x.v[c], x.mq[c], x.vq[c], x.c[c]); }

// Mixture of joint moments (each entry weighted), per output channel.
struct JointMix {
  std::vector<double> n, sm, smq, s2, s2q, sc;
  explicit JointMix(size_t C) : n(C), sm(C), smq(C), s2(C), s2q(C), sc(C) {}
  void add(size_t k, double w, double m, double v, double mq, double vq, double c) {
    n[k] += w, sm[k] += w * m, smq[k] += w * mq;
    s2[k] += w * (v + m * m), s2q[k] += w * (vq + mq * mq), sc[k] += w * (c + m * mq);
  }
  void add(size_t k, double w, const JM& x, int64_t c) { add(k, w, x.m[c], x.v[c], x.mq[c], x.vq[c], x.c[c]); }
  JM done(bool exact) const {
    JM r;
    for (size_t k = 0; k < n.size(); ++k) {
      const double d = n[k] > 0 ? n[k] : 1.0;
      const double m = sm[k] / d, mq = smq[k] / d;
      push(r, m, std::max(0.0, s2[k] / d - m * m), mq, std::max(0.0, s2q[k] / d - mq * mq), sc[k] / d - m * mq);
    }
    r.exact = exact;
    return r;
  }
};

int64_t inner_of(const Shape& s) {
  int64_t p = 1;
  for (size_t k = 2; k < s.size(); ++k) p *= s[k];
  return p;
}
int64_t channels_of(const Shape& s) { return s.size() >= 2 ? s[1] : 1; }

std::vector<int64_t> const_ints(const Graph& g, const Node& n, size_t k) {
  if (n.inputs.size() <= k || n.inputs[k].empty()) return {};
  if (!g.is_const(n.inputs[k])) throw ModelError(n.where() + ": non-constant input is not supported by the joint repair");
  return g.constant(n.inputs[k]).as_i64();
}

std::vector<double> per_channel(const Node& n, const Tensor& t, int64_t C) {
  const auto v = t.as_f32();
  if (v.size() == 1) return std::vector<double>(C, v[0]);
  if (static_cast<int64_t>(v.size()) != C)
    throw ModelError(n.where() + ": only scalar or per-channel constants are supported by the joint repair");
  return std::vector<double>(v.begin(), v.end());
}

struct Ctx {
  const Graph& fp;
  Graph& q;
  const MomentOptions& moments;
  bool repair;
  RepairReport* report;
  std::map<std::string, Shape> shapes;
  std::map<std::string, int> fp_index;
  double rmin, rmax;

  const Node& fp_node(const Node& qn) const {
    auto it = fp_index.find(qn.name);
    if (it == fp_index.end()) throw ModelError(qn.where() + ": no node of that name in the FP graph");
    const Node& f = fp.nodes[it->second];
    if (f.op != qn.op) throw ModelError(qn.where() + ": the FP graph's node of that name differs");
    return f;
  }
  const Shape& shape(const std::string& v) const {
    auto it = shapes.find(v);
    if (it == shapes.end()) throw ModelError("joint repair: no shape for value '" + v + "'");
    return it->second;
  }
};

void add_report(Ctx& cx, LayerRepair lr, const std::vector<double>& shift_over_sigma,
                const std::vector<double>& ratio) {
  if (!cx.report) return;
  summarize_channels(lr, shift_over_sigma, ratio);
  cx.report->layers.push_back(lr);
}

// Conv / Gemm node k of q.
JM weight_layer(Ctx& cx, int k, const JM& x) {
  const Node qn = cx.q.nodes[k];
  const Node& fn = cx.fp_node(qn);
  const LayerView vw = view_of(cx.fp, fn, cx.shapes);
  LayerView vq = view_of(cx.q, qn, cx.shapes);
  vq.geom = vw.geom;
  const ConvGeom& geom = vw.geom;
  const int64_t O = geom.c_out;
  auto bias_of = [&](const Graph& g, const Node& n) {
    std::vector<double> b(O, 0.0);
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      const auto t = g.constant(n.inputs[2]).as_f32();
      const double beta = n.op == "Gemm" ? n.attr_f("beta", 1.0f) : 1.0;
      for (int64_t o = 0; o < O; ++o) b[o] = beta * (t.size() == 1 ? t[0] : t.at(o));
    }
    return b;
  };
  const std::vector<double> bf = bias_of(cx.fp, fn), bq = bias_of(cx.q, qn);
  const bool same_w = bit_equal(vw.w, vq.w) && bf == bq;

  // x^ = a x + n per input channel.
  std::vector<double> a(geom.c_in), noise(geom.c_in);
  for (int64_t i = 0; i < geom.c_in; ++i) {
    a[i] = x.v[i] > 0 ? x.c[i] / x.v[i] : 0.0;
    noise[i] = std::max(0.0, x.vq[i] - a[i] * x.c[i]);
  }
  const JointConvTerms t = joint_conv_terms(geom, vw.w, vq.w, {x.m, x.v}, a, {x.mq, noise});
  // FP variance: the following BN's running variance when there is one (the truth),
  // otherwise the (diagonal) model.
  const int bn = following_bn(cx.fp, fn.outputs[0]);
  std::vector<double> v(O), m(O);
  LayerRepair lr;
  if (bn >= 0) {
    const Node& b = cx.fp.nodes[bn];
    const auto& rv = cx.fp.constant(b.inputs[4]).f;
    const double eps = b.attr_f("epsilon", 1e-5f);
    for (int64_t o = 0; o < O; ++o) v[o] = double(rv[o]) + eps;
  } else {
    for (int64_t o = 0; o < O; ++o) v[o] = std::max(0.0, t.var_w[o]);
  }
  for (int64_t o = 0; o < O; ++o) m[o] = t.mean_w[o] + bf[o];
  if (x.exact && same_w) return exact_moments(m, v);

  // Effective signal weights X = W^ diag(a) = b W + E per output channel, b in the model's
  // metric: the part along W keeps the FP (correlated) structure, so its variance is b^2
  // times the true FP variance v; the residual E and the input noise are noise-like, for
  // which the diagonal model is unbiased.
  JM r;
  for (int64_t o = 0; o < O; ++o) {
    const double vw = t.var_w[o], cxw = t.cov_xw[o], vxx = t.var_x[o];
    const double b = vw > 0 ? cxw / vw : 0.0;
    const double resid = std::max(0.0, vxx - b * b * vw);
    const double c = b * v[o];
    const double vqo = std::max(0.0, b * b * v[o] + resid + t.var_n[o]);
    push(r, m[o], v[o], t.mean_q[o] + bq[o], vqo, c);
  }
  r.exact = false;

  if (bn < 0 && cx.repair) {
    // No BN to carry the statistics: the mean correction goes into the bias; the variance
    // is left alone (a per-channel weight scale around the modelled FP mean measured worse,
    // docs/decisions.md section 6).
    std::vector<double> shift(O), rel(O), ratio(O, 1.0);
    for (int64_t o = 0; o < O; ++o) {
      shift[o] = r.mq[o] - r.m[o];
      rel[o] = r.v[o] > 0 ? shift[o] / std::sqrt(r.v[o]) : 0.0;
    }
    shift_bias(cx.q, k, shift);
    for (int64_t o = 0; o < O; ++o) r.mq[o] -= shift[o];
    lr.node = qn.name;
    lr.target = qn.name;
    lr.folded = true;
    add_report(cx, lr, rel, ratio);
  }
  return r;
}

JM batch_norm(Ctx& cx, int k, const JM& x) {
  Node& qn = cx.q.nodes[k];
  const Node& fn = cx.fp_node(qn);
  const auto& g = cx.fp.constant(fn.inputs.at(1)).f;
  const auto& be = cx.fp.constant(fn.inputs.at(2)).f;
  const auto& mu = cx.fp.constant(fn.inputs.at(3)).f;
  const auto& var = cx.fp.constant(fn.inputs.at(4)).f;
  const double eps = fn.attr_f("epsilon", 1e-5f);
  const int64_t C = x.channels();
  std::vector<double> m(C), v(C);
  for (int64_t c = 0; c < C; ++c) m[c] = be[c], v[c] = double(g[c]) * g[c];
  bool same = true;
  for (size_t i = 1; i < 5; ++i) same = same && bit_equal(cx.fp.constant(fn.inputs[i]).f, cx.q.constant(qn.inputs[i]).f);
  if (x.exact && same) return exact_moments(m, v);

  if (cx.repair) {
    std::vector<double> rel(C), ratio(C);
    auto& qm = own_constant(cx.q, k, 3).f;
    auto& qv = own_constant(cx.q, k, 4).f;
    for (int64_t c = 0; c < C; ++c) {
      const double s2 = double(var[c]) + eps;
      const double shift = x.mq[c] - x.m[c];
      double rr = x.v[c] > 0 ? x.vq[c] / x.v[c] : (x.vq[c] > 0 ? cx.rmax : 1.0);
      if (x.c[c] > 0) rr = (x.vq[c] / x.c[c]) * (x.vq[c] / x.c[c]);
      if (!std::isfinite(rr) || x.vq[c] <= 0) rr = 1.0;
      rr = std::clamp(rr, cx.rmin, cx.rmax);
      ratio[c] = rr;
      rel[c] = shift / std::sqrt(s2);
      qm[c] = static_cast<float>(mu[c] + shift);
      qv[c] = static_cast<float>(std::max(0.0, s2 * rr - eps));
    }
    LayerRepair lr;
    const int p = cx.q.producer_of(qn.inputs[0]);
    lr.node = p >= 0 ? cx.q.nodes[p].name : qn.name;
    lr.target = qn.name;
    add_report(cx, lr, rel, ratio);
  }
  const auto& gq = cx.q.constant(qn.inputs[1]).f;
  const auto& bq = cx.q.constant(qn.inputs[2]).f;
  const auto& muq = cx.q.constant(qn.inputs[3]).f;
  const auto& varq = cx.q.constant(qn.inputs[4]).f;
  const double epsq = qn.attr_f("epsilon", 1e-5f);
  JM r;
  for (int64_t c = 0; c < C; ++c) {
    const double s = std::sqrt(double(var[c]) + eps), sq = std::sqrt(double(varq[c]) + epsq);
    const double vr = x.v[c] > 0 ? 1.0 / x.v[c] : 0.0;
    const double mq = bq[c] + gq[c] * ((x.mq[c] - x.m[c]) - (double(muq[c]) - mu[c])) / sq;
    const double vq = double(gq[c]) * gq[c] * x.vq[c] * vr * (s * s) / (sq * sq);
    const double cc = double(g[c]) * gq[c] * x.c[c] * vr * s / sq;
    push(r, m[c], v[c], mq, vq, cc);
  }
  r.exact = false;
  return r;
}

JM activation(const Node& n, const Graph& g, const JM& x) {
  double lo = 0.0, hi = k_inf;
  if (n.op == "Clip") {
    lo = -k_inf;
    if (g.opset < 11) {
      lo = n.attr_f("min", -std::numeric_limits<float>::max());
      hi = n.attr_f("max", std::numeric_limits<float>::max());
    } else {
      for (size_t k : {size_t{1}, size_t{2}}) {
        if (n.inputs.size() <= k || n.inputs[k].empty()) continue;
        if (!g.is_const(n.inputs[k])) throw ModelError(n.where() + ": non-constant clip bound");
        (k == 1 ? lo : hi) = g.constant(n.inputs[k]).as_f32().at(0);
      }
    }
  }
  JM r;
  for (int64_t c = 0; c < x.channels(); ++c) {
    const GaussMoments f = clip_moments(x.m[c], std::sqrt(std::max(0.0, x.v[c])), lo, hi);
    if (x.exact) {
      push(r, f.mean, f.var, f.mean, f.var, f.var);
      continue;
    }
    const GaussMoments fq = clip_moments(x.mq[c], std::sqrt(std::max(0.0, x.vq[c])), lo, hi);
    double cc = clipped_covariance(x.m[c], x.v[c], x.mq[c], x.vq[c], x.c[c], lo, hi, f.mean, fq.mean);
    const double lim = std::sqrt(f.var * fq.var);
    cc = std::clamp(cc, -lim, lim);
    push(r, f.mean, f.var, fq.mean, fq.var, cc);
  }
  r.exact = x.exact;
  return r;
}

}  // namespace

std::map<std::string, JointMoments> propagate_joint(const Graph& fp, Graph& q, const MomentOptions& opt,
                                                    bool repair, RepairReport* report) {
  constexpr int64_t batch = 2;
  Ctx cx{fp, q, opt, repair, report, infer_shapes(fp, batch), {}, k_min_var_ratio, k_max_var_ratio};
  for (size_t k = 0; k < fp.nodes.size(); ++k) cx.fp_index[fp.nodes[k].name] = static_cast<int>(k);
  std::map<std::string, JM> mom;
  for (const auto& in : fp.inputs) {
    const int64_t C = channels_of(cx.shape(in.name));
    const auto& om = opt.input_mean;
    const auto& ov = opt.input_var;
    std::vector<double> m(C), v(C);
    for (int64_t c = 0; c < C; ++c) {
      m[c] = om.size() == 1 ? om[0] : om.at(c);
      v[c] = ov.size() == 1 ? ov[0] : ov.at(c);
    }
    mom[in.name] = exact_moments(m, v);
  }
  auto is_act = [&](const std::string& v) { return !v.empty() && mom.count(v) != 0; };

  for (int k = 0; k < static_cast<int>(q.nodes.size()); ++k) {
    const Node n = q.nodes[k];
    std::vector<size_t> act;
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (is_act(n.inputs[i])) act.push_back(i);
    if (act.empty() || n.op == "Shape") continue;
    const std::string out = n.outputs.at(0);
    const JM& x = mom.at(n.inputs[act[0]]);
    const int64_t C = x.channels();
    auto need_first = [&] {
      if (act[0] != 0 || act.size() != 1)
        throw ModelError(n.where() + ": the joint repair expects one activation input, the first");
    };
    JM y;
    if (n.op == "Conv" || n.op == "Gemm") {
      need_first();
      y = weight_layer(cx, k, x);
    } else if (n.op == "BatchNormalization") {
      need_first();
      y = batch_norm(cx, k, x);
    } else if (n.op == "Relu" || n.op == "Clip") {
      need_first();
      y = activation(n, q, x);
    } else if (n.op == "Add" || n.op == "Sub" || n.op == "Mul" || n.op == "Div") {
      const double sign = n.op == "Sub" ? -1.0 : 1.0;
      if (act.size() == 2) {
        if (n.op == "Mul" || n.op == "Div") throw ModelError(n.where() + ": " + n.op + " of two activations is not supported by the joint repair");
        const JM& b = mom.at(n.inputs[act[1]]);
        if (b.channels() != C) throw ModelError(n.where() + ": operands have different channel counts");
        for (int64_t c = 0; c < C; ++c)
          push(y, x.m[c] + sign * b.m[c], x.v[c] + b.v[c], x.mq[c] + sign * b.mq[c], x.vq[c] + b.vq[c], x.c[c] + b.c[c]);
        y.exact = x.exact && b.exact;
      } else {
        const size_t kc = 1 - act[0];
        const Node& fn = cx.fp_node(n);
        if (!q.is_const(n.inputs.at(kc)) || !fp.is_const(fn.inputs.at(kc)))
          throw ModelError(n.where() + ": operand is neither an activation nor a constant");
        const auto kf = per_channel(n, fp.constant(fn.inputs[kc]), C);
        const auto kq = per_channel(n, q.constant(n.inputs[kc]), C);
        if (n.op == "Div" && act[0] != 0) throw ModelError(n.where() + ": division by an activation is not supported by the joint repair");
        for (int64_t c = 0; c < C; ++c) {
          double m = x.m[c], v = x.v[c], mq = x.mq[c], vq = x.vq[c], cc = x.c[c];
          if (n.op == "Add") m += kf[c], mq += kq[c];
          else if (n.op == "Sub") {
            if (act[0] == 0) m -= kf[c], mq -= kq[c];
            else m = kf[c] - m, mq = kq[c] - mq;
          } else {
            const double a = n.op == "Mul" ? kf[c] : 1.0 / kf[c], aq = n.op == "Mul" ? kq[c] : 1.0 / kq[c];
            m *= a, v *= a * a, mq *= aq, vq *= aq * aq, cc *= a * aq;
          }
          push(y, m, v, mq, vq, cc);
        }
        y.exact = x.exact && kf == kq;
      }
    } else if (n.op == "Concat") {
      if (act.size() != n.inputs.size()) throw ModelError(n.where() + ": Concat of activations and constants is not supported by the joint repair");
      const Shape& so = cx.shape(out);
      int64_t axis = n.attr_i("axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(so.size());
      bool exact = true;
      for (const auto& v : n.inputs) exact = exact && mom.at(v).exact;
      if (axis == 1) {
        for (const auto& v : n.inputs)
          for (int64_t c = 0; c < mom.at(v).channels(); ++c) append(y, mom.at(v), c);
        y.exact = exact;
      } else {
        if (axis == 0) throw ModelError(n.where() + ": Concat along the batch axis");
        JointMix mix(C);
        for (const auto& v : n.inputs)
          for (int64_t c = 0; c < C; ++c) mix.add(c, static_cast<double>(cx.shape(v).at(axis)), mom.at(v), c);
        y = mix.done(exact);
      }
    } else if (n.op == "MaxPool") {
      need_first();
      const PoolGeom pg = pool_geom(n, cx.shape(n.inputs[0]));
      const int kk = static_cast<int>(pg.kh * pg.kw);
      for (int64_t c = 0; c < C; ++c) {
        const GaussMoments f = max_of_normals_moments(x.m[c], std::sqrt(x.v[c]), kk, k_maxpool_rho);
        const GaussMoments fq = max_of_normals_moments(x.mq[c], std::sqrt(x.vq[c]), kk, k_maxpool_rho);
        const double r = x.v[c] > 0 && x.vq[c] > 0 ? x.c[c] / std::sqrt(x.v[c] * x.vq[c]) : 0.0;
        push(y, f.mean, f.var, fq.mean, fq.var, x.exact ? f.var : r * std::sqrt(f.var * fq.var));
      }
      y.exact = x.exact;
    } else if (n.op == "AveragePool" || n.op == "GlobalAveragePool") {
      need_first();
      const Shape& si = cx.shape(n.inputs[0]);
      double valid = 1.0;
      if (n.op == "AveragePool") {
        const PoolGeom pg = pool_geom(n, si);
        const double window = static_cast<double>(pg.kh * pg.kw);
        if (n.attr_i("count_include_pad", 0) != 0) {
          double acc = 0;
          for (int64_t oh = 0; oh < pg.oh; ++oh)
            for (int64_t ow = 0; ow < pg.ow; ++ow) {
              int64_t cnt = 0;
              for (int64_t r = 0; r < pg.kh; ++r)
                for (int64_t s = 0; s < pg.kw; ++s) {
                  const int64_t ih = oh * pg.sh - pg.pt + r * pg.dh, iw = ow * pg.sw - pg.pl + s * pg.dw;
                  cnt += ih >= 0 && ih < pg.h && iw >= 0 && iw < pg.w;
                }
              acc += static_cast<double>(cnt);
            }
          valid = acc / static_cast<double>(pg.oh * pg.ow) / window;
        }
      }
      for (int64_t c = 0; c < C; ++c) push(y, valid * x.m[c], x.v[c], valid * x.mq[c], x.vq[c], x.c[c]);
      y.exact = x.exact;
    } else if (n.op == "Flatten" || n.op == "Reshape" || n.op == "Squeeze" || n.op == "Unsqueeze") {
      need_first();
      const Shape& si = cx.shape(n.inputs[0]);
      const Shape& so = cx.shape(out);
      if (si.empty() || so.empty() || si[0] != batch || so[0] != batch)
        throw ModelError(n.where() + ": the joint repair needs the batch to stay on axis 0");
      int64_t ne = 1;
      for (size_t i = 1; i < si.size(); ++i) ne *= si[i];
      const int64_t ii = inner_of(si), io = inner_of(so), Co = channels_of(so);
      JointMix mix(Co);
      for (int64_t e = 0; e < ne; ++e) mix.add((e / io) % Co, 1.0, x, (e / ii) % channels_of(si));
      y = mix.done(x.exact);
      if (x.exact) y = exact_moments(y.m, y.v);
    } else if (n.op == "Identity" || n.op == "Dropout") {
      need_first();
      y = x;
    } else if (n.op == "Slice") {
      need_first();
      std::vector<int64_t> starts, ends, axes, steps;
      if (q.opset < 10) {
        starts = n.attr_ints("starts"), ends = n.attr_ints("ends"), axes = n.attr_ints("axes");
      } else {
        starts = const_ints(q, n, 1), ends = const_ints(q, n, 2), axes = const_ints(q, n, 3), steps = const_ints(q, n, 4);
      }
      if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
      if (steps.empty()) steps.assign(starts.size(), 1);
      const int64_t rank = static_cast<int64_t>(cx.shape(n.inputs[0]).size());
      y = x;
      for (size_t i = 0; i < axes.size(); ++i) {
        const int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
        if (ax == 0) throw ModelError(n.where() + ": Slice along the batch axis");
        if (ax != 1) continue;
        const int64_t step = steps.at(i);
        if (step == 0) throw ModelError(n.where() + ": Slice step is 0");
        auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v < 0 ? v + C : v, lo, hi); };
        const int64_t s0 = step > 0 ? clampi(starts.at(i), 0, C) : clampi(starts.at(i), 0, C - 1);
        const int64_t e0 = step > 0 ? clampi(ends.at(i), 0, C) : clampi(ends.at(i), -1, C - 1);
        JM sel;
        for (int64_t c = s0; step > 0 ? c < e0 : c > e0; c += step) append(sel, x, c);
        sel.exact = x.exact;
        y = sel;
      }
    } else if (n.op == "Pad") {
      need_first();
      if (n.attr_s("mode", "constant") != "constant") throw ModelError(n.where() + ": only constant Pad is supported by the joint repair");
      std::vector<int64_t> pads;
      double value = 0.0;
      if (q.opset < 11) {
        pads = n.attr_ints("pads");
        value = n.attr_f("value", 0.0f);
      } else {
        pads = const_ints(q, n, 1);
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
          const auto v = q.constant(n.inputs[2]).as_f32();
          if (!v.empty()) value = v[0];
        }
      }
      const Shape& si = cx.shape(n.inputs[0]);
      const Shape& so = cx.shape(out);
      const int64_t rank = static_cast<int64_t>(si.size());
      if (static_cast<int64_t>(pads.size()) != 2 * rank) throw ModelError(n.where() + ": pads do not match the rank");
      if (pads[0] != 0 || pads[rank] != 0) throw ModelError(n.where() + ": Pad along the batch axis");
      const double kept = static_cast<double>(inner_of(si)) / static_cast<double>(std::max<int64_t>(1, inner_of(so)));
      const int64_t before = rank > 1 ? pads[1] : 0, after = rank > 1 ? pads[1 + rank] : 0;
      if (before < 0 || after < 0) throw ModelError(n.where() + ": negative channel pads are not supported");
      for (int64_t c = 0; c < before; ++c) push(y, value, 0, value, 0, 0);
      JointMix mix(C);
      for (int64_t c = 0; c < C; ++c) {
        mix.add(c, kept, x, c);
        mix.add(c, 1.0 - kept, value, 0, value, 0, 0);
      }
      const JM mid = mix.done(x.exact);
      for (int64_t c = 0; c < C; ++c) append(y, mid, c);
      for (int64_t c = 0; c < after; ++c) push(y, value, 0, value, 0, 0);
      y.exact = x.exact;
      if (x.exact) y = exact_moments(y.m, y.v);
    } else {
      throw ModelError(n.where() + ": op " + n.op + " is not supported by the joint repair");
    }
    mom[out] = std::move(y);
  }
  return mom;
}

}  // namespace dfmpc
