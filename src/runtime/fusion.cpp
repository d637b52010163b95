#include "runtime/fusion.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string_view>

#include "runtime/kernels/blocked.h"
#include "runtime/kernels/conv.h"
#include "runtime/kernels/conv_blocked.h"
#include "runtime/kernels/conv_lowbit.h"
#include "runtime/ops/conv_geom.h"
#include "runtime/ops/op_registry.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/op_util.h"
#include "runtime/ops/quant_params.h"
#include "runtime/ops/shape_params.h"

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

enum class Layout { plain, blocked };

// Name of the blocked (nChw8c) copy of value `v`; the plain copy keeps the graph's name, so
// graph outputs and reference ops see what they always saw.
constexpr std::string_view kBlockedSuffix = "\x1f" "nChw8c";
std::string blocked_name(const std::string& v) { return v + std::string(kBlockedSuffix); }

// A Conv with folded BN and fused epilogue; the kernel is built on first use, when the
// input's spatial size is known, and rebuilt only if that size changes. `blocked` convs read
// and write nChw8c (BlockedConvKernel, or LowBitConvKernel when the weight stays `packed`);
// the others plain NCHW (ConvKernel).
struct FusedConv {
  const Node* conv;
  Shape w_shape;
  std::vector<float> w, b;  // w empty when packed
  const PackedWeight* packed = nullptr;  // owned by ExecOptions::packed_weights
  std::vector<float> channel_scale;      // with packed: the folded BN's per-channel factor
  Epilogue ep;
  bool blocked = false;
  std::unique_ptr<ConvKernel> kernel;
  std::unique_ptr<BlockedConvKernel> bkernel;
  std::unique_ptr<LowBitConvKernel> lkernel;
  Shape kernel_input;  // [C, H, W] the kernel was built for
  ConvGeom geom;       // for kernel_input

  // Concurrent calls (micro-batches) are safe once the kernel exists for the input's shape.
  void run(std::span<const Tensor* const> in, std::span<Tensor* const> out) {
    const Tensor& x = *in[0];
    const bool same = x.shape.size() == 4 && kernel_input.size() == 3 &&
                      std::equal(kernel_input.begin(), kernel_input.end(), x.shape.begin() + 1);
    if (!same || (packed ? !lkernel : blocked ? !bkernel : !kernel)) {
      geom = conv_geom(*conv, x.shape, w_shape);
      const float* bias = b.empty() ? nullptr : b.data();
      if (packed) lkernel = std::make_unique<LowBitConvKernel>(geom, *packed, channel_scale.data(), bias, ep);
      else if (blocked) bkernel = std::make_unique<BlockedConvKernel>(geom, w.data(), bias, ep);
      else kernel = std::make_unique<ConvKernel>(geom, w.data(), bias, ep);
      kernel_input.assign(x.shape.begin() + 1, x.shape.end());
    }
    const ConvGeom& g = geom;
    Tensor& y = *out[0];
    const Shape ys{x.shape[0], g.c_out, g.out_h(), g.out_w()};
    const Tensor* residual = in.size() > 1 ? in[1] : nullptr;
    if (residual && residual->shape != ys)
      throw ModelError(conv->where() + ": residual " + shape_str(residual->shape) +
                       " does not match the conv output " + shape_str(ys));
    if (packed) {
      blk::prepare(y, ys);
      lkernel->run(x.shape[0], blk::data(x), residual ? blk::data(*residual) : nullptr, blk::data(y));
      return;
    }
    if (blocked) {
      blk::prepare(y, ys);
      bkernel->run(x.shape[0], blk::data(x), residual ? blk::data(*residual) : nullptr, blk::data(y));
      return;
    }
    y.dtype = DType::f32;
    y.shape = ys;
    y.f.resize(static_cast<size_t>(shape_numel(y.shape)));
    kernel->run(x.shape[0], x.f.data(), residual ? residual->f.data() : nullptr, y.f.data());
  }

