// Experiment driver for the data-free statistics repair (docs/stats-repair.md).
//
//   exp_stats check   model=<onnx> [corr_tap=0 corr_channel=0]
//       propagated pre-BN moments of the FP model vs the BN running statistics
//   exp_stats eval    model=<onnx> setting=2|3|4|6 repair=none,mean_only,... [low=twn]
//                     [images=2000] [offset=0] [gain=none|mmse] [data=...]
//       quantize (pair low layer: twn or dorefa <setting> bit; high layer dorefa 6; edge
//       layers dorefa 8; all per tensor), repair, evaluate top-1
//   exp_stats measure model=<onnx> setting=2 repair=ratio [images=500]
//       REPORTING ONLY: the quantized model's real pre-BN statistics on CIFAR images vs what
//       the repair wrote (never fed back into the model)
//
// No image influences a quantized model: images are read only by evaluate() / measure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "onnx/onnx_io.h"
#include "passes/pairing.h"
#include "quant/quantizers/quant_scheme.h"
#include "quant/stats/covariance_propagation.h"
#include "quant/stats/moment_propagation.h"
#include "quant/stats/repair.h"
#include "runtime/executor.h"
#include "runtime/shape_inference.h"

using namespace dfmpc;

namespace {

std::map<std::string, std::string> g_args;

std::string arg(const std::string& k, const std::string& def) {
  auto it = g_args.find(k);
  return it == g_args.end() ? def : it->second;
}
double argd(const std::string& k, double def) { return std::stod(arg(k, std::to_string(def))); }

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(sep, a);
    if (b == std::string::npos) b = s.size();
    if (b > a) out.push_back(s.substr(a, b - a));
    a = b + 1;
  }
  return out;
}

const std::string k_shared = "/work/shared";

// ---------------------------------------------------------------- ternary variants
// All per output channel unless named _pt. w: one channel's weights; returns alpha * code.

// Least-squares ternary for a given threshold: keep |w| > t, alpha = mean |w| over kept.
double ternary_err(const std::vector<float>& w, double t, double& alpha) {
  double s = 0, n = 0;
  for (float x : w)
    if (std::fabs(x) > t) s += std::fabs(x), n += 1;
  alpha = n > 0 ? s / n : 0.0;
  double e = 0;
  for (float x : w) {
    const double q = std::fabs(x) > t ? (x > 0 ? alpha : -alpha) : 0.0;
    e += (x - q) * (x - q);
  }
  return e;
}

// Exact LS ternary: sort |w|, keep the top m, alpha = mean of kept; best m.
std::vector<float> ternary_ls(const std::vector<float>& w) {
  std::vector<float> a(w.size());
  for (size_t i = 0; i < w.size(); ++i) a[i] = std::fabs(w[i]);
  std::vector<float> s = a;
  std::sort(s.begin(), s.end(), std::greater<>());
  double best = -1, cum = 0;
  size_t bm = 1;
  for (size_t m = 1; m <= s.size(); ++m) {
    cum += s[m - 1];
    const double gain = cum * cum / static_cast<double>(m);  // error = |w|^2 - gain
    if (gain > best) best = gain, bm = m;
  }
  const double t = bm < s.size() ? 0.5 * (s[bm - 1] + s[bm]) : -1.0;
  double alpha = 0;
  ternary_err(w, t, alpha);
  std::vector<float> q(w.size());
  for (size_t i = 0; i < w.size(); ++i) q[i] = a[i] > t ? static_cast<float>(w[i] > 0 ? alpha : -alpha) : 0.0f;
  return q;
}

