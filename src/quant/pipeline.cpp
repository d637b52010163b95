#include "quant/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <set>
#include <stdexcept>

#include "passes/equalization.h"
#include "passes/fold_batchnorm.h"
#include "passes/pairing.h"
#include "quant/compensation/compensation.h"
#include "runtime/kernels/thread_pool.h"

namespace dfmpc {
namespace {

struct Assignment {
  int node;
  std::string role;
  int bits;
  QuantScheme scheme;
};


std::vector<Assignment> bit_plan(const Graph& g, const PairingPlan& plan, const QuantizeConfig& cfg) {
  std::vector<Assignment> a;
  for (const auto& p : plan.pairs) {
    a.push_back({p.low, "low", cfg.low_bits, scheme_for(cfg, cfg.low_bits)});
    a.push_back({p.high, "high", cfg.high_bits, scheme_for(cfg, cfg.high_bits)});
  }
  for (int e : plan.edge_layers) a.push_back({e, "edge", cfg.edge_bits, scheme_for(cfg, cfg.edge_bits)});
  std::sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.node < y.node; });
  (void)g;
  return a;
}

// The plan's assignments with each weight once: a weight shared by two layers is quantized
// once, as its first layer says.
std::vector<Assignment> unique_weights(const Graph& fp, const std::vector<Assignment>& plan) {
  std::vector<Assignment> out;
  std::set<std::string> done;
  for (const Assignment& a : plan)
    if (done.insert(fp.nodes[a.node].inputs[1]).second) out.push_back(a);
  return out;
}

QuantResult quantize_layer(const Graph& fp, const Assignment& a, const QuantizeConfig& cfg) {
  const Node& n = fp.nodes[a.node];
  const Tensor& w = fp.constant(n.inputs[1]);
  for (float v : w.f)
    if (!std::isfinite(v)) throw ModelError("weight '" + n.inputs[1] + "' of " + n.where() + " holds NaN or Inf");
  QuantOptions qo;
  qo.bits = a.bits;
  const auto& traits = quant_scheme_traits(a.scheme);
  qo.granularity = traits.per_tensor ? *cfg.granularity : Granularity::per_channel;
  if (!traits.per_channel) qo.granularity = Granularity::per_tensor;
  // Per-channel groups run along axis 0: output channels for Conv and Gemm(transB=1).
  return quantize_weights(a.scheme, WeightView{w.f, w.shape}, qo);
}

