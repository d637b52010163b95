#include "passes/equalization.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "runtime/ops/ops.h"

namespace dfmpc {

std::vector<double> out_channel_ranges(const Tensor& w, RangeMode mode) {
  const int64_t co = w.dim(0), per = w.numel() / co;
  std::vector<double> r(static_cast<size_t>(co));
  for (int64_t o = 0; o < co; ++o) {
    const auto [lo, hi] = std::minmax_element(w.f.begin() + o * per, w.f.begin() + (o + 1) * per);
    r[o] = mode == RangeMode::max_abs ? std::max(std::fabs(*lo), std::fabs(*hi)) : double(*hi) - *lo;
  }
  return r;
}

std::vector<double> in_channel_ranges(const Tensor& w, int64_t groups, RangeMode mode) {
  const int64_t co = w.dim(0), ci = w.dim(1), sp = w.numel() / (co * ci), co_g = co / groups;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> lo(static_cast<size_t>(ci * groups), inf), hi(lo.size(), -inf);
  for (int64_t o = 0; o < co; ++o)
    for (int64_t j = 0; j < ci; ++j) {
      const size_t c = static_cast<size_t>(o / co_g * ci + j);
      for (int64_t s = 0; s < sp; ++s) {
        const double v = w.f[(o * ci + j) * sp + s];
        lo[c] = std::min(lo[c], v), hi[c] = std::max(hi[c], v);
      }
    }
  for (size_t c = 0; c < lo.size(); ++c)
    hi[c] = mode == RangeMode::max_abs ? std::max(std::fabs(lo[c]), std::fabs(hi[c])) : hi[c] - lo[c];
  return hi;
}

namespace {

int64_t groups_of(const Node& n) { return n.attr_i("group", 1); }

// Conv with a constant FP32 weight (and bias) and group 1 or depthwise (multiplier 1).
bool equalizable(const Graph& g, const Node& n) {
  if (n.op != "Conv" || n.inputs.size() < 2 || !g.is_const(n.inputs[1])) return false;
  if (n.inputs.size() > 2 && !n.inputs[2].empty() && !g.is_const(n.inputs[2])) return false;
  const Tensor& w = g.constant(n.inputs[1]);
  const int64_t gr = groups_of(n);
  return w.is_f32() && w.shape.size() >= 3 && (gr == 1 || (w.dim(1) == 1 && w.dim(0) == gr));
}

// Input channels the conv reads.
int64_t in_channels(const Graph& g, const Node& n) { return g.constant(n.inputs[1]).dim(1) * groups_of(n); }

// The one node reading v (v not a graph output), or -1.
int sole_reader(const Graph& g, const std::string& v) {
  if (g.is_graph_output(v)) return -1;
  const auto c = g.consumers_of(v);
  return c.size() == 1 ? c[0] : -1;
}

enum class Act { relu, relu6, other };

Act classify(const Graph& g, const Node& n) {
  if (n.op == "Relu") return Act::relu;
  if (n.op != "Clip") return Act::other;
  std::vector<const Tensor*> in{nullptr};
  for (size_t k = 1; k < n.inputs.size(); ++k) {
    if (!n.inputs[k].empty() && !g.is_const(n.inputs[k])) return Act::other;
    in.push_back(n.inputs[k].empty() ? nullptr : &g.constant(n.inputs[k]));
  }
  const auto [lo, hi] = ops::clip_bounds(n, g.opset, in);
  if (lo != 0.0f) return Act::other;
  return std::isinf(hi) && hi > 0 ? Act::relu : hi > 0 ? Act::relu6 : Act::other;
}

struct Link {
  int next = -1;  // conv reading this conv's (activated) output
  int act = -1;   // Relu / Clip node in between, or -1
  bool relu6 = false;
};

// Where conv `a` leads, if to an equalizable conv through at most one activation.
Link follow(const Graph& g, int a, const EqualizeOptions& opt, int& unfolded) {
  Link l;
  std::string v = g.nodes[a].outputs[0];
  int k = sole_reader(g, v);
  if (k < 0) return l;
  if (g.nodes[k].op == "BatchNormalization") return ++unfolded, l;
  if (g.nodes[k].op != "Conv") {
    const Act act = classify(g, g.nodes[k]);
    if (act == Act::other || (act == Act::relu6 && !opt.replace_relu6)) return l;
    l.act = k, l.relu6 = act == Act::relu6;
    v = g.nodes[k].outputs[0];
    if ((k = sole_reader(g, v)) < 0) return l;
  }
  const Node& n = g.nodes[k];
  if (!equalizable(g, n) || n.inputs[0] != v || in_channels(g, n) != g.constant(g.nodes[a].inputs[1]).dim(0))
    return l;
  l.next = k;
  return l;
}

// A conv being equalised: its (private) weight and bias, and the accumulated output scale.
struct Layer {
  Tensor* w = nullptr;
  Tensor* b = nullptr;
  int64_t groups = 1;
  std::vector<double> cum;