// Covariance-aware ternary for one output channel (data-free): maximise the correlation
// (q'Cw)^2 / (q'Cq) between the ternary and the FP filter responses under the input
// covariance C = D^1/2 [(1-rho) I + (rho-kappa) blockdiag(1 1') + kappa 1 1'] D^1/2
// (v_i per input channel, rho between taps of a channel, kappa between channels), by
// coordinate ascent from the least-squares ternary code. Returns alpha q, alpha = q'Cw/q'Cq.
std::vector<float> ternary_cov(const std::vector<float>& w, const std::vector<double>& v, int64_t taps,
                               double rho, double kappa, int passes = 30) {
  const int64_t I = static_cast<int64_t>(v.size());
  std::vector<float> q0 = ternary_ls(w);
  std::vector<int> q(w.size());
  for (size_t e = 0; e < w.size(); ++e) q[e] = q0[e] > 0 ? 1 : (q0[e] < 0 ? -1 : 0);
  std::vector<double> sv(I), Sw(I, 0.0), Sq(I, 0.0);
  double Tw = 0, Tq = 0;
  for (int64_t i = 0; i < I; ++i) {
    sv[i] = std::sqrt(std::max(0.0, v[i]));
    for (int64_t t = 0; t < taps; ++t) Sw[i] += w[i * taps + t], Sq[i] += q[i * taps + t];
    Tw += sv[i] * Sw[i];
    Tq += sv[i] * Sq[i];
  }
  std::vector<double> g(w.size());  // C w
  double A = 0, B = 0;
  for (int64_t i = 0; i < I; ++i)
    for (int64_t t = 0; t < taps; ++t) {
      const size_t e = i * taps + t;
      g[e] = (1 - rho) * v[i] * w[e] + (rho - kappa) * v[i] * Sw[i] + kappa * sv[i] * Tw;
      A += q[e] * g[e];
      B += (1 - rho) * v[i] * q[e] * q[e];
    }
  for (int64_t i = 0; i < I; ++i) B += (rho - kappa) * v[i] * Sq[i] * Sq[i];
  B += kappa * Tq * Tq;
  for (int p = 0; p < passes; ++p) {
    bool moved = false;
    for (int64_t i = 0; i < I; ++i)
      for (int64_t t = 0; t < taps; ++t) {
        const size_t e = i * taps + t;
        const double F = B > 0 ? A * A / B : 0.0;
        int best = q[e];
        double bF = F, bA = A, bB = B;
        for (int nv = -1; nv <= 1; ++nv) {
          if (nv == q[e]) continue;
          const double d = nv - q[e];
          const double nA = A + d * g[e];
          const double nB = B + (1 - rho) * v[i] * (nv * nv - q[e] * q[e]) +
                            (rho - kappa) * v[i] * ((Sq[i] + d) * (Sq[i] + d) - Sq[i] * Sq[i]) +
                            kappa * ((Tq + sv[i] * d) * (Tq + sv[i] * d) - Tq * Tq);
          if (nA <= 0 || nB <= 0) continue;
          const double nF = nA * nA / nB;
          if (nF > bF * (1 + 1e-12)) bF = nF, best = nv, bA = nA, bB = nB;
        }
        if (best != q[e]) {
          const double d = best - q[e];
          Sq[i] += d;
          Tq += sv[i] * d;
          q[e] = best;
          A = bA, B = bB;
          moved = true;
        }
      }
    if (!moved) break;
  }
  const double alpha = B > 0 ? A / B : 0.0;
  std::vector<float> out(w.size());
  for (size_t e = 0; e < w.size(); ++e) out[e] = static_cast<float>(alpha * q[e]);
  return out;
}

std::vector<float> quantize_low(const std::string& scheme, const Tensor& W, int bits) {
  WeightView wv{W.f, W.shape};
  QuantOptions o;
  o.bits = bits;
  o.granularity = Granularity::per_tensor;
  if (scheme == "twn") return quantize_weights(QuantScheme::twn, wv, o).w_hat;
  if (scheme == "twn_pc") {
    o.granularity = Granularity::per_channel;
    return quantize_weights(QuantScheme::twn, wv, o).w_hat;
  }
  if (scheme == "dorefa") return quantize_weights(QuantScheme::dorefa, wv, o).w_hat;
  if (scheme == "ls_pc") {  // exact least-squares ternary per output channel
    const int64_t O = W.dim(0), per = W.numel() / O;
    std::vector<float> out(W.numel());
    for (int64_t c = 0; c < O; ++c) {
      std::vector<float> w(W.f.begin() + c * per, W.f.begin() + (c + 1) * per);
      auto q = ternary_ls(w);
      std::copy(q.begin(), q.end(), out.begin() + c * per);
    }
    return out;
  }
  throw std::invalid_argument("unknown low scheme " + scheme);
}

