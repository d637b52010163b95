#include "quant/stats/moment_propagation.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>

#include "quant/stats/gaussian_moments.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/shape_inference.h"
#include "runtime/kernels/thread_pool.h"

namespace dfmpc {
namespace {

constexpr double k_inf = std::numeric_limits<double>::infinity();

// Valid-tap masks of one spatial axis: mask of kernel taps that land inside the input, and
// how many output positions share that mask.
std::map<uint64_t, int64_t> tap_classes(int64_t out, int64_t in, int64_t k, int64_t stride,
                                        int64_t pad, int64_t dil, bool border, const Node* who) {
  if (k > 64) throw ModelError((who ? who->where() : std::string("conv")) + ": kernel wider than 64 taps");
  std::map<uint64_t, int64_t> cls;
  const uint64_t all = k == 64 ? ~uint64_t{0} : ((uint64_t{1} << k) - 1);
  for (int64_t o = 0; o < out; ++o) {
    uint64_t m = 0;
    if (!border) {
      m = all;
    } else {
      for (int64_t r = 0; r < k; ++r) {
        const int64_t p = o * stride - pad + r * dil;
        if (p >= 0 && p < in) m |= uint64_t{1} << r;
      }
    }
    ++cls[m];
  }
  return cls;
}

// Mixture of per-element moments: accumulate count, sum of means, sum of second moments.
struct Mix {
  std::vector<double> n, s1, s2;
  explicit Mix(size_t c) : n(c, 0.0), s1(c, 0.0), s2(c, 0.0) {}
  void add(size_t c, double w, double m, double v) {
    n[c] += w;
    s1[c] += w * m;
    s2[c] += w * (v + m * m);
  }
  ChannelMoments done() const {
    ChannelMoments r;
    for (size_t c = 0; c < n.size(); ++c) {
      const double m = n[c] > 0 ? s1[c] / n[c] : 0.0;
      const double e2 = n[c] > 0 ? s2[c] / n[c] : 0.0;
      r.mean.push_back(m);
      r.var.push_back(std::max(0.0, e2 - m * m));
    }
    return r;
  }
};

int64_t channels_of(const Shape& s) { return s.size() >= 2 ? s[1] : 1; }
int64_t inner_of(const Shape& s) {
  int64_t p = 1;
  for (size_t k = 2; k < s.size(); ++k) p *= s[k];
  return p;
}
int64_t sample_numel(const Shape& s) {
  int64_t p = 1;
  for (size_t k = 1; k < s.size(); ++k) p *= s[k];
  return p;
}

// A constant broadcast against an activation of shape `out`, per channel (ModelError if it
// varies along any other axis).
std::vector<double> per_channel_constant(const Node& n, const Tensor& t, const Shape& out) {
  const int64_t C = channels_of(out);
  const std::vector<float> v = t.as_f32();
  if (v.size() == 1) return std::vector<double>(C, v[0]);
  // Right-align t.shape against out.
  const size_t r = out.size(), rt = t.shape.size();
  if (rt > r) throw ModelError(n.where() + ": constant operand has a higher rank than the activation");
  for (size_t k = 0; k < rt; ++k) {
    const size_t axis = r - rt + k;
    if (axis != 1 && t.shape[k] != 1)
      throw ModelError(n.where() + ": constant operand varies along axis " + std::to_string(axis) +
                       " (only per-channel constants are supported)");
  }
  std::vector<double> c(C);
  for (int64_t k = 0; k < C; ++k) c[k] = v.size() == static_cast<size_t>(C) ? v[k] : v.at(0);
  if (v.size() != static_cast<size_t>(C)) throw ModelError(n.where() + ": constant operand does not match the channels");
  return c;
}

std::vector<int64_t> const_ints(const Graph& g, const Node& n, size_t k, const char* what) {
  if (n.inputs.size() <= k || n.inputs[k].empty()) return {};
  if (!g.is_const(n.inputs[k]))
    throw ModelError(n.where() + ": non-constant " + what + " is not supported by moment propagation");
  return g.constant(n.inputs[k]).as_i64();
}

ChannelMoments broadcast(const std::vector<double>& m, const std::vector<double>& v, int64_t C) {
  ChannelMoments r;
  for (int64_t c = 0; c < C; ++c) {
    r.mean.push_back(m.size() == 1 ? m[0] : m.at(c));
    r.var.push_back(v.size() == 1 ? v[0] : v.at(c));
  }
  return r;
}

// Per-sample element remapping (Flatten, Reshape, Squeeze, Unsqueeze): output channel =
// mixture of the input channels its elements come from (row-major order is preserved).
ChannelMoments remap(const Node& n, const ChannelMoments& in, const Shape& si, const Shape& so,
                     int64_t batch) {
  if (si.empty() || so.empty() || si[0] != batch || so[0] != batch)
    throw ModelError(n.where() + ": moment propagation needs the batch to stay on axis 0");
  const int64_t ne = sample_numel(si);
  if (ne != sample_numel(so)) throw ModelError(n.where() + ": element count changes");
  const int64_t ii = inner_of(si), io = inner_of(so), Ci = channels_of(si), Co = channels_of(so);
  Mix mix(Co);
  for (int64_t e = 0; e < ne; ++e) {
    const int64_t ci = (e / ii) % Ci, co = (e / io) % Co;
    mix.add(co, 1.0, in.mean[ci], in.var[ci]);
  }
  return mix.done();
}

}  // namespace

ConvGeom conv_node_geom(const Graph& g, const Node& n, const std::map<std::string, Shape>& shapes) {
  auto it = shapes.find(n.inputs.at(0));
  if (it == shapes.end()) throw ModelError(n.where() + ": input shape unknown");
  return conv_geom(n, it->second, g.constant(n.inputs.at(1)).shape);
}

namespace {

// One border class of output positions: the kernel taps (row-major offsets r kw + c) that
// lie inside the input there, and the class's share of the output positions.
struct TapClass {
  std::vector<int64_t> taps;
  double p = 0;
};

std::vector<TapClass> conv_tap_classes(const ConvGeom& geom, bool border_correction) {
  const auto rows = tap_classes(geom.out_h(), geom.h, geom.kh, geom.stride_h, geom.pad_t, geom.dil_h, border_correction, nullptr);
  const auto cols = tap_classes(geom.out_w(), geom.w, geom.kw, geom.stride_w, geom.pad_l, geom.dil_w, border_correction, nullptr);
  const double npos = static_cast<double>(geom.out_h() * geom.out_w());
  std::vector<TapClass> classes;
  for (const auto& [rm, rc] : rows)
    for (const auto& [cm, cc] : cols) {
      TapClass t;
      t.p = static_cast<double>(rc * cc) / npos;
      for (int64_t r = 0; r < geom.kh; ++r)
        for (int64_t c = 0; c < geom.kw; ++c)
          if ((rm >> r & 1) && (cm >> c & 1)) t.taps.push_back(r * geom.kw + c);
      classes.push_back(std::move(t));
    }
  return classes;
}

// Share of the output positions at which each tap lies inside the input.
std::vector<double> tap_validity(const std::vector<TapClass>& classes, int64_t K) {
  std::vector<double> pi(static_cast<size_t>(K), 0.0);
  for (const auto& c : classes)
    for (const int64_t t : c.taps) pi[t] += c.p;
  return pi;
}

// The terms are computed one output row (the contiguous [i][t] weights of one output channel)
// at a time; each sum over a row runs in independent lanes so that it vectorises.
constexpr int64_t k_lanes = 8;

// sum_e c[e] a[e] b[e] over the n elements of a row.
double weighted_dot(const double* c, const float* a, const float* b, int64_t n) {
  double acc[k_lanes] = {};
  int64_t e = 0;
  for (; e + k_lanes <= n; e += k_lanes)
    for (int64_t l = 0; l < k_lanes; ++l) acc[l] += c[e + l] * (double(a[e + l]) * b[e + l]);
  double s = 0;
  for (; e < n; ++e) s += c[e] * (double(a[e]) * b[e]);
  for (const double x : acc) s += x;
  return s;
}

// Per tap t < K of a row w ([i][t]): out[t] = sum_i c[i] w[i K + t].
void tap_sums(const double* c, const float* w, int64_t Ig, int64_t K, double* out) {
  std::fill(out, out + K, 0.0);
  if (K == 1) {
    double acc[k_lanes] = {};
    int64_t i = 0;
    for (; i + k_lanes <= Ig; i += k_lanes)
      for (int64_t l = 0; l < k_lanes; ++l) acc[l] += c[i + l] * w[i + l];
    for (; i < Ig; ++i) out[0] += c[i] * w[i];
    for (const double x : acc) out[0] += x;
    return;
  }
  for (int64_t i = 0; i < Ig; ++i)
    for (int64_t t = 0; t < K; ++t) out[t] += c[i] * w[i * K + t];
}

// Over the border classes k (share p_k) of per-tap values m1, m2 summed over each class's
// taps (m_k = sum_{t in k} m[t]): sum p_k m1_k, sum p_k m2_k and sum p_k m1_k m2_k.
struct ClassMoments {
  double mean1 = 0, mean2 = 0, cross = 0;
};
ClassMoments over_classes(const std::vector<TapClass>& classes, const double* m1, const double* m2) {
  ClassMoments r;
  for (const TapClass& k : classes) {
    double a = 0, b = 0;
    for (const int64_t t : k.taps) a += m1[t], b += m2[t];
    r.mean1 += k.p * a, r.mean2 += k.p * b, r.cross += k.p * a * b;
  }
  return r;
}

// Runs fn(g, o0, nb) over blocks of nb output channels [o0, o0 + nb) of each group on the
// thread pool, each block worth a few hundred microseconds (small layers: one block).
template <class F>
void for_row_blocks(const ConvGeom& geom, F&& fn) {
  const int64_t G = geom.groups, Og = geom.c_out / G, n = geom.c_in / G * geom.kh * geom.kw;
  const int64_t block = std::max<int64_t>(32, (int64_t{1} << 18) / std::max<int64_t>(1, n));
  const int64_t per_group = (Og + block - 1) / block;
  pool::parallel_for(G * per_group, [&](int64_t item, int) {
    const int64_t g = item / per_group, o0 = g * Og + (item % per_group) * block;
    fn(g, o0, std::min(block, (g + 1) * Og - o0));
  });
}

// Per input channel of group g: E[x], and pi_t v_i in the row layout.
struct GroupMoments {
  std::vector<double> ex, pv;
};
GroupMoments group_moments(const ChannelMoments& in, const std::vector<double>& pi, int64_t g, int64_t Ig) {
  GroupMoments m;
  for (int64_t i = 0; i < Ig; ++i) {
    const double v = std::max(0.0, in.var[g * Ig + i]);
    m.ex.push_back(in.mean[g * Ig + i]);
    for (const double p : pi) m.pv.push_back(p * v);
  }
  return m;
}

}  // namespace

ConvMomentTerms conv_moment_terms(const ConvGeom& geom, std::span<const float> w1,
                                  std::span<const float> w2, const ChannelMoments& in,
                                  bool border_correction) {
  const int64_t O = geom.c_out, G = geom.groups, Ig = geom.c_in / G, K = geom.kh * geom.kw, n = Ig * K;
  if (static_cast<int64_t>(w1.size()) != O * n || w2.size() != w1.size())
    throw ModelError("conv_moment_terms: weight size does not match the geometry");
  if (in.channels() != geom.c_in) throw ModelError("conv_moment_terms: input moments have the wrong channel count");
  const std::vector<TapClass> classes = conv_tap_classes(geom, border_correction);
  const std::vector<double> pi = tap_validity(classes, K);
  std::vector<GroupMoments> gm;
  for (int64_t g = 0; g < G; ++g) gm.push_back(group_moments(in, pi, g, Ig));
  ConvMomentTerms t;
  for (auto* v : {&t.mean1, &t.mean2, &t.diag, &t.between}) v->assign(O, 0.0);
  for_row_blocks(geom, [&](int64_t g, int64_t o0, int64_t nb) {
    const GroupMoments& m = gm[g];
    std::vector<double> taps(static_cast<size_t>(2 * K));
    double *m1 = taps.data(), *m2 = m1 + K;  // per-tap E[x] forms
    for (int64_t o = o0; o < o0 + nb; ++o) {
      const float* a = w1.data() + o * n;
      const float* b = w2.data() + o * n;
      tap_sums(m.ex.data(), a, Ig, K, m1);
      if (b != a) tap_sums(m.ex.data(), b, Ig, K, m2);
      const ClassMoments mean = over_classes(classes, m1, b != a ? m2 : m1);
      t.mean1[o] = mean.mean1;
      t.mean2[o] = mean.mean2;
      t.between[o] = mean.cross - mean.mean1 * mean.mean2;
      t.diag[o] = weighted_dot(m.pv.data(), a, b, n);
    }
  });
  return t;
}

namespace {

// Coefficients of joint_conv_terms() for the rows of group g: the diagonal quadratic forms
// sum_e c[e] w1[e] w2[e] with c = pi_t v_i (ww: W W), pi_t a_i v_i (xw: X W),
// pi_t a_i^2 v_i (xx: X X), pi_t noise_i (nn: q q), in the row layout [i K + t]; the linear
// forms' coefficients E[x_i], a_i E[x_i] and E[x^_i] per input channel.
struct JointCoefs {
  std::vector<double> ww, xw, xx, nn;
  std::vector<double> ex, aex, mq;
};

JointCoefs joint_coefs(const ChannelMoments& x, std::span<const double> a, const ChannelMoments& noise,
                       const std::vector<double>& pi, int64_t g, int64_t Ig) {
  JointCoefs c;
  for (int64_t i = 0; i < Ig; ++i) {
    const int64_t ci = g * Ig + i;
    const double v = std::max(0.0, x.var[ci]), ai = a[ci], nv = std::max(0.0, noise.var[ci]);
    for (const double p : pi) {
      c.ww.push_back(p * v);
      c.xw.push_back(p * ai * v);
      c.xx.push_back(p * ai * ai * v);
      c.nn.push_back(p * nv);
    }
    c.ex.push_back(x.mean[ci]);
    c.aex.push_back(ai * x.mean[ci]);
    c.mq.push_back(noise.mean[ci]);
  }
  return c;
}

}  // namespace

JointConvTerms joint_conv_terms(const ConvGeom& geom, std::span<const float> w, std::span<const float> q,
                                const ChannelMoments& x, std::span<const double> a, const ChannelMoments& noise,
                                bool border_correction) {
  const int64_t O = geom.c_out, G = geom.groups, Ig = geom.c_in / G, K = geom.kh * geom.kw, n = Ig * K;
  if (static_cast<int64_t>(w.size()) != O * n || q.size() != w.size())
    throw ModelError("joint_conv_terms: weight size does not match the geometry");
  if (x.channels() != geom.c_in || noise.channels() != geom.c_in || static_cast<int64_t>(a.size()) != geom.c_in)
    throw ModelError("joint_conv_terms: input moments have the wrong channel count");
  const std::vector<TapClass> classes = conv_tap_classes(geom, border_correction);
  const std::vector<double> pi = tap_validity(classes, K);
  std::vector<JointCoefs> coefs;
  for (int64_t g = 0; g < G; ++g) coefs.push_back(joint_coefs(x, a, noise, pi, g, Ig));
  JointConvTerms r;
  for (auto* v : {&r.mean_w, &r.var_w, &r.cov_xw, &r.var_x, &r.mean_q, &r.var_n}) v->assign(O, 0.0);
  for_row_blocks(geom, [&](int64_t g, int64_t o0, int64_t nb) {
    const JointCoefs& c = coefs[g];
    std::vector<double> taps(static_cast<size_t>(3 * K));
    double *mw = taps.data(), *mx = mw + K, *mq = mx + K;  // per-tap E[x] forms of W, X, and E[x^] of q
    for (int64_t o = o0; o < o0 + nb; ++o) {
      const float* wr = w.data() + o * n;
      const float* qr = q.data() + o * n;
      tap_sums(c.ex.data(), wr, Ig, K, mw), tap_sums(c.aex.data(), qr, Ig, K, mx), tap_sums(c.mq.data(), qr, Ig, K, mq);
      const ClassMoments ww = over_classes(classes, mw, mw), xw = over_classes(classes, mx, mw);
      const ClassMoments xx = over_classes(classes, mx, mx);
      r.mean_w[o] = ww.mean1;
      r.mean_q[o] = over_classes(classes, mq, mq).mean1;
      r.var_w[o] = weighted_dot(c.ww.data(), wr, wr, n) + (ww.cross - ww.mean1 * ww.mean2);
      r.cov_xw[o] = weighted_dot(c.xw.data(), qr, wr, n) + (xw.cross - xw.mean1 * xw.mean2);
      r.var_x[o] = weighted_dot(c.xx.data(), qr, qr, n) + (xx.cross - xx.mean1 * xx.mean2);
      r.var_n[o] = weighted_dot(c.nn.data(), qr, qr, n);
    }
  });
  return r;
}

ChannelMoments conv_moments(const ConvGeom& geom, std::span<const float> w,
                            std::span<const float> bias, const ChannelMoments& in,
                            bool border_correction) {
  const ConvMomentTerms t = conv_moment_terms(geom, w, w, in, border_correction);
  ChannelMoments r;
  for (int64_t o = 0; o < geom.c_out; ++o) {
    r.mean.push_back(t.mean1[o] + (bias.empty() ? 0.0 : bias[o]));
    r.var.push_back(std::max(0.0, t.covariance(o)));
  }
  return r;
}

MomentMap propagate_moments(const Graph& g, const MomentOptions& opt) {
  return propagate_moments(g, infer_shapes(g, k_moment_batch), opt);
}

MomentMap propagate_moments(const Graph& g, const std::map<std::string, Shape>& shapes,
                            const MomentOptions& opt) {
  constexpr int64_t batch = k_moment_batch;
  MomentMap mom;
  struct PreAct {
    ChannelMoments in;
    double lo, hi;
  };
  std::map<std::string, PreAct> pre_act;  // Relu / Clip outputs: their Gaussian input

  for (const auto& in : g.inputs) {
    const Shape& s = shapes.at(in.name);
    const int64_t C = channels_of(s);
    if ((opt.input_mean.size() != 1 && static_cast<int64_t>(opt.input_mean.size()) != C) ||
        (opt.input_var.size() != 1 && static_cast<int64_t>(opt.input_var.size()) != C))
      throw ModelError("moment propagation: input moments given for " +
                       std::to_string(opt.input_mean.size()) + " channels, input '" + in.name +
                       "' has " + std::to_string(C));
    mom[in.name] = broadcast(opt.input_mean, opt.input_var, C);
  }
  auto is_act = [&](const std::string& v) { return !v.empty() && mom.count(v) != 0; };
  auto shape = [&](const std::string& v) -> const Shape& {
    auto it = shapes.find(v);
    if (it == shapes.end()) throw ModelError("moment propagation: no shape for value '" + v + "'");
    return it->second;
  };

  for (const Node& n : g.nodes) {
    std::vector<size_t> act;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (is_act(n.inputs[k])) act.push_back(k);
    if (act.empty() || n.op == "Shape") continue;  // shape arithmetic or constants
    const std::string& out = n.outputs.at(0);
    const ChannelMoments& x = mom.at(n.inputs[act[0]]);
    const int64_t C = x.channels();
    ChannelMoments y;
    auto need_first = [&] {
      if (act[0] != 0 || act.size() != 1)
        throw ModelError(n.where() + ": moment propagation expects one activation input, the first");
    };

    if (n.op == "Conv") {
      need_first();
      if (!g.is_const(n.inputs.at(1))) throw ModelError(n.where() + ": non-constant conv weight");
      const ConvGeom geom = conv_node_geom(g, n, shapes);
      std::span<const float> bias;
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) bias = g.constant(n.inputs[2]).f;
      y = conv_moments(geom, g.constant(n.inputs[1]).f, bias, x);
    } else if (n.op == "BatchNormalization") {
      need_first();
      const auto& gam = g.constant(n.inputs.at(1)).f;
      const auto& bet = g.constant(n.inputs.at(2)).f;
      for (int64_t c = 0; c < C; ++c) {
        y.mean.push_back(bet[c]);
        y.var.push_back(double(gam[c]) * gam[c]);
      }
    } else if (n.op == "Relu" || n.op == "Clip") {
      need_first();
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
      for (int64_t c = 0; c < C; ++c) {
        const double s = std::sqrt(std::max(0.0, x.var[c]));
        const GaussMoments m = n.op == "Relu" ? relu_moments(x.mean[c], s) : clip_moments(x.mean[c], s, lo, hi);
        y.mean.push_back(m.mean);
        y.var.push_back(m.var);
      }
      pre_act[out] = PreAct{x, lo, hi};
    } else if (n.op == "Add" || n.op == "Sub" || n.op == "Mul" || n.op == "Div") {
      const double sign = n.op == "Sub" ? -1.0 : 1.0;
      if (act.size() == 2) {
        if (n.op == "Mul" || n.op == "Div")
          throw ModelError(n.where() + ": " + n.op + " of two activations is not supported by moment propagation");
        const ChannelMoments& b = mom.at(n.inputs[act[1]]);
        if (b.channels() != C) throw ModelError(n.where() + ": operands have different channel counts");
        for (int64_t c = 0; c < C; ++c) {
          y.mean.push_back(x.mean[c] + sign * b.mean[c]);
          y.var.push_back(x.var[c] + b.var[c]);
        }
      } else {
        const size_t kc = 1 - act[0];
        if (!g.is_const(n.inputs.at(kc))) throw ModelError(n.where() + ": operand is neither an activation nor a constant");
        const auto k = per_channel_constant(n, g.constant(n.inputs[kc]), shape(out));
        for (int64_t c = 0; c < C; ++c) {
          double m = x.mean[c], v = x.var[c];
          if (n.op == "Add") m += k[c];
          else if (n.op == "Sub") m = act[0] == 0 ? m - k[c] : k[c] - m;
          else if (n.op == "Mul") m *= k[c], v *= k[c] * k[c];
          else if (act[0] == 0) m /= k[c], v /= k[c] * k[c];
          else throw ModelError(n.where() + ": division by an activation is not supported by moment propagation");
          y.mean.push_back(m);
          y.var.push_back(v);
        }
      }
    } else if (n.op == "Concat") {
      if (act.size() != n.inputs.size())
        throw ModelError(n.where() + ": Concat of activations and constants is not supported by moment propagation");
      const Shape& so = shape(out);
      int64_t axis = n.attr_i("axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(so.size());
      if (axis == 1) {
        for (const auto& v : n.inputs) {
          const auto& m = mom.at(v);
          y.mean.insert(y.mean.end(), m.mean.begin(), m.mean.end());
          y.var.insert(y.var.end(), m.var.begin(), m.var.end());
        }
      } else {
        if (axis == 0) throw ModelError(n.where() + ": Concat along the batch axis");
        Mix mix(C);
        for (const auto& v : n.inputs) {
          const auto& m = mom.at(v);
          const double w = static_cast<double>(shape(v).at(axis));
          for (int64_t c = 0; c < C; ++c) mix.add(c, w, m.mean.at(c), m.var.at(c));
        }
        y = mix.done();
      }
    } else if (n.op == "MaxPool") {
      need_first();
      const PoolGeom pg = pool_geom(n, shape(n.inputs[0]));
      const int k = static_cast<int>(pg.kh * pg.kw);
      auto it = pre_act.find(n.inputs[0]);
      for (int64_t c = 0; c < C; ++c) {
        GaussMoments m;
        if (it != pre_act.end()) {  // max(f(z_i)) = f(max z_i) for monotone f
          const ChannelMoments& z = it->second.in;
          const GaussMoments mz = max_of_normals_moments(z.mean[c], std::sqrt(z.var[c]), k, k_maxpool_rho);
          m = clip_moments(mz.mean, std::sqrt(mz.var), it->second.lo, it->second.hi);
        } else {
          m = max_of_normals_moments(x.mean[c], std::sqrt(x.var[c]), k, k_maxpool_rho);
        }
        y.mean.push_back(m.mean);
        y.var.push_back(m.var);
      }
    } else if (n.op == "AveragePool" || n.op == "GlobalAveragePool") {
      need_first();
      double valid = 1.0;
      if (n.op == "AveragePool") {
        const PoolGeom pg = pool_geom(n, shape(n.inputs[0]));
        const double window = static_cast<double>(pg.kh * pg.kw);
        if (n.attr_i("count_include_pad", 0) != 0) {  // zeros at the border pull the mean down
          const auto rows = tap_classes(pg.oh, pg.h, pg.kh, pg.sh, pg.pt, pg.dh, true, &n);
          const auto cols = tap_classes(pg.ow, pg.w, pg.kw, pg.sw, pg.pl, pg.dw, true, &n);
          double acc = 0;
          for (const auto& [rm, rc] : rows)
            for (const auto& [cm, cc] : cols)
              acc += static_cast<double>(rc * cc) * std::popcount(rm) * std::popcount(cm);
          valid = acc / static_cast<double>(pg.oh * pg.ow) / window;
        }
      }
      for (int64_t c = 0; c < C; ++c) {
        y.mean.push_back(valid * x.mean[c]);
        y.var.push_back(x.var[c]);
      }
    } else if (n.op == "Flatten" || n.op == "Reshape" || n.op == "Squeeze" || n.op == "Unsqueeze") {
      need_first();
      y = remap(n, x, shape(n.inputs[0]), shape(out), batch);
    } else if (n.op == "Identity" || n.op == "Dropout") {
      need_first();
      y = x;
    } else if (n.op == "Slice") {
      need_first();
      std::vector<int64_t> starts, ends, axes, steps;
      if (g.opset < 10) {
        starts = n.attr_ints("starts");
        ends = n.attr_ints("ends");
        axes = n.attr_ints("axes");
      } else {
        starts = const_ints(g, n, 1, "starts");
        ends = const_ints(g, n, 2, "ends");
        axes = const_ints(g, n, 3, "axes");
        steps = const_ints(g, n, 4, "steps");
      }
      if (axes.empty())
        for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
      if (steps.empty()) steps.assign(starts.size(), 1);
      const int64_t rank = static_cast<int64_t>(shape(n.inputs[0]).size());
      y = x;
      for (size_t k = 0; k < axes.size(); ++k) {
        const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
        if (a == 0) throw ModelError(n.where() + ": Slice along the batch axis");
        if (a != 1) continue;  // spatial subsampling keeps per-channel moments
        ChannelMoments sel;
        const int64_t step = steps.at(k);
        auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v < 0 ? v + C : v, lo, hi); };
        if (step == 0) throw ModelError(n.where() + ": Slice step is 0");
        int64_t s0 = step > 0 ? clampi(starts.at(k), 0, C) : clampi(starts.at(k), 0, C - 1);
        const int64_t e0 = step > 0 ? clampi(ends.at(k), 0, C) : clampi(ends.at(k), -1, C - 1);
        for (int64_t c = s0; step > 0 ? c < e0 : c > e0; c += step) {
          sel.mean.push_back(x.mean[c]);
          sel.var.push_back(x.var[c]);
        }
        y = sel;
      }
    } else if (n.op == "Pad") {
      need_first();
      if (n.attr_s("mode", "constant") != "constant")
        throw ModelError(n.where() + ": only constant Pad is supported by moment propagation");
      std::vector<int64_t> pads;
      double value = 0.0;
      if (g.opset < 11) {
        pads = n.attr_ints("pads");
        value = n.attr_f("value", 0.0f);
      } else {
        pads = const_ints(g, n, 1, "pads");
        if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
          if (!g.is_const(n.inputs[2])) throw ModelError(n.where() + ": non-constant pad value");
          const auto v = g.constant(n.inputs[2]).as_f32();
          if (!v.empty()) value = v[0];
        }
      }
      const Shape& si = shape(n.inputs[0]);
      const Shape& so = shape(out);
      const int64_t rank = static_cast<int64_t>(si.size());
      if (static_cast<int64_t>(pads.size()) != 2 * rank) throw ModelError(n.where() + ": pads do not match the rank");
      if (pads[0] != 0 || pads[rank] != 0) throw ModelError(n.where() + ": Pad along the batch axis");
      // Spatial padding mixes the constant into every channel; channel padding adds channels.
      const double kept = static_cast<double>(inner_of(si)) / static_cast<double>(std::max<int64_t>(1, inner_of(so)));
      auto mixed = [&](double m, double v) {
        Mix mix(1);
        mix.add(0, kept, m, v);
        mix.add(0, 1.0 - kept, value, 0.0);
        const auto r = mix.done();
        return std::pair{r.mean[0], r.var[0]};
      };
      const int64_t before = rank > 1 ? pads[1] : 0, after = rank > 1 ? pads[1 + rank] : 0;
      if (before < 0 || after < 0) throw ModelError(n.where() + ": negative channel pads (cropping) are not supported");
      for (int64_t c = 0; c < before; ++c) y.mean.push_back(value), y.var.push_back(0.0);
      for (int64_t c = 0; c < C; ++c) {
        const auto [m, v] = mixed(x.mean[c], x.var[c]);
        y.mean.push_back(m);
        y.var.push_back(v);
      }
      for (int64_t c = 0; c < after; ++c) y.mean.push_back(value), y.var.push_back(0.0);
    } else if (n.op == "Gemm" || n.op == "MatMul") {
      need_first();
      if (!g.is_const(n.inputs.at(1))) throw ModelError(n.where() + ": non-constant " + n.op + " weight");
      const Shape& si = shape(n.inputs[0]);
      if (si.size() != 2) throw ModelError(n.where() + ": moment propagation supports " + n.op + " on [N, K] inputs only");
      if (n.op == "Gemm" && n.attr_i("transA", 0) != 0) throw ModelError(n.where() + ": Gemm with transA on an activation");
      const Tensor& B = g.constant(n.inputs[1]);
      const bool tb = n.op == "Gemm" && n.attr_i("transB", 0) != 0;
      const int64_t K = si[1], J = tb ? B.dim(0) : B.dim(1);
      const double alpha = n.op == "Gemm" ? n.attr_f("alpha", 1.0f) : 1.0;
      const double beta = n.op == "Gemm" ? n.attr_f("beta", 1.0f) : 0.0;
      std::vector<double> bias(J, 0.0);
      if (n.op == "Gemm" && n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const auto b = g.constant(n.inputs[2]).as_f32();
        for (int64_t j = 0; j < J; ++j) bias[j] = beta * (b.size() == 1 ? b[0] : b.at(j));
      }
      for (int64_t j = 0; j < J; ++j) {
        double m = 0, v = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double w = alpha * B.f[tb ? j * K + k : k * J + j];
          m += w * x.mean[k];
          v += w * w * x.var[k];
        }
        y.mean.push_back(m + bias[j]);
        y.var.push_back(std::max(0.0, v));
      }
    } else {
      throw ModelError(n.where() + ": op " + n.op + " is not supported by moment propagation");
    }
    mom[out] = std::move(y);
  }
  return mom;
}

}  // namespace dfmpc