  void scale_out(const std::vector<double>& f) {
    const size_t per = w->f.size() / f.size();
    for (size_t o = 0; o < f.size(); ++o) {
      for (size_t k = 0; k < per; ++k) w->f[o * per + k] = static_cast<float>(w->f[o * per + k] * f[o]);
      if (b) b->f[o] = static_cast<float>(b->f[o] * f[o]);
      cum[o] *= f[o];
    }
  }
  void scale_in(const std::vector<double>& f) {
    const int64_t co = w->dim(0), ci = w->dim(1), sp = w->numel() / (co * ci), co_g = co / groups;
    for (int64_t o = 0; o < co; ++o)
      for (int64_t j = 0; j < ci; ++j) {
        const double s = f[static_cast<size_t>(o / co_g * ci + j)];
        float* p = w->f.data() + (o * ci + j) * sp;
        for (int64_t k = 0; k < sp; ++k) p[k] = static_cast<float>(p[k] * s);
      }
  }
};

double clamp_scale(double s) { return std::clamp(s, 1e-8, 1e8); }

std::vector<double> inverse(std::vector<double> s) {
  for (auto& v : s) v = 1.0 / v;
  return s;
}

// One equalisation step of a pair or triplet; returns max |s - 1|.
double equalize_set(const std::vector<Layer*>& L, RangeMode mode) {
  double change = 0;
  const auto note = [&](double s) { change = std::max(change, std::fabs(s - 1.0)); };
  const auto r0 = out_channel_ranges(*L[0]->w, mode);
  const auto rn = in_channel_ranges(*L.back()->w, L.back()->groups, mode);
  std::vector<double> s1(r0.size(), 1.0);
  if (L.size() == 2) {
    for (size_t i = 0; i < r0.size(); ++i)
      if (r0[i] > 0 && rn[i] > 0) note(s1[i] = clamp_scale(std::sqrt(r0[i] / rn[i])));
    L[0]->scale_out(inverse(s1));
    L[1]->scale_in(s1);
    return change;
  }
  const auto r1 = out_channel_ranges(*L[1]->w, mode);
  std::vector<double> s2(r0.size(), 1.0);
  for (size_t i = 0; i < r0.size(); ++i) {
    if (r0[i] <= 0 || r1[i] <= 0 || rn[i] <= 0) continue;
    const double gm = std::cbrt(r0[i] * r1[i] * rn[i]);
    note(s1[i] = clamp_scale(r0[i] / gm));
    note(s2[i] = clamp_scale(gm / rn[i]));
  }
  L[0]->scale_out(inverse(s1));
  L[1]->scale_in(s1);
  L[1]->scale_out(inverse(s2));
  L[2]->scale_in(s2);
  return change;
}

double max_range_ratio(const std::map<int, Layer>& layers, RangeMode mode) {
  double worst = 0;
  for (const auto& [k, l] : layers) {
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (double r : out_channel_ranges(*l.w, mode))
      if (r > 0) lo = std::min(lo, r), hi = std::max(hi, r);
    if (hi > 0) worst = std::max(worst, hi / lo);
  }
  return worst;
}

void make_relu(Graph& g, Node& n) {
  const std::vector<std::string> bounds(n.inputs.begin() + 1, n.inputs.end());
  n.op = "Relu";
  n.inputs.resize(1);
  n.attrs.clear();
  for (const auto& b : bounds)
    if (!b.empty() && g.consumers_of(b).empty() && !g.is_graph_output(b)) g.initializers.erase(b);
}

// Splits a chain of convs into sets: a triplet when the middle conv is depthwise, else pairs.
void split_chain(const Graph& g, const std::vector<int>& c, std::vector<std::vector<int>>& sets) {
  for (size_t i = 0; i + 1 < c.size();) {
    if (i + 2 < c.size() && groups_of(g.nodes[c[i + 1]]) > 1) {
      sets.push_back({c[i], c[i + 1], c[i + 2]});
      i += 2;
    } else {
      sets.push_back({c[i], c[i + 1]});
      i += 1;
    }
  }
}

}  // namespace

EqualizeReport equalize_cross_layer(Graph& g, const EqualizeOptions& opt, BnStats* bn) {
  EqualizeReport rep;
  const int n = static_cast<int>(g.nodes.size());
  std::vector<Link> link(n);
  std::vector<bool> has_pred(n, false);
  for (int a = 0; a < n; ++a)
    if (equalizable(g, g.nodes[a]) && (link[a] = follow(g, a, opt, rep.unfolded_bn)).next >= 0)
      has_pred[link[a].next] = true;

  std::vector<std::vector<int>> sets;
  for (int a = 0; a < n; ++a) {
    if (has_pred[a] || link[a].next < 0) continue;
    std::vector<int> chain{a};
    for (int k = a; link[k].next >= 0; k = link[k].next) {
      chain.push_back(link[k].next);
      if (link[k].relu6) {
        rep.relu6_replaced.push_back(g.nodes[link[k].act].name);
        make_relu(g, g.nodes[link[k].act]);
      }
    }
    split_chain(g, chain, sets);
  }

  std::map<int, Layer> layers;
  for (const auto& s : sets)
    for (int k : s)
      if (!layers.count(k)) {
        Layer& l = layers[k];
        l.w = &own_constant(g, k, 1);
        const Node& node = g.nodes[k];
        if (node.inputs.size() > 2 && !node.inputs[2].empty()) l.b = &own_constant(g, k, 2);
        l.groups = groups_of(node);
        l.cum.assign(static_cast<size_t>(l.w->dim(0)), 1.0);
      }
  std::vector<std::vector<Layer*>> set_layers;
  for (const auto& s : sets) {
    (s.size() == 2 ? rep.pairs : rep.triplets)++;
    std::vector<std::string> names;
    std::vector<Layer*> ls;
    for (int k : s) names.push_back(g.nodes[k].name), ls.push_back(&layers[k]);
    rep.sets.push_back(std::move(names));
    set_layers.push_back(std::move(ls));
  }

  rep.max_range_ratio_before = max_range_ratio(layers, opt.range);
  while (!sets.empty() && rep.sweeps < opt.max_sweeps) {
    double change = 0;
    for (const auto& ls : set_layers) change = std::max(change, equalize_set(ls, opt.range));
    ++rep.sweeps;
    if (change < opt.tolerance) break;
  }
  rep.max_range_ratio_after = max_range_ratio(layers, opt.range);

  for (const auto& [k, l] : layers) {
    if (std::all_of(l.cum.begin(), l.cum.end(), [](double v) { return v == 1.0; })) continue;
    const std::string& name = g.nodes[k].name;
    rep.out_scale[name].assign(l.cum.begin(), l.cum.end());
    if (!bn || !bn->count(name)) continue;
    BnParams& p = bn->at(name);
    if (p.gamma.size() != l.cum.size() || p.beta.size() != l.cum.size())
      throw ModelError(g.nodes[k].where() + ": BN statistics do not match its output channels");
    for (size_t i = 0; i < l.cum.size(); ++i) {
      p.gamma[i] = static_cast<float>(p.gamma[i] * l.cum[i]);
      p.beta[i] = static_cast<float>(p.beta[i] * l.cum[i]);
    }
  }
  return rep;
}

namespace {

bool has_padding(const Node& n) {
  const std::string ap = n.attr_s("auto_pad", "NOTSET");
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") return true;
  const auto pads = n.attr_ints("pads");
  return std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; });
}

}  // namespace

