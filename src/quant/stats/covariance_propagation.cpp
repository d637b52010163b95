#include "quant/stats/covariance_propagation.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "quant/stats/gaussian_moments.h"
#include "runtime/shape_inference.h"

namespace dfmpc {
namespace {

// 24-point Gauss-Legendre nodes / weights on [-1, 1] (positive half; symmetric).
constexpr std::array<double, 12> k_gl_x = {0.0640568928626056, 0.1911188674736163, 0.3150426796961634,
                                           0.4337935076260451, 0.5454214713888396, 0.6480936519369755,
                                           0.7401241915785544, 0.8200019859739029, 0.8864155270044011,
                                           0.9382745520027328, 0.9747285559713095, 0.9951872199970213};
constexpr std::array<double, 12> k_gl_w = {0.1279381953467522, 0.1258374563468283, 0.1216704729278034,
                                           0.1155056680537256, 0.1074442701159656, 0.0976186521041139,
                                           0.0861901615319533, 0.0733464814110803, 0.0592985849154368,
                                           0.0442774388174198, 0.0285313886289337, 0.0123412297999872};

// E[X+ Y+] for jointly Gaussian X = m1 + s1 U, Y = m2 + s2 V, corr(U, V) = r.
double relu_cross(double m1, double s1, double m2, double s2, double r) {
  if (!(s1 > 0)) return std::max(m1, 0.0) * relu_moments(m2, s2).mean;
  if (!(s2 > 0)) return std::max(m2, 0.0) * relu_moments(m1, s1).mean;
  r = std::clamp(r, -1.0, 1.0);
  const double lo = std::max(-m1 / s1, -9.0), hi = 9.0;
  if (lo >= hi) return 0.0;
  const double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo), cs = s2 * std::sqrt(std::max(0.0, 1.0 - r * r));
  double acc = 0;
  for (size_t k = 0; k < k_gl_x.size(); ++k)
    for (double sg : {-1.0, 1.0}) {
      const double u = c + sg * h * k_gl_x[k];
      const double x = m1 + s1 * u;
      if (x <= 0) continue;
      acc += k_gl_w[k] * normal_pdf(u) * x * relu_moments(m2 + s2 * r * u, cs).mean;
    }
  return acc * h;
}

// In-range copy of `in` extended to radius E by nearest-offset extrapolation with decay.
std::vector<double> extended(const SpatialCov& in, int E, double decay) {
  const int D = 2 * E + 1, R = in.R;
  const int64_t C = in.C;
  std::vector<double> out(static_cast<size_t>(C * C * D * D));
  std::vector<double> pw(2 * E + 2, 1.0);
  for (size_t k = 1; k < pw.size(); ++k) pw[k] = pw[k - 1] * decay;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j)
      for (int dy = -E; dy <= E; ++dy)
        for (int dx = -E; dx <= E; ++dx) {
          const int cy = std::clamp(dy, -R, R), cx = std::clamp(dx, -R, R);
          const int ex = std::abs(dy - cy) + std::abs(dx - cx);
          out[((i * C + j) * D + (dy + E)) * D + (dx + E)] = in.at(i, j, cy, cx) * pw[ex];
        }
  return out;
}

SpatialCov empty_like(int64_t C, int R) {
  SpatialCov s;
  s.C = C;
  s.R = R;
  s.mean.assign(C, 0.0);
  s.cov.assign(static_cast<size_t>(C * C * (2 * R + 1) * (2 * R + 1)), 0.0);
  return s;
}

std::vector<int64_t> const_ints(const Graph& g, const Node& n, size_t k) {
  if (n.inputs.size() <= k || n.inputs[k].empty()) return {};
  if (!g.is_const(n.inputs[k])) throw ModelError(n.where() + ": non-constant input");
  return g.constant(n.inputs[k]).as_i64();
}

}  // namespace

SpatialCov input_prior(int64_t C, const CovOptions& opt) {
  SpatialCov s = empty_like(C, opt.radius);
  for (int64_t i = 0; i < C; ++i) s.mean[i] = opt.input_mean.size() == 1 ? opt.input_mean[0] : opt.input_mean.at(i);
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j)
      for (int dy = -s.R; dy <= s.R; ++dy)
        for (int dx = -s.R; dx <= s.R; ++dx)
          s.at(i, j, dy, dx) = opt.input_var * (i == j ? 1.0 : opt.input_channel_corr) *
                               std::pow(opt.input_spatial_corr, std::sqrt(double(dy * dy + dx * dx)));
  return s;
}