  // Parameter bytes held: own copies plus the kernel's (Winograd keeps 6x6 transformed
  // weights per 3x3 filter, oneDNN a reordered copy). The packed source codes are counted by
  // the executor, which owns them.
  int64_t held_bytes() const {
    int64_t floats = static_cast<int64_t>(w.size() + b.size() + channel_scale.size());
    if (bkernel && bkernel->winograd()) {
      const ConvGeom& g = bkernel->geom();
      floats += 36 * (g.c_in + 7) / 8 * 8 * ((g.c_out + 7) / 8 * 8) + (g.c_out + 7) / 8 * 8;
    } else if (bkernel || kernel) {
      floats += static_cast<int64_t>(w.size() + b.size());
    }
    return floats * static_cast<int64_t>(sizeof(float)) + (lkernel ? lkernel->resident_bytes() : 0);
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

using RunFn = decltype(ExecStep::run);

// A step before value ids are assigned: values by name, with the layout each input must
// have and the layout the step writes.
struct Proto {
  std::vector<std::string> in, out;
  std::vector<Layout> in_layout;
  Layout out_layout = Layout::plain;
  RunFn run;
  bool concurrent = true;
  std::function<int64_t()> held_bytes;
  bool low_bit = false;
};

// The blocked layout is on unless DFMPC_LAYOUT=plain (for A/B measurements).
bool blocked_layout_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("DFMPC_LAYOUT");
    return !(e && std::string(e) == "plain");
  }();
  return on;
}

// The packed weight behind conv input `name`: present in `packed` and still an empty
// placeholder in the graph (the executor materialises the ones it cannot leave packed).
const PackedWeight* packed_weight(const Graph& g, const PackedWeights* packed, const std::string& name) {
  if (!packed) return nullptr;
  const auto it = packed->find(name);
  return it != packed->end() && g.constant(name).numel() == 0 ? &it->second : nullptr;
}