Graph quantize_model(const Graph& fp, int low_bits, const std::string& low_scheme) {
  Graph q = fp;
  const PairingPlan plan = find_pairs(fp);
  auto set = [&](int node, const std::vector<float>& w) {
    q.constant(fp.nodes[node].inputs[1]).f = w;
  };
  auto dorefa = [&](int node, int bits) {
    const Tensor& W = fp.constant(fp.nodes[node].inputs[1]);
    QuantOptions o;
    o.bits = bits;
    o.granularity = Granularity::per_tensor;
    set(node, quantize_weights(QuantScheme::dorefa, WeightView{W.f, W.shape}, o).w_hat);
  };
  MomentMap mom;
  std::map<std::string, Shape> shapes;
  if (low_scheme.rfind("cov", 0) == 0) {
    mom = propagate_moments(fp);
    shapes = infer_shapes(fp, 2);
  }
  for (const auto& p : plan.pairs) {
    const Tensor& W = fp.constant(fp.nodes[p.low].inputs[1]);
    if (low_bits == 2 && low_scheme.rfind("cov", 0) == 0) {
      // Correlation fitted to the FP BN after the layer (data-free), or given (cov:rho:kappa).
      const Node& n = fp.nodes[p.low];
      const ChannelMoments& in = mom.at(n.inputs[0]);
      double rho = 0, kappa = 0;
      const auto parts = split(low_scheme, ':');
      if (parts.size() == 3) {
        rho = std::stod(parts[1]), kappa = std::stod(parts[2]);
      } else if (p.bn >= 0) {
        const ConvGeom geom = conv_node_geom(fp, n, shapes);
        const auto t = conv_moment_terms(geom, W.f, W.f, in);
        const auto& rv = fp.constant(fp.nodes[p.bn].inputs[4]).f;
        std::vector<double> target(rv.begin(), rv.end());
        const InputCorrelation c = fit_input_correlation(t, target);
        rho = c.tap, kappa = c.channel;
      }
      const int64_t O = W.dim(0), per = W.numel() / O, taps = W.dim(2) * W.dim(3);
      std::vector<float> out(W.numel());
      for (int64_t o = 0; o < O; ++o) {
        std::vector<float> w(W.f.begin() + o * per, W.f.begin() + (o + 1) * per);
        const auto r = ternary_cov(w, in.var, taps, rho, kappa);
        std::copy(r.begin(), r.end(), out.begin() + o * per);
      }
      set(p.low, out);
    } else if (low_bits == 2) set(p.low, quantize_low(low_scheme, W, 2));
    else if (low_scheme == "twn" || low_scheme == "dorefa") dorefa(p.low, low_bits);
    else set(p.low, quantize_low(low_scheme, W, low_bits));
    dorefa(p.high, 6);
  }
  for (int e : plan.edge_layers) dorefa(e, 8);
  return q;
}

Normalization cifar_norm() { return Normalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }

Dataset load_data(int64_t offset, int64_t count) {
  Dataset all = load_cifar10(arg("data", k_shared + "/data/cifar10-test-jpeg.bin"), offset + count);
  Dataset d = all;
  d.count = std::min(count, all.count - offset);
  const int64_t sz = all.image_size();
  d.pixels.assign(all.pixels.begin() + offset * sz, all.pixels.begin() + (offset + d.count) * sz);
  d.labels.assign(all.labels.begin() + offset, all.labels.begin() + offset + d.count);
  return d;
}

double top1(const Graph& g, const Dataset& d) {
  EvalOptions o;
  o.norm = cifar_norm();
  o.threads = static_cast<int>(argd("threads", 2));
  o.batch = 200;
  return evaluate(g, d, o).top1();
}