SpatialCov conv_cov(const ConvGeom& g, const std::vector<float>& w, const std::vector<double>& bias,
                    const SpatialCov& in, const CovOptions& opt) {
  if (g.dil_h != 1 || g.dil_w != 1) throw ModelError("covariance propagation: dilated conv is not supported");
  if (g.stride_h != g.stride_w) throw ModelError("covariance propagation: anisotropic stride is not supported");
  const int64_t O = g.c_out, Ci = g.c_in, G = g.groups, Ig = Ci / G, Og = O / G;
  const int kh = static_cast<int>(g.kh), kw = static_cast<int>(g.kw), s = static_cast<int>(g.stride_h);
  const int R = opt.radius;
  // u = s d + t' (per axis) ranges over [-sR, sR + k - 1]; u - t over [-sR - k + 1, sR + k - 1].
  const int uy0 = -s * R, uy1 = s * R + kh - 1, ux0 = -s * R, ux1 = s * R + kw - 1;
  const int Uy = uy1 - uy0 + 1, Ux = ux1 - ux0 + 1;
  const int E = std::max(s * R + kh - 1, s * R + kw - 1);
  const int De = 2 * E + 1;
  const std::vector<double> ce = extended(in, E, opt.extrapolation_decay);
  // U[o][j][uy][ux] = sum_{i in group(o), t} W[o,i,t] Cov_in(i, j, u - t)
  std::vector<double> U(static_cast<size_t>(O * Ci * Uy * Ux), 0.0);
  for (int64_t o = 0; o < O; ++o) {
    const int64_t gi = o / Og;
    for (int64_t il = 0; il < Ig; ++il) {
      const int64_t i = gi * Ig + il;
      for (int ty = 0; ty < kh; ++ty)
        for (int tx = 0; tx < kw; ++tx) {
          const double wv = w[((o * Ig + il) * kh + ty) * kw + tx];
          if (wv == 0.0) continue;
          for (int64_t j = 0; j < Ci; ++j) {
            const double* src = &ce[(static_cast<size_t>(i * Ci + j) * De) * De];
            double* dst = &U[static_cast<size_t>((o * Ci + j) * Uy) * Ux];
            for (int uy = 0; uy < Uy; ++uy) {
              const int ry = uy + uy0 - ty + E;
              const double* row = src + static_cast<size_t>(ry) * De + (ux0 - tx + E);
              double* drow = dst + static_cast<size_t>(uy) * Ux;
              for (int ux = 0; ux < Ux; ++ux) drow[ux] += wv * row[ux];
            }
          }
        }
    }
  }
  SpatialCov out = empty_like(O, R);
  const int D = out.D();
  // Cov_out[o][o'][d] = sum_{j in group(o'), t'} W[o',j,t'] U[o][j][s d + t']
  for (int64_t o = 0; o < O; ++o)
    for (int64_t o2 = 0; o2 < O; ++o2) {
      const int64_t gj = o2 / Og;
      double* dst = &out.cov[out.idx(o, o2, -R, -R)];
      for (int64_t jl = 0; jl < Ig; ++jl) {
        const int64_t j = gj * Ig + jl;
        const double* u = &U[static_cast<size_t>((o * Ci + j) * Uy) * Ux];
        for (int ty = 0; ty < kh; ++ty)
          for (int tx = 0; tx < kw; ++tx) {
            const double wv = w[((o2 * Ig + jl) * kh + ty) * kw + tx];
            if (wv == 0.0) continue;
            for (int dy = -R; dy <= R; ++dy) {
              const double* row = u + static_cast<size_t>(s * dy + ty - uy0) * Ux + (tx - ux0);
              double* drow = dst + static_cast<size_t>(dy + R) * D;
              for (int dx = -R; dx <= R; ++dx) drow[dx + R] += wv * row[s * dx];
            }
          }
      }
    }
  // Means: border-aware, as moment_propagation.
  ChannelMoments cm{in.mean, std::vector<double>(Ci, 0.0)};
  const ConvMomentTerms t = conv_moment_terms(g, w, w, cm, opt.border_correction, false);
  for (int64_t o = 0; o < O; ++o) out.mean[o] = t.mean1[o] + (bias.empty() ? 0.0 : bias[o]);
  return out;
}