// Every layer of `work` quantized, on the thread pool (largest first, so the big layers do
// not finish last); the first error (in plan order) is rethrown.
std::vector<QuantResult> quantize_all(const Graph& fp, const std::vector<Assignment>& work, const QuantizeConfig& cfg) {
  std::vector<size_t> order(work.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto numel = [&](size_t k) { return fp.constant(fp.nodes[work[k].node].inputs[1]).numel(); };
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return numel(x) > numel(y); });
  std::vector<QuantResult> results(work.size());
  std::vector<std::exception_ptr> errors(work.size());
  pool::parallel_for(static_cast<int64_t>(work.size()), [&](int64_t i, int) {
    const size_t k = order[static_cast<size_t>(i)];
    try {
      results[k] = quantize_layer(fp, work[k], cfg);
    } catch (...) {
      errors[k] = std::current_exception();
    }
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return results;
}

// A per-tensor quantized tensor rewritten with one (identical) group per output channel, so
// per-channel factors can be folded into its scales.
void make_per_channel(QuantizedTensor& t) {
  const int64_t out = t.shape.empty() ? 1 : t.shape[0];
  if (t.n_groups() == out) return;
  t.scale.assign(static_cast<size_t>(out), t.scale.at(0));
  t.zero.assign(static_cast<size_t>(out), t.zero.at(0));
  t.group_size = t.numel() / out;
}

double rel_error(const std::vector<float>& w, const std::vector<float>& wh) {
  double e = 0, n = 0;
  for (size_t k = 0; k < w.size(); ++k) e += (wh[k] - w[k]) * double(wh[k] - w[k]), n += w[k] * double(w[k]);
  return n > 0 ? std::sqrt(e / n) : 0.0;
}

// Folds c_j (j = output channel of the low conv) into the model: into the BN's gamma and
// beta when there is one, else into the conv's per-channel scale and bias.
void fold_compensation(QuantizedModel& m, const Graph& fp, const LayerPair& p, const QuantizeConfig& cfg,
                       LayerReport& rep) {
  const Node& conv = fp.nodes[p.low];
  const std::string& wname = conv.inputs[1];
  const Tensor& w = fp.constant(wname);
  QuantizedTensor& qt = m.weights.at(wname);
  const std::vector<float> w_hat = dequantize(qt);
  const int64_t out = w.dim(0), per = w.numel() / out;
  std::vector<double> c(static_cast<size_t>(out));
  if (p.bn >= 0) {
    const Node& bn = fp.nodes[p.bn];
    const float eps = bn.attr_f("epsilon", 1e-5f);
    const Tensor &gamma = fp.constant(bn.inputs[1]), &beta = fp.constant(bn.inputs[2]);
    const Tensor &mu = fp.constant(bn.inputs[3]), &var = fp.constant(bn.inputs[4]);
    Tensor &q_gamma = m.graph.constant(bn.inputs[1]), &q_beta = m.graph.constant(bn.inputs[2]);
    const Tensor &q_mu = m.graph.constant(bn.inputs[3]), &q_var = m.graph.constant(bn.inputs[4]);
    for (int64_t j = 0; j < out; ++j) {
      const double sigma = std::sqrt(double(var.f[j]) + eps), sigma_hat = std::sqrt(double(q_var.f[j]) + eps);
      const double y = beta.f[j] - gamma.f[j] * mu.f[j] / sigma;
      const double y_hat = q_beta.f[j] - q_gamma.f[j] * q_mu.f[j] / sigma_hat;
      const auto t = compensation_terms({w.f.data() + j * per, size_t(per)}, gamma.f[j] / sigma,
                                        {w_hat.data() + j * per, size_t(per)}, q_gamma.f[j] / sigma_hat, y, y_hat);
      c[j] = compensation_coefficient(t, cfg.lambda1, cfg.lambda2);
    }
    for (int64_t j = 0; j < out; ++j) {
      q_gamma.f[j] = static_cast<float>(q_gamma.f[j] * c[j]);
      q_beta.f[j] = static_cast<float>(q_beta.f[j] * c[j]);
    }
  } else {
    const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
    const std::vector<float> zeros(static_cast<size_t>(out), 0.0f);
    const std::vector<float>& b = has_bias ? fp.constant(conv.inputs[2]).f : zeros;
    const std::vector<float>& b_hat = has_bias ? m.graph.constant(conv.inputs[2]).f : zeros;
    for (int64_t j = 0; j < out; ++j) {
      const auto t = compensation_terms({w.f.data() + j * per, size_t(per)}, 1.0,
                                        {w_hat.data() + j * per, size_t(per)}, 1.0, b[j], b_hat[j]);
      c[j] = compensation_coefficient(t, cfg.lambda1, cfg.lambda2);
    }
    make_per_channel(qt);
    for (int64_t j = 0; j < out; ++j) qt.scale[j] = static_cast<float>(qt.scale[j] * c[j]);
    if (has_bias) {
      Tensor& qb = m.graph.constant(conv.inputs[2]);
      for (int64_t j = 0; j < out; ++j) qb.f[j] = static_cast<float>(qb.f[j] * c[j]);
    }
    m.graph.constant(wname).f = dequantize(qt);
  }
  rep.compensated = true;
  rep.c = c;
  rep.partner = fp.nodes[p.high].name;
  rep.c_min = *std::min_element(c.begin(), c.end());
  rep.c_max = *std::max_element(c.begin(), c.end());
  double s = 0;
  for (double v : c) s += v;
  rep.c_mean = s / static_cast<double>(c.size());
}

}  // namespace

Method method_from_name(const std::string& name) {
  for (Method m : {Method::none, Method::dfmpc, Method::rtn, Method::omse, Method::squant, Method::dfq})
    if (name == method_name(m)) return m;
  throw std::invalid_argument("unknown method '" + name + "' (valid: none, dfmpc, rtn, omse, squant, dfq)");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::none: return "none";
    case Method::dfmpc: return "dfmpc";
    case Method::rtn: return "rtn";
    case Method::omse: return "omse";
    case Method::squant: return "squant";
    case Method::dfq: return "dfq";
  }
  return "?";
}

std::string default_quantizer(Method m) {
  switch (m) {
    case Method::none: return "paper";
    case Method::dfmpc: return "squant";
    case Method::rtn:
    case Method::dfq: return "rtn";
    case Method::omse: return "omse";
    case Method::squant: return "squant";
  }
  throw std::logic_error("unknown method");
}

QuantScheme scheme_for(const QuantizeConfig& cfg, int bits) {
  const std::string& q = cfg.quantizer;
  if (q == "paper") return bits == 2 ? QuantScheme::twn : QuantScheme::dorefa;
  if (q == "mse") return QuantScheme::dorefa_mse;  // all 2^k levels, 2 bits too (docs/decisions.md 3)
  if (q == "rtn") return cfg.asymmetric ? QuantScheme::asym : QuantScheme::sym;
  return quant_scheme_from_name(q);
}

void check_quantizer(const QuantizeConfig& cfg) {
  if (cfg.quantizer == "auto") return;
  for (int b : {cfg.low_bits, cfg.high_bits, cfg.edge_bits}) {
    const auto& t = quant_scheme_traits(scheme_for(cfg, b));
    if (b < t.min_bits || b > t.max_bits)
      throw std::invalid_argument(std::string(t.name) + " supports " + std::to_string(t.min_bits) + ".." + std::to_string(t.max_bits) +
                                  " bits, but " + std::to_string(b) + " bits were asked for (--bits / --edge-bits)");
  }
}