HighBiasReport absorb_high_bias(Graph& g, BnStats& bn, const HighBiasOptions& opt) {
  HighBiasReport rep;
  for (int a = 0; a < static_cast<int>(g.nodes.size()); ++a) {
    const Node& c1 = g.nodes[a];
    if (c1.op != "Conv" || !bn.count(c1.name) || c1.inputs.size() < 2 || !g.is_const(c1.inputs[1])) continue;
    const int r = sole_reader(g, c1.outputs[0]);
    if (r < 0 || g.nodes[r].op != "Relu") continue;
    const int b = sole_reader(g, g.nodes[r].outputs[0]);
    if (b < 0 || g.nodes[b].inputs[0] != g.nodes[r].outputs[0] || !equalizable(g, g.nodes[b]))
      continue;
    const int64_t co = g.constant(c1.inputs[1]).dim(0);
    if (in_channels(g, g.nodes[b]) != co) continue;
    BnParams& p = bn.at(c1.name);
    if (static_cast<int64_t>(p.gamma.size()) != co || static_cast<int64_t>(p.beta.size()) != co)
      throw ModelError(c1.where() + ": BN statistics do not match its output channels");
    const bool padded = has_padding(g.nodes[b]);
    if (padded && opt.skip_padded) continue;

    std::vector<double> c(static_cast<size_t>(co), 0.0);
    int positive = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      c[i] = std::max(0.0, double(p.beta[i]) - opt.n_sigma * std::fabs(double(p.gamma[i])));
      positive += c[i] > 0;
    }
    if (!positive) continue;
    ++rep.pairs, rep.padded_pairs += padded, rep.channels += positive;

    Tensor& b1 = own_constant(g, a, 2, co);
    for (size_t i = 0; i < c.size(); ++i) {
      b1.f[i] = static_cast<float>(b1.f[i] - c[i]);
      p.beta[i] = static_cast<float>(p.beta[i] - c[i]);
    }
    const Tensor& w2 = g.constant(g.nodes[b].inputs[1]);
    Tensor& b2 = own_constant(g, b, 2, w2.dim(0));
    const int64_t o2 = w2.dim(0), ci = w2.dim(1), sp = w2.numel() / (o2 * ci), o_g = o2 / groups_of(g.nodes[b]);
    for (int64_t o = 0; o < o2; ++o) {
      double add = 0;
      for (int64_t j = 0; j < ci; ++j) {
        const double ch = c[static_cast<size_t>(o / o_g * ci + j)];
        for (int64_t s = 0; s < sp; ++s) add += w2.f[(o * ci + j) * sp + s] * ch;
      }
      b2.f[o] = static_cast<float>(b2.f[o] + add);
    }
  }
  return rep;
}

}  // namespace dfmpc