SpatialCov relu_cov(const SpatialCov& in) {
  SpatialCov out = empty_like(in.C, in.R);
  const int64_t C = in.C;
  std::vector<double> sd(C), em(C);
  for (int64_t i = 0; i < C; ++i) {
    sd[i] = std::sqrt(std::max(0.0, in.var(i)));
    em[i] = relu_moments(in.mean[i], sd[i]).mean;
    out.mean[i] = em[i];
  }
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j)
      for (int dy = -in.R; dy <= in.R; ++dy)
        for (int dx = -in.R; dx <= in.R; ++dx) {
          // Symmetry: Cov(i, j, d) = Cov(j, i, -d); compute one of each pair.
          const bool first = i < j || (i == j && (dy > 0 || (dy == 0 && dx >= 0)));
          if (!first) continue;
          double v;
          if (i == j && dy == 0 && dx == 0) {
            v = relu_moments(in.mean[i], sd[i]).var;
          } else {
            const double c = in.at(i, j, dy, dx);
            const double r = sd[i] > 0 && sd[j] > 0 ? c / (sd[i] * sd[j]) : 0.0;
            v = relu_cross(in.mean[i], sd[i], in.mean[j], sd[j], r) - em[i] * em[j];
          }
          out.at(i, j, dy, dx) = v;
          out.at(j, i, -dy, -dx) = v;
        }
  return out;
}

CovOptions fit_input_prior(const Graph& fp, CovOptions opt) {
  if (fp.inputs.empty()) return opt;
  const std::string x = fp.inputs[0].name;
  const auto shapes = infer_shapes(fp, 2);
  for (const Node& n : fp.nodes) {
    if (n.op != "Conv" || n.inputs.at(0) != x || !fp.is_const(n.inputs.at(1))) continue;
    const auto c = fp.consumers_of(n.outputs[0]);
    if (c.size() != 1 || fp.nodes[c[0]].op != "BatchNormalization") return opt;
    const Node& bn = fp.nodes[c[0]];
    const auto& rv = fp.constant(bn.inputs.at(4)).f;
    const double eps = bn.attr_f("epsilon", 1e-5f);
    const ConvGeom g = conv_node_geom(fp, n, shapes);
    const auto& w = fp.constant(n.inputs[1]).f;
    const int64_t O = g.c_out;
    double best = 1e300;
    CovOptions o = opt;
    o.radius = 1;  // only offset 0 of the output is needed
    CovOptions best_o = opt;
    for (int a = 0; a <= 19; ++a)
      for (int b = 0; b <= 19; ++b) {
        o.input_spatial_corr = a / 20.0;
        o.input_channel_corr = b / 20.0;
        const SpatialCov in = input_prior(g.c_in, o);
        const SpatialCov out = conv_cov(g, w, {}, in, o);
        double e = 0;
        for (int64_t k = 0; k < O; ++k) {
          const double r = std::log(std::max(out.var(k), 1e-30) / (double(rv[k]) + eps));
          e += r * r;
        }
        if (e < best) best = e, best_o.input_spatial_corr = o.input_spatial_corr, best_o.input_channel_corr = o.input_channel_corr;
      }
    return best_o;
  }
  return opt;
}

