#include "runtime/fusion.h"

#include <cmath>
#include <memory>

#include "runtime/kernels/conv.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/ops.h"

namespace dfmpc {

void fold_bn_into_conv(std::vector<float>& w, std::vector<float>& b, int64_t c_out,
                       const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, float eps) {
  if (b.empty()) b.assign(static_cast<size_t>(c_out), 0.0f);
  const size_t per = w.size() / static_cast<size_t>(c_out);
  for (int64_t o = 0; o < c_out; ++o) {
    const float scale = gamma.f[o] / std::sqrt(var.f[o] + eps);
    for (size_t k = 0; k < per; ++k) w[o * per + k] *= scale;
    b[o] = (b[o] - mean.f[o]) * scale + beta.f[o];
  }
}

namespace {

// A Conv with folded BN and fused epilogue; the oneDNN kernel is built on first use, when
// the input's spatial size is known, and rebuilt only if that size changes.
struct FusedConv {
  const Node* conv;
  Shape w_shape;
  std::vector<float> w, b;
  Epilogue ep;
  std::unique_ptr<ConvKernel> kernel;
  Shape kernel_input;  // [C, H, W] the kernel was built for

  void run(std::span<const Tensor* const> in, std::span<Tensor* const> out) {
    const Tensor& x = *in[0];
    const ConvGeom g = conv_geom(*conv, x.shape, w_shape);
    const Shape chw(x.shape.begin() + 1, x.shape.end());
    if (!kernel || chw != kernel_input) {
      kernel = std::make_unique<ConvKernel>(g, w.data(), b.empty() ? nullptr : b.data(), ep);
      kernel_input = chw;
    }
    Tensor& y = *out[0];
    y.dtype = DType::f32;
    y.shape = {x.shape[0], g.c_out, g.out_h(), g.out_w()};
    y.f.resize(static_cast<size_t>(shape_numel(y.shape)));
    const Tensor* residual = in.size() > 1 ? in[1] : nullptr;
    if (residual && residual->shape != y.shape)
      throw ModelError(conv->where() + ": residual " + shape_str(residual->shape) +
                       " does not match the conv output " + shape_str(y.shape));
    kernel->run(x.shape[0], x.f.data(), residual ? residual->f.data() : nullptr, y.f.data());
  }
};

// The single node reading `v`, if exactly one does and `v` is not a graph output.
const Node* sole_consumer(const Graph& g, const std::string& v, std::vector<bool>& done, int& index) {
  if (g.is_graph_output(v)) return nullptr;
  const auto c = g.consumers_of(v);
  if (c.size() != 1 || done[c[0]]) return nullptr;
  index = c[0];
  return &g.nodes[c[0]];
}

bool all_const(const Graph& g, const Node& n, size_t from) {
  for (size_t k = from; k < n.inputs.size(); ++k)
    if (!n.inputs[k].empty() && !g.is_const(n.inputs[k])) return false;
  return true;
}

}  // namespace

std::vector<ExecStep> plan_steps(const Graph& g, bool fuse,
                                 const std::function<int(const std::string&)>& id_of) {
  std::vector<ExecStep> steps;
  std::vector<bool> done(g.nodes.size(), false);
  // Fused steps are emitted where their last node stood, so residual inputs are ready.
  std::vector<std::vector<ExecStep>> emit_at(g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (done[k]) {
      for (auto& s : emit_at[k]) steps.push_back(std::move(s));
      continue;
    }
    const Node& n = g.nodes[k];
    const OpDef& def = checked_op(n);
    if (fuse && n.op == "Conv" && n.inputs.size() >= 2 && all_const(g, n, 1)) {
      auto fc = std::make_shared<FusedConv>();
      fc->conv = &n;
      const Tensor& w = g.constant(n.inputs[1]);
      fc->w_shape = w.shape;
      fc->w = w.f;
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) fc->b = g.constant(n.inputs[2]).f;
      std::string cur = n.outputs[0];
      int last = static_cast<int>(k), idx = -1;
      std::string residual;
      const Node* next = sole_consumer(g, cur, done, idx);
      if (next && next->op == "BatchNormalization" && next->outputs.size() == 1 && all_const(g, *next, 1)) {
        fold_bn_into_conv(fc->w, fc->b, w.shape.at(0), g.constant(next->inputs[1]), g.constant(next->inputs[2]),
                          g.constant(next->inputs[3]), g.constant(next->inputs[4]), next->attr_f("epsilon", 1e-5f));
        done[idx] = true, last = idx, cur = next->outputs[0];
        next = sole_consumer(g, cur, done, idx);
      }
      if (next && next->op == "Add" && next->inputs.size() == 2) {
        residual = next->inputs[0] == cur ? next->inputs[1] : next->inputs[0];
        if (residual != cur && !g.is_const(residual)) {
          fc->ep.add_residual = true;
          done[idx] = true, last = idx, cur = next->outputs[0];
          next = sole_consumer(g, cur, done, idx);
        } else {
          residual.clear();
        }
      }
      if (next && next->op == "Relu") {
        fc->ep.act = Activation::relu;
        done[idx] = true, last = idx, cur = next->outputs[0];
      } else if (next && next->op == "Clip" && all_const(g, *next, 1)) {
        std::vector<const Tensor*> bounds{nullptr};
        for (size_t j = 1; j < next->inputs.size(); ++j)
          bounds.push_back(next->inputs[j].empty() ? nullptr : &g.constant(next->inputs[j]));
        const auto [lo, hi] = ops::clip_bounds(*next, g.opset, bounds);
        fc->ep.act = Activation::clip;
        fc->ep.clip_lo = lo;
        fc->ep.clip_hi = hi;
        done[idx] = true, last = idx, cur = next->outputs[0];
      }
      ExecStep s;
      s.in = {id_of(n.inputs[0])};
      if (!residual.empty()) s.in.push_back(id_of(residual));
      s.out = {id_of(cur)};
      s.run = [fc](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) { fc->run(in, out); };
      done[k] = true;
      if (last == static_cast<int>(k)) steps.push_back(std::move(s));
      else emit_at[last].push_back(std::move(s));
      continue;
    }
    ExecStep s;
    for (const auto& in : n.inputs) s.in.push_back(id_of(in));
    for (const auto& out : n.outputs) s.out.push_back(id_of(out));
    const Node* node = &n;
    const OpFn fn = def.run;
    s.run = [node, fn](int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      fn(*node, opset, in, out);
    };
    steps.push_back(std::move(s));
  }
  return steps;
}

}  // namespace dfmpc