RepairOptions repair_opts(const std::string& name) {
  RepairOptions r = repair_options_from_name(name);
  r.gain = arg("gain", "none") == "mmse" ? GainRepair::mmse : GainRepair::none;
  r.gemm = arg("gemm", "1") == "1";
  r.moments.correlation = {argd("corr_tap", 0), argd("corr_channel", 0)};
  r.cov.radius = static_cast<int>(argd("radius", 3));
  r.min_rel_error = argd("min_rel_error", 0.0);
  r.cov.extrapolation_decay = argd("decay", 0.8);
  return r;
}

ChannelMoments measure_value(const Graph& g, const std::string& v, const Dataset& d);

// ORACLE (not data-free, diagnostic only): every BN's running statistics re-estimated, in
// order, on images [oracle_offset, +oracle_images) of the test copy, disjoint from the
// evaluated range. The upper bound for any statistics repair.
Graph oracle_bn(const Graph& q0) {
  Graph q = q0;
  const Dataset d = load_data(static_cast<int64_t>(argd("oracle_offset", 9000)), static_cast<int64_t>(argd("oracle_images", 500)));
  for (auto& n : q.nodes) {
    if (n.op != "BatchNormalization") continue;
    const ChannelMoments m = measure_value(q, n.inputs[0], d);
    auto& mu = q.constant(n.inputs[3]).f;
    auto& var = q.constant(n.inputs[4]).f;
    for (size_t c = 0; c < mu.size(); ++c) mu[c] = static_cast<float>(m.mean[c]), var[c] = static_cast<float>(m.var[c]);
  }
  return q;
}

// Repair names may carry "+mmse".
Graph repaired(const Graph& fp, const Graph& q0, const std::string& spec, RepairReport* rep = nullptr) {
  Graph q = q0;
  auto parts = split(spec, '+');
  if (parts.empty() || parts[0] == "none") return q;
  if (parts[0] == "oracle") return oracle_bn(q);
  RepairOptions r = repair_opts(parts[0]);
  for (size_t k = 1; k < parts.size(); ++k)
    if (parts[k] == "mmse") r.gain = GainRepair::mmse;
  RepairReport report = repair_statistics(fp, q, r);
  if (rep) *rep = report;
  // Diagnostic: keep the repair only on nodes whose name contains `only` (or lacks `skip`).
  const std::string only = arg("only", ""), skip = arg("skip", "");
  if (!only.empty() || !skip.empty())
    for (size_t k = 0; k < q.nodes.size(); ++k) {
      const std::string& nm = q.nodes[k].name;
      const bool keep = (only.empty() || nm.find(only) != std::string::npos) && (skip.empty() || nm.find(skip) == std::string::npos);
      if (keep) continue;
      q.nodes[k].inputs = q0.nodes[k].inputs;
      for (const auto& in : q0.nodes[k].inputs)
        if (!in.empty() && q0.is_const(in)) q.constant(in) = q0.constant(in);
    }
  return q;
}

// ---------------------------------------------------------------- commands