Proto fused_conv_step(const Graph& g, const Node& n, size_t k, std::vector<bool>& done, int& last,
                      const PackedWeights* packed) {
  auto fc = std::make_shared<FusedConv>();
  fc->conv = &n;
  const Tensor& w = g.constant(n.inputs[1]);
  if (const PackedWeight* pw = packed_weight(g, packed, n.inputs[1])) {
    fc->w_shape = pw->shape;
    if (blocked_layout_enabled() && LowBitConvKernel::supports(*pw, n.attr_i("group", 1))) {
      fc->packed = pw;
      fc->channel_scale.assign(static_cast<size_t>(pw->shape.at(0)), 1.0f);
    } else {
      fc->w = dequantize_packed(*pw);  // FP32 fallback for this layer
    }
  } else {
    fc->w_shape = w.shape;
    fc->w = w.f;
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) fc->b = g.constant(n.inputs[2]).f;
  std::string cur = n.outputs[0];
  last = static_cast<int>(k);
  int idx = -1;
  std::string residual;
  const Node* next = sole_consumer(g, cur, done, idx);
  if (next && next->op == "BatchNormalization" && next->outputs.size() == 1 && all_const(g, *next, 1)) {
    fold_bn_into_conv(fc->packed ? fc->channel_scale : fc->w, fc->b, fc->w_shape.at(0), g.constant(next->inputs[1]), g.constant(next->inputs[2]),
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
  // Grouped (depthwise) convolutions stay on the plain path: oneDNN's plain kernels suit them.
  fc->blocked = blocked_layout_enabled() && fc->w_shape.size() == 4 && n.attr_i("group", 1) == 1;
  const Layout lay = fc->blocked ? Layout::blocked : Layout::plain;
  Proto p;
  p.in = {n.inputs[0]};
  p.in_layout = {lay};
  if (!residual.empty()) p.in.push_back(residual), p.in_layout.push_back(lay);
  p.out = {cur};
  p.out_layout = lay;
  p.run = [fc](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) { fc->run(in, out); };
  p.concurrent = fc->blocked;  // ConvKernel keeps per-call state
  p.held_bytes = [fc] { return fc->held_bytes(); };
  p.low_bit = fc->packed != nullptr;
  done[k] = true;
  return p;
}

// Blocked-layout versions of the data movement ops that sit between convolutions (the
// option-A shortcut's Slice and Pad, the ImageNet stem's MaxPool, the final
// GlobalAveragePool), used when their data input
// is produced blocked. Returns a Proto without `run` for any other op.
Proto blocked_op_step(const Node& n) {
  Proto p;
  if (n.op != "Slice" && n.op != "Pad" && n.op != "GlobalAveragePool" && n.op != "MaxPool") return p;
  if (n.outputs.size() != 1) return p;
  // MaxPool: 4-D input (checked when run), no Indices output, storage_order 0; the other
  // forms stay on the reference op, which reports them.
  if (n.op == "MaxPool" && n.attr_i("storage_order", 0) != 0) return p;
  p.in = n.inputs;
  p.in_layout.assign(n.inputs.size(), Layout::plain);
  p.in_layout[0] = Layout::blocked;
  p.out = n.outputs;
  const Node* node = &n;
  if (n.op == "Slice") {
    p.out_layout = Layout::blocked;
    p.run = [node](int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      const ops::SliceParams sp = ops::slice_params(*node, opset, in);
      blk::slice(*in[0], sp.begin, sp.step, sp.out, *out[0]);
    };
  } else if (n.op == "Pad") {
    p.out_layout = Layout::blocked;
    p.run = [node](int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      const ops::PadParams pp = ops::pad_params(*node, opset, in);
      blk::pad(*in[0], pp.pads, pp.value, pp.out, *out[0]);
    };
  } else if (n.op == "MaxPool") {
    p.out_layout = Layout::blocked;
    p.run = [node](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      blk::max_pool(*in[0], pool_geom(*node, in[0]->shape), *out[0]);
    };
  } else {
    p.out_layout = Layout::plain;
    p.run = [](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      blk::global_average_pool(*in[0], *out[0]);
    };
  }
  return p;
}

// QuantizeLinear -> DequantizeLinear with the same constant scale, zero point and axis (the
// activation layout ONNX Runtime's quantize_static writes) as one float -> float step:
// y = (saturate(round(x / s) + z) - z) * s, the values the two reference ops produce. A
// per-tensor pair reading a blocked value works on it in place of layout (padded channels
// stay zero). Returns a Proto without `run` when the pattern does not match.
Proto fused_qdq_step(const Graph& g, const Node& q, std::vector<bool>& done, bool input_blocked) {
  Proto p;
  int idx = -1;
  if (q.outputs.size() != 1 || q.inputs.size() < 2 || !all_const(g, q, 1)) return p;
  const Node* dq = sole_consumer(g, q.outputs[0], done, idx);
  if (!dq || dq->op != "DequantizeLinear" || dq->inputs.empty() || dq->inputs[0] != q.outputs[0] ||
      dq->inputs.size() < 2 || !all_const(g, *dq, 1) || dq->outputs.size() != 1)
    return p;
  auto input = [&g](const Node& n, size_t k) -> const Tensor* {
    return k < n.inputs.size() && !n.inputs[k].empty() ? &g.constant(n.inputs[k]) : nullptr;
  };
  const Tensor *qs = input(q, 1), *ds = input(*dq, 1), *qz = input(q, 2), *dz = input(*dq, 2);
  const bool same_zero = (!qz && !dz) || (qz && dz && qz->i == dz->i && qz->itype == dz->itype);
  if (qs->f != ds->f || !same_zero || q.attr_i("axis", 1) != dq->attr_i("axis", 1) ||
      q.has("output_dtype") || dq->attr_i("block_size", 0) != 0)
    return p;
  done[idx] = true;
  const bool blocked = input_blocked && qs->numel() == 1;
  const Layout lay = blocked ? Layout::blocked : Layout::plain;
  p.in = q.inputs;
  p.in_layout.assign(q.inputs.size(), Layout::plain);
  p.in_layout[0] = lay;
  p.out = dq->outputs;
  p.out_layout = lay;
  const Node* node = &q;
  p.run = [node, blocked](int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
    const Tensor& x = *in[0];
    const ops::QuantParams qp = ops::quant_params(*node, opset, in, x.shape, true);
    const auto [lo, hi] = int_type_range(qp.type);
    const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
    Tensor& y = *out[0];
    if (blocked) {
      blk::prepare(y, x.shape);
      const float* src = blk::data(x);
      float* dst = blk::data(y);
      const float s = qp.scale[0];
      const int64_t z = qp.zero[0];
      for (int64_t k = 0, n = blk::numel(x.shape); k < n; ++k)
        dst[k] = ops::dequantize_value(ops::quantize_value(src[k], s, z, flo, fhi), s, z);
      return;
    }
    prepare_f32(y, x.shape);
    for (size_t k = 0; k < x.f.size(); ++k) {
      const int64_t c = qp.channel(static_cast<int64_t>(k));
      y.f[k] = ops::dequantize_value(ops::quantize_value(x.f[k], qp.scale[c], qp.zero[c], flo, fhi), qp.scale[c],
                                     qp.zero[c]);
    }
  };
  return p;
}

// Orders the steps, names each value by the layout it is stored in, and inserts layout
// conversions right after a value is produced (or at the start for graph inputs and
// constants) wherever a consumer, or the graph output, needs the other layout.
std::vector<ExecStep> assign_layouts(const Graph& g, std::vector<Proto>& protos,
                                     const std::function<int(const std::string&)>& id_of) {
  std::map<std::string, Layout> produced;
  for (const Proto& p : protos)
    for (const auto& o : p.out) produced[o] = p.out_layout;
  auto layout_of = [&](const std::string& v) {
    const auto it = produced.find(v);
    return it == produced.end() ? Layout::plain : it->second;
  };
  auto name_in = [](const std::string& v, Layout l) { return l == Layout::blocked ? blocked_name(v) : v; };
  std::set<std::pair<std::string, Layout>> needed;
  for (const Proto& p : protos)
    for (size_t k = 0; k < p.in.size(); ++k)
      if (!p.in[k].empty()) needed.insert({p.in[k], p.in_layout[k]});
  for (const auto& o : g.outputs) needed.insert({o.name, Layout::plain});

  std::vector<ExecStep> steps;
  auto convert = [&](const std::string& v) {  // conversions of v that someone needs
    const Layout have = layout_of(v);
    for (Layout want : {Layout::plain, Layout::blocked}) {
      if (want == have || !needed.count({v, want})) continue;
      ExecStep s;
      s.in = {id_of(name_in(v, have))};
      s.out = {id_of(name_in(v, want))};
      if (want == Layout::blocked)
        s.run = [](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
          blk::to_blocked(*in[0], *out[0]);
        };
      else
        s.run = [](int64_t, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
          blk::to_plain(*in[0], *out[0]);
        };
      steps.push_back(std::move(s));
    }
  };
  std::set<std::string> sources;  // values no step produces
  for (const auto& [v, l] : needed)
    if (!produced.count(v)) sources.insert(v);
  for (const auto& v : sources) convert(v);
  for (Proto& p : protos) {
    ExecStep s;
    for (size_t k = 0; k < p.in.size(); ++k) s.in.push_back(p.in[k].empty() ? -1 : id_of(name_in(p.in[k], p.in_layout[k])));
    for (const auto& o : p.out) s.out.push_back(id_of(name_in(o, p.out_layout)));
    s.run = std::move(p.run);
    s.concurrent = p.concurrent;
    s.held_bytes = std::move(p.held_bytes);
    s.low_bit = p.low_bit;
    steps.push_back(std::move(s));
    for (const auto& o : p.out) convert(o);
  }
  return steps;
}

}  // namespace

bool is_blocked_value(const std::string& name) { return name.ends_with(kBlockedSuffix); }

std::vector<ExecStep> plan_steps(const Graph& g, bool fuse,
                                 const std::function<int(const std::string&)>& id_of,
                                 const PackedWeights* packed) {
  std::vector<Proto> protos;
  std::set<std::string> blocked_values;  // produced in the blocked layout
  auto add = [&](Proto&& p) {
    if (p.out_layout == Layout::blocked) blocked_values.insert(p.out.begin(), p.out.end());
    protos.push_back(std::move(p));
  };
  std::vector<bool> done(g.nodes.size(), false);
  // Fused steps are emitted where their last node stood, so residual inputs are ready.
  std::vector<std::vector<Proto>> emit_at(g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (done[k]) {
      for (auto& p : emit_at[k]) add(std::move(p));
      continue;
    }
    const Node& n = g.nodes[k];
    const OpDef& def = checked_op(n);
    if (fuse && n.op == "Conv" && n.inputs.size() >= 2 && all_const(g, n, 1)) {
      int last = static_cast<int>(k);
      Proto p = fused_conv_step(g, n, k, done, last, packed);
      if (last == static_cast<int>(k)) add(std::move(p));
      else emit_at[last].push_back(std::move(p));
      continue;
    }
    if (fuse && n.op == "QuantizeLinear" && !n.inputs.empty()) {
      if (auto p = fused_qdq_step(g, n, done, blocked_values.count(n.inputs[0]) != 0); p.run) {
        add(std::move(p));
        continue;
      }
    }
    if (fuse && !n.inputs.empty() && blocked_values.count(n.inputs[0])) {
      if (auto p = blocked_op_step(n); p.run) {
        add(std::move(p));
        continue;
      }
    }
    Proto p;
    p.in = n.inputs;
    p.in_layout.assign(n.inputs.size(), Layout::plain);
    p.out = n.outputs;
    const Node* node = &n;
    const OpFn fn = def.run;
    p.run = [node, fn](int64_t opset, std::span<const Tensor* const> in, std::span<Tensor* const> out) {
      fn(*node, opset, in, out);
    };
    add(std::move(p));
  }
  return assign_layouts(g, protos, id_of);
}

}  // namespace dfmpc