bool covariance_step(const Graph& g, const Node& n, std::map<std::string, SpatialCov>& m, const CovOptions& opt) {
  if (n.inputs.empty() || !m.count(n.inputs[0])) return false;
  const SpatialCov& x = m.at(n.inputs[0]);
  SpatialCov y;
  if (n.op == "Relu") {
    y = relu_cov(x);
  } else if (n.op == "Add") {
    if (n.inputs.size() != 2 || !m.count(n.inputs[1])) return false;
    const SpatialCov& b = m.at(n.inputs[1]);
    if (b.C != x.C || b.R != x.R) return false;
    y = x;
    for (size_t k = 0; k < y.cov.size(); ++k) y.cov[k] += b.cov[k];
    for (int64_t i = 0; i < y.C; ++i) y.mean[i] += b.mean[i];
  } else if (n.op == "Identity" || n.op == "Dropout") {
    y = x;
  } else if (n.op == "Slice") {
    if (g.opset < 10) return false;
    const auto starts = const_ints(g, n, 1), ends = const_ints(g, n, 2);
    auto axes = const_ints(g, n, 3), steps = const_ints(g, n, 4);
    if (axes.empty())
      for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
    if (steps.empty()) steps.assign(starts.size(), 1);
    y = x;
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t a = axes[k] < 0 ? axes[k] + 4 : axes[k];
      if (a == 2 || a == 3) {
        const int st = static_cast<int>(steps[k]);
        if (st < 1) return false;
        const std::vector<double> ce = extended(y, st * y.R, opt.extrapolation_decay);
        const int E = st * y.R, De = 2 * E + 1;
        SpatialCov z = empty_like(y.C, y.R);
        z.mean = y.mean;
        for (int64_t i = 0; i < y.C; ++i)
          for (int64_t j = 0; j < y.C; ++j)
            for (int dy = -y.R; dy <= y.R; ++dy)
              for (int dx = -y.R; dx <= y.R; ++dx) {
                const int sy = a == 2 ? st * dy : dy, sx = a == 3 ? st * dx : dx;
                z.at(i, j, dy, dx) = ce[((i * y.C + j) * De + (sy + E)) * De + (sx + E)];
              }
        y = z;
      } else if (a == 1) {
        const int64_t st = steps[k];
        if (st < 1) return false;
        const int64_t s0 = std::clamp<int64_t>(starts[k] < 0 ? starts[k] + y.C : starts[k], 0, y.C);
        const int64_t e0 = std::clamp<int64_t>(ends[k] < 0 ? ends[k] + y.C : ends[k], 0, y.C);
        std::vector<int64_t> sel;
        for (int64_t c = s0; c < e0; c += st) sel.push_back(c);
        SpatialCov z = empty_like(static_cast<int64_t>(sel.size()), y.R);
        for (size_t a2 = 0; a2 < sel.size(); ++a2) {
          z.mean[a2] = y.mean[sel[a2]];
          for (size_t b2 = 0; b2 < sel.size(); ++b2)
            for (int dy = -y.R; dy <= y.R; ++dy)
              for (int dx = -y.R; dx <= y.R; ++dx) z.at(a2, b2, dy, dx) = y.at(sel[a2], sel[b2], dy, dx);
        }
        y = z;
      } else {
        return false;
      }
    }
  } else if (n.op == "Pad") {
    if (g.opset < 11) return false;
    const auto pads = const_ints(g, n, 1);
    if (pads.size() != 8 || pads[0] || pads[2] || pads[3] || pads[4] || pads[6] || pads[7]) return false;
    if (n.inputs.size() > 2 && !n.inputs[2].empty() && g.constant(n.inputs[2]).as_f32().at(0) != 0.0f) return false;
    const int64_t b0 = pads[1], a0 = pads[5];
    y = empty_like(x.C + b0 + a0, x.R);
    for (int64_t i = 0; i < x.C; ++i) {
      y.mean[i + b0] = x.mean[i];
      for (int64_t j = 0; j < x.C; ++j)
        for (int dy = -x.R; dy <= x.R; ++dy)
          for (int dx = -x.R; dx <= x.R; ++dx) y.at(i + b0, j + b0, dy, dx) = x.at(i, j, dy, dx);
    }
  } else {
    return false;
  }
  m[n.outputs[0]] = std::move(y);
  return true;
}

SpatialCov batch_norm_cov(const SpatialCov& x, const std::vector<double>& scale, const std::vector<double>& mean) {
  SpatialCov y = empty_like(x.C, x.R);
  for (int64_t i = 0; i < x.C; ++i) y.mean[i] = mean[i];
  for (int64_t i = 0; i < x.C; ++i)
    for (int64_t j = 0; j < x.C; ++j)
      for (int dy = -x.R; dy <= x.R; ++dy)
        for (int dx = -x.R; dx <= x.R; ++dx) y.at(i, j, dy, dx) = scale[i] * scale[j] * x.at(i, j, dy, dx);
  return y;
}

std::map<std::string, SpatialCov> propagate_covariance(const Graph& fp, const CovOptions& opt) {
  const auto shapes = infer_shapes(fp, 2);
  std::map<std::string, SpatialCov> m;
  for (const auto& in : fp.inputs) m[in.name] = input_prior(shapes.at(in.name).at(1), opt);
  for (const Node& n : fp.nodes) {
    if (n.inputs.empty() || !m.count(n.inputs[0])) continue;
    const SpatialCov& x = m.at(n.inputs[0]);
    if (n.op == "Conv") {
      const ConvGeom g = conv_node_geom(fp, n, shapes);
      std::vector<double> b;
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const auto& t = fp.constant(n.inputs[2]).f;
        b.assign(t.begin(), t.end());
      }
      m[n.outputs[0]] = conv_cov(g, fp.constant(n.inputs[1]).f, b, x, opt);
    } else if (n.op == "BatchNormalization") {
      const auto& gam = fp.constant(n.inputs.at(1)).f;
      const auto& bet = fp.constant(n.inputs.at(2)).f;
      std::vector<double> sc(x.C), mu(x.C);
      for (int64_t i = 0; i < x.C; ++i) sc[i] = gam[i] / std::sqrt(std::max(x.var(i), 1e-30)), mu[i] = bet[i];
      m[n.outputs[0]] = batch_norm_cov(x, sc, mu);
    } else if (!covariance_step(fp, n, m, opt)) {
      break;  // pooling, Gemm, ...: the covariance model ends here
    }
  }
  return m;
}

}  // namespace dfmpc