int cmd_check() {
  const Graph g = import_onnx(arg("model", k_shared + "/models/resnet20_cifar10_bn.onnx"));
  MomentOptions mo;
  mo.correlation = {argd("corr_tap", 0), argd("corr_channel", 0)};
  MomentMap m = propagate_moments(g, mo);
  if (arg("cov", "0") == "1") {  // full covariance propagation instead
    CovOptions co;
    co.radius = static_cast<int>(argd("radius", 3));
    co.extrapolation_decay = argd("decay", 0.8);
    const auto t0 = std::chrono::steady_clock::now();
    co = fit_input_prior(g, co);
    const auto cm = propagate_covariance(g, co);
    std::printf("input prior: spatial %.2f channel %.2f; %.1f s\n", co.input_spatial_corr, co.input_channel_corr,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    for (const auto& [k, v] : cm) {
      ChannelMoments c;
      c.mean = v.mean;
      for (int64_t i = 0; i < v.C; ++i) c.var.push_back(v.var(i));
      m[k] = c;
    }
  }
  std::printf("%-45s %5s %10s %10s %10s %10s\n", "BN", "kind", "mean_err", "mean_max", "var_ratio", "var_corr");
  double worst_a = 0, worst_b = 0;
  std::vector<double> lr_all;
  for (const Node& n : g.nodes) {
    if (n.op != "BatchNormalization") continue;
    const int c = g.producer_of(n.inputs[0]);
    if (c < 0 || g.nodes[c].op != "Conv") continue;
    const Node& conv = g.nodes[c];
    const int r = g.producer_of(conv.inputs[0]);
    const bool bnrelu = r >= 0 && g.nodes[r].op == "Relu" && g.producer_of(g.nodes[r].inputs[0]) >= 0 &&
                        g.nodes[g.producer_of(g.nodes[r].inputs[0])].op == "BatchNormalization";
    const auto& mu = g.constant(n.inputs[3]).f;
    const auto& var = g.constant(n.inputs[4]).f;
    const ChannelMoments& p = m.at(n.inputs[0]);
    double em = 0, ex = 0, lsum = 0, sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0;
    const size_t C = mu.size();
    for (size_t k = 0; k < C; ++k) {
      const double s = std::sqrt(var[k] + 1e-5);
      const double e = std::fabs(p.mean[k] - mu[k]) / s;
      em += e / C;
      ex = std::max(ex, e);
      const double lr = std::log(p.var[k] / var[k]);
      lsum += lr / C;
      lr_all.push_back(lr);
      const double x = std::log(p.var[k]), y = std::log(var[k]);
      sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
    }
    const double cov = sxy / C - sx / C * sy / C, vx = sxx / C - sx / C * sx / C, vy = syy / C - sy / C * sy / C;
    const double corr = cov / std::sqrt(vx * vy);
    (bnrelu ? worst_a : worst_b) = std::max(bnrelu ? worst_a : worst_b, ex);
    std::printf("%-45s %5s %10.4f %10.4f %10.4f %10.4f\n", n.name.c_str(), bnrelu ? "bnrl" : "other", em, ex,
                std::exp(lsum), corr);
  }
  std::printf("worst |mean err|/sigma: after BN->ReLU %.4f, other %.4f\n", worst_a, worst_b);
  return 0;
}

int cmd_eval() {
  const std::string model = arg("model", k_shared + "/models/resnet20_cifar10_bn.onnx");
  const Graph fp = import_onnx(model);
  const Dataset d = load_data(static_cast<int64_t>(argd("offset", 0)), static_cast<int64_t>(argd("images", 2000)));
  const std::string low = arg("low", "twn");
  std::printf("model %s, images %lld..%lld, low scheme %s\n", model.c_str(), (long long)argd("offset", 0),
              (long long)(argd("offset", 0) + d.count - 1), low.c_str());
  if (arg("fp", "0") == "1") std::printf("FP32 %.2f\n", top1(fp, d));
  for (const std::string& s : split(arg("setting", "2,3,4,6"))) {
    const int bits = std::stoi(s);
    const Graph q = quantize_model(fp, bits, low);
    if (arg("relerr", "0") == "1")
      for (const Node& n : fp.nodes) {
        if (!is_weight_layer(fp, n)) continue;
        const auto& w = fp.constant(n.inputs[1]).f;
        const auto& wq = q.constant(n.inputs[1]).f;
        double e = 0, s2 = 0;
        for (size_t k = 0; k < w.size(); ++k) e += (wq[k] - w[k]) * (wq[k] - w[k]), s2 += w[k] * w[k];
        std::printf("  rel err %-36s %.3f\n", n.name.substr(0, 36).c_str(), std::sqrt(e / s2));
      }
    std::printf("MP%d/6", bits);
    for (const std::string& rname : split(arg("repair", "none,mean_only,additive,ratio"))) {
      const auto t0 = std::chrono::steady_clock::now();
      RepairReport rep;
      const Graph qr = repaired(fp, q, rname, &rep);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  %s %.2f (%.0f ms)", rname.c_str(), top1(qr, d), ms);
      std::fflush(stdout);
      if (arg("report", "0") == "1") std::printf("\n%s", rep.to_string().c_str());
    }
    std::printf("\n");
  }
  return 0;
}

// Runs `g` truncated at value v on the data; per-channel mean / var over (N, H, W).
ChannelMoments measure_value(const Graph& g, const std::string& v, const Dataset& d) {
  Graph t = g;
  t.outputs = {ValueInfo{v, {}}};
  t.prune();
  Executor ex(t, ExecOptions{false, static_cast<int>(argd("threads", 2))});
  const int64_t B = 100;
  std::vector<float> in(B * d.image_size());
  std::vector<double> s1, s2;
  double cnt = 0;
  for (int64_t f = 0; f < d.count; f += B) {
    const int64_t n = std::min(B, d.count - f);
    normalize_batch(d, f, n, cifar_norm(), in.data());
    const Tensor& y = ex.run(in.data(), n);
    const int64_t C = y.shape[1], inner = y.numel() / (y.shape[0] * C);
    if (s1.empty()) s1.assign(C, 0), s2.assign(C, 0);
    for (int64_t i = 0; i < y.shape[0]; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t e = 0; e < inner; ++e) {
          const double x = y.f[(i * C + c) * inner + e];
          s1[c] += x, s2[c] += x * x;
        }
    cnt += static_cast<double>(y.shape[0] * inner);
  }
  ChannelMoments r;
  for (size_t c = 0; c < s1.size(); ++c) {
    r.mean.push_back(s1[c] / cnt);
    r.var.push_back(s2[c] / cnt - r.mean.back() * r.mean.back());
  }
  return r;
}

// REPORTING ONLY: real pre-BN statistics of each repaired quantized model, relative to the
// FP model's on the same images (so the JPEG shift of the test copy cancels): per BN of a
// quantized conv, the true shift (mq - mf)/sigma vs the predicted (mu^ - mu)/sigma, and the
// true variance ratio vq/vf vs the predicted sigma^2/sigma^2.
int cmd_measure() {
  const Graph fp = import_onnx(arg("model", k_shared + "/models/resnet20_cifar10_bn.onnx"));
  const Dataset d = load_data(static_cast<int64_t>(argd("offset", 0)), static_cast<int64_t>(argd("images", 500)));
  const Graph q = quantize_model(fp, static_cast<int>(argd("setting", 2)), arg("low", "twn"));
  std::map<std::string, ChannelMoments> fpm;
  for (const auto& r : split(arg("repair", "mean_only,additive,noise,ratio,fitted"))) {
    const Graph g = repaired(fp, q, r);
    std::printf("== %s\n%-36s %4s %9s %9s %8s %8s %8s\n", r.c_str(), "BN (of a quantized conv)", "dead", "shift", "shift_err", "vr_true", "vr_pred", "pred/tru");
    double tot_se = 0, tot_lv = 0;
    int nl = 0;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      const Node& n = g.nodes[k];
      if (n.op != "BatchNormalization") continue;
      const int c = g.producer_of(n.inputs[0]);
      if (q.constant(q.nodes[c].inputs[1]).f == fp.constant(fp.nodes[c].inputs[1]).f) continue;
      if (!fpm.count(n.inputs[0])) fpm[n.inputs[0]] = measure_value(fp, n.inputs[0], d);
      const ChannelMoments& f = fpm[n.inputs[0]];
      const ChannelMoments t = measure_value(g, n.inputs[0], d);
      const auto& mu = fp.constant(n.inputs[3]).f;
      const auto& var = fp.constant(n.inputs[4]).f;
      const auto& mu2 = g.constant(n.inputs[3]).f;
      const auto& var2 = g.constant(n.inputs[4]).f;
      const size_t C = mu.size();
      double sh = 0, se = 0, lt = 0, lp = 0, ld = 0, cnt = 0;
      int dead = 0;
      for (size_t i = 0; i < C; ++i) {
        const double s = std::sqrt(var[i] + 1e-5);
        sh += std::fabs(t.mean[i] - f.mean[i]) / s / C;
        se += std::fabs((t.mean[i] - f.mean[i]) - (mu2[i] - mu[i])) / s / C;
        if (t.var[i] <= 1e-10) { ++dead; continue; }
        const double a = std::log(t.var[i] / f.var[i]), b = std::log((var2[i] + 1e-5) / (var[i] + 1e-5));
        lt += a, lp += b, ld += std::fabs(b - a), cnt += 1;
      }
      cnt = std::max(cnt, 1.0);
      std::printf("%-36s %4d %9.4f %9.4f %8.3f %8.3f %8.3f\n", n.name.substr(0, 36).c_str(), dead, sh, se, std::exp(lt / cnt),
                  std::exp(lp / cnt), std::exp(ld / cnt));
      tot_se += se, tot_lv += ld / cnt, ++nl;
    }
    std::printf("mean shift_err %.4f, geomean |pred/true| var factor %.3f\n", tot_se / nl, std::exp(tot_lv / nl));
  }
  return 0;
}