Granularity default_granularity(Method m) {
  // SQuant's kernel / channel constraints are defined per output channel.
  return m == Method::dfmpc || m == Method::squant ? Granularity::per_channel : Granularity::per_tensor;
}

StatsRepair default_stats_mode(Method m, bool bn_model) {
  if (m == Method::dfq) return StatsRepair::mean;  // DFQ's analytic bias correction
  if (m == Method::dfmpc) return bn_model ? StatsRepair::joint_mmse : StatsRepair::mean;
  return StatsRepair::keep;
}

int64_t quantized_tensor_bytes(const QuantizedTensor& t) {
  return (t.numel() * t.bits + 7) / 8 + t.n_groups() * 8;
}

// DFQ's function-preserving preparation: fold BN, cross-layer equalization, high-bias
// absorption. The result is the FP reference the rest of the pipeline quantizes.
Graph prepare_dfq(const Graph& g) {
  Graph out = g;
  BnStats bn = fold_batchnorm(out);
  equalize_cross_layer(out, EqualizeOptions{}, &bn);
  absorb_high_bias(out, bn);
  return out;
}

QuantizeConfig resolve_defaults(QuantizeConfig cfg, const Graph& model) {
  const bool bn_model = std::any_of(model.nodes.begin(), model.nodes.end(),
                                    [](const Node& n) { return n.op == "BatchNormalization"; });
  if (!cfg.granularity) cfg.granularity = default_granularity(cfg.method);
  if (!cfg.stats) cfg.stats = default_stats_mode(cfg.method, bn_model);
  if (cfg.quantizer == "auto") cfg.quantizer = default_quantizer(cfg.method);
  if (!cfg.compensate) cfg.compensate = kDefaultCompensation;
  if (!cfg.equalize) cfg.equalize = cfg.method == Method::dfq;
  return cfg;
}

QuantizedModel quantize_model(const Graph& original, const QuantizeConfig& requested) {
  const auto t0 = std::chrono::steady_clock::now();
  const QuantizeConfig cfg = resolve_defaults(requested, original);
  const Graph prepared = *cfg.equalize ? prepare_dfq(original) : Graph{};
  const Graph& fp = *cfg.equalize ? prepared : original;
  QuantizedModel m;
  m.graph = fp;
  const PairingPlan plan = find_pairs(fp);
  m.report.pairs = static_cast<int>(plan.pairs.size());
  std::map<int, size_t> report_of;  // node -> index in report.layers
  const std::vector<Assignment> work = unique_weights(fp, bit_plan(fp, plan, cfg));
  std::vector<QuantResult> results = quantize_all(fp, work, cfg);
  for (size_t k = 0; k < work.size(); ++k) {
    const Assignment& a = work[k];
    const Node& n = fp.nodes[a.node];
    const std::string& wname = n.inputs[1];
    QuantResult& r = results[k];
    LayerReport rep;
    rep.node = n.name;
    rep.weight = wname;
    rep.role = a.role;
    rep.scheme = quant_scheme_traits(a.scheme).name;
    rep.bits = a.bits;
    rep.params = fp.constant(wname).numel();
    rep.groups = r.tensor.n_groups();
    rep.scale_min = *std::min_element(r.tensor.scale.begin(), r.tensor.scale.end());
    rep.scale_max = *std::max_element(r.tensor.scale.begin(), r.tensor.scale.end());
    m.graph.constant(wname).f = std::move(r.w_hat);
    m.weights[wname] = std::move(r.tensor);
    report_of[a.node] = m.report.layers.size();
    m.report.layers.push_back(rep);
  }
  repair_statistics(fp, m.graph, *cfg.stats);
  if (cfg.method == Method::dfmpc && *cfg.compensate)
    for (const auto& p : plan.pairs) fold_compensation(m, fp, p, cfg, m.report.layers[report_of.at(p.low)]);
  for (auto& rep : m.report.layers) {
    rep.rel_error = rel_error(fp.constant(rep.weight).f, m.graph.constant(rep.weight).f);
    const auto& qt = m.weights.at(rep.weight);
    rep.groups = qt.n_groups();
    rep.scale_min = *std::min_element(qt.scale.begin(), qt.scale.end());
    rep.scale_max = *std::max_element(qt.scale.begin(), qt.scale.end());
  }
  for (const auto& [name, t] : fp.initializers) {
    if (!t.is_f32()) continue;
    m.report.fp32_bytes += t.numel() * 4;
    auto it = m.weights.find(name);
    m.report.quantized_bytes += it == m.weights.end() ? t.numel() * 4 : quantized_tensor_bytes(it->second);
  }
  m.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return m;
}

}  // namespace dfmpc