// REPORTING ONLY: per low layer, the correlation between the FP conv output and the
// quantized conv output on the same FP input (mean over channels of 1 - r^2, the share of
// the quantized output that is noise), for several low schemes.
int cmd_snr() {
  const Graph fp = import_onnx(arg("model", k_shared + "/models/resnet20_cifar10_bn.onnx"));
  const Dataset d = load_data(0, static_cast<int64_t>(argd("images", 200)));
  const auto schemes = split(arg("low", "twn,ls_pc,cov"));
  std::vector<Graph> qs;
  for (const auto& s : schemes) qs.push_back(quantize_model(fp, 2, s));
  const PairingPlan plan = find_pairs(fp);
  std::printf("%-36s", "low layer: noise share 1-r^2");
  for (const auto& s : schemes) std::printf(" %10s", s.c_str());
  std::printf("\n");
  for (const auto& p : plan.pairs) {
    const std::string v = fp.nodes[p.low].outputs[0];
    Graph t = fp;
    t.outputs = {ValueInfo{v, {}}};
    t.prune();
    Executor ef(t, ExecOptions{false, 2});
    std::vector<std::unique_ptr<Executor>> eq;
    std::vector<Graph> tq;
    for (const auto& q : qs) {
      Graph g = t;
      const std::string wn = fp.nodes[p.low].inputs[1];
      g.constant(wn) = q.constant(wn);
      tq.push_back(g);
    }
    for (const auto& g : tq) eq.push_back(std::make_unique<Executor>(g, ExecOptions{false, 2}));
    const int64_t B = 100;
    std::vector<float> in(B * d.image_size());
    const size_t S = schemes.size();
    std::vector<std::vector<double>> sx, sy, sxx, syy, sxy;
    double cnt_elems = 0;
    for (int64_t f = 0; f < d.count; f += B) {
      const int64_t n = std::min(B, d.count - f);
      normalize_batch(d, f, n, cifar_norm(), in.data());
      const Tensor y0 = ef.run(in.data(), n);
      const int64_t C = y0.shape[1], inner = y0.numel() / (n * C);
      if (sx.empty()) {
        for (auto* a : {&sx, &sy, &sxx, &syy, &sxy}) a->assign(S, std::vector<double>(C, 0.0));
      }
      cnt_elems += static_cast<double>(n * C * inner);
      for (size_t k = 0; k < S; ++k) {
        const Tensor& y = eq[k]->run(in.data(), n);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t e = 0; e < inner; ++e) {
              const size_t idx = (i * C + c) * inner + e;
              const double a = y0.f[idx], b = y.f[idx];
              sx[k][c] += a, sy[k][c] += b, sxx[k][c] += a * a, syy[k][c] += b * b, sxy[k][c] += a * b;
            }
      }
    }
    std::printf("%-36s", fp.nodes[p.low].name.substr(0, 36).c_str());
    for (size_t k = 0; k < S; ++k) {
      double tot = 0;
      const size_t C = sx[k].size();
      for (size_t c = 0; c < C; ++c) {
        const double N = cnt_elems / static_cast<double>(C);
        const double cov = sxy[k][c] / N - sx[k][c] / N * sy[k][c] / N;
        const double vx = sxx[k][c] / N - sx[k][c] / N * sx[k][c] / N;
        const double vy = syy[k][c] / N - sy[k][c] / N * sy[k][c] / N;
        tot += vy > 0 ? 1.0 - cov * cov / (vx * vy) : 1.0;
      }
      std::printf(" %10.4f", tot / static_cast<double>(C));
    }
    std::printf("\n");
  }
  return 0;
}

// REPORTING ONLY: per quantized conv, |E[out_q] - E[out_fp]| / sd_fp and Var ratio, without
// and with a repair (works for folded graphs, where there is no BN to compare with).
int cmd_measure_conv() {
  const Graph fp = import_onnx(arg("model", k_shared + "/models/resnet20_cifar10_folded.onnx"));
  const Dataset d = load_data(0, static_cast<int64_t>(argd("images", 300)));
  const Graph q0 = quantize_model(fp, static_cast<int>(argd("setting", 6)), arg("low", "twn"));
  const Graph qr = repaired(fp, q0, arg("repair", "mean_only"));
  std::printf("%-36s %8s %8s %8s %8s\n", "conv output", "dm_q0", "dm_rep", "vr_q0", "vr_rep");
  double a0 = 0, a1 = 0;
  int n = 0;
  for (const Node& c : fp.nodes) {
    if (c.op != "Conv") continue;
    const ChannelMoments f = measure_value(fp, c.outputs[0], d);
    const ChannelMoments x = measure_value(q0, c.outputs[0], d);
    const ChannelMoments y = measure_value(qr, c.outputs[0], d);
    double d0 = 0, d1 = 0, v0 = 0, v1 = 0;
    const size_t C = f.mean.size();
    for (size_t i = 0; i < C; ++i) {
      const double sd = std::sqrt(f.var[i] + 1e-12);
      d0 += std::fabs(x.mean[i] - f.mean[i]) / sd / C;
      d1 += std::fabs(y.mean[i] - f.mean[i]) / sd / C;
      v0 += std::log((x.var[i] + 1e-12) / (f.var[i] + 1e-12)) / C;
      v1 += std::log((y.var[i] + 1e-12) / (f.var[i] + 1e-12)) / C;
    }
    a0 += d0, a1 += d1, ++n;
    std::printf("%-36s %8.4f %8.4f %8.3f %8.3f\n", c.name.substr(0, 36).c_str(), d0, d1, std::exp(v0), std::exp(v1));
  }
  std::printf("mean over convs: |shift| q0 %.4f, repaired %.4f\n", a0 / n, a1 / n);
  return 0;
}

// REPORTING ONLY: the modelled E[x] of every conv input vs the measured one (FP model).
int cmd_check_inputs() {
  const Graph g = import_onnx(arg("model", k_shared + "/models/resnet20_cifar10_folded.onnx"));
  const Dataset d = load_data(0, static_cast<int64_t>(argd("images", 300)));
  MomentOptions mo;
  mo.correlation = {argd("corr_tap", 0), argd("corr_channel", 0)};
  const MomentMap m = propagate_moments(g, mo);
  std::printf("%-36s %10s %10s %10s\n", "conv input", "E_true", "E_model", "|err|/E");
  for (const Node& c : g.nodes) {
    if (c.op != "Conv" && c.op != "Gemm") continue;
    const std::string v = c.inputs[0];
    if (v == g.inputs[0].name) continue;
    const ChannelMoments t = measure_value(g, v, d);
    const ChannelMoments& p = m.at(v);
    double et = 0, em = 0, err = 0;
    for (size_t i = 0; i < t.mean.size(); ++i) et += t.mean[i], em += p.mean[i], err += std::fabs(t.mean[i] - p.mean[i]);
    std::printf("%-36s %10.4f %10.4f %10.4f\n", c.name.substr(0, 36).c_str(), et / t.mean.size(), em / t.mean.size(), err / et);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: exp_stats check|eval|measure key=value...\n");
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "bad argument '%s' (want key=value)\n", a.c_str());
      return 2;
    }
    g_args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  try {
    const std::string cmd = argv[1];
    if (cmd == "check") return cmd_check();
    if (cmd == "eval") return cmd_eval();
    if (cmd == "measure") return cmd_measure();
    if (cmd == "snr") return cmd_snr();
    if (cmd == "check_inputs") return cmd_check_inputs();
    if (cmd == "measure_conv") return cmd_measure_conv();
    std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
