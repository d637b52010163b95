#include "runtime/executor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/fusion.h"
#include "runtime/kernels/conv.h"
#include "runtime/kernels/thread_pool.h"
#include "runtime/ops/op_registry.h"

namespace dfmpc {

// One set of buffers for the computed values, with each step's input / output pointers
// resolved (slots never move once created), so running the steps does no bookkeeping.
struct SlotSet {
  std::vector<Tensor> slots;
  std::vector<std::vector<const Tensor*>> in;  // per step
  std::vector<std::vector<Tensor*>> out;
};

struct Executor::Impl {
  Graph graph;  // owns the constants and the nodes the steps point at
  ExecOptions opt;
  Shape in_shape;
  std::vector<const Tensor*> consts;  // per value id; null when computed
  std::vector<int> slot_of;           // per value id; -1 for constants / omitted
  int slot_count = 0;
  int input_id = -1, output_id = -1;
  std::vector<ExecStep> steps;
  // Buffer sets: [0] for whole-batch runs and the calling thread; one more per pool thread
  // that runs micro-batches (see run()).
  std::vector<std::unique_ptr<SlotSet>> sets;
  // Micro-batching: whether the graph allows it, and the images per micro-batch (0 = not
  // chosen yet: the first run measures the activations of one image).
  bool micro_ok = false;
  int64_t micro = 0;
  Shape out_one;  // the output's shape for one image
  Tensor result;  // the output of a micro-batched run

  std::unique_ptr<SlotSet> make_set() const {
    auto ss = std::make_unique<SlotSet>();
    ss->slots.resize(static_cast<size_t>(slot_count));
    for (const auto& step : steps) {
      auto& ins = ss->in.emplace_back();
      auto& outs = ss->out.emplace_back();
      for (int v : step.in) ins.push_back(v < 0 ? nullptr : consts[v] ? consts[v] : &ss->slots[slot_of[v]]);
      for (int v : step.out) outs.push_back(&ss->slots[slot_of[v]]);
    }
    return ss;
  }

  // After a one-image run on set 0: images per micro-batch from the largest buffer (-1: off).
  void choose_micro_batch();

  const Tensor& run_set(SlotSet& ss, const float* x, int64_t n) {
    Tensor& in = ss.slots[slot_of[input_id]];
    in.dtype = DType::f32;
    in.shape = in_shape;
    in.shape[0] = n;
    in.f.assign(x, x + shape_numel(in.shape));
    for (size_t k = 0; k < steps.size(); ++k) steps[k].run(graph.opset, ss.in[k], ss.out[k]);
    return ss.slots[slot_of[output_id]];
  }
};

namespace {

// Assigns each computed value a buffer slot, reusing a slot once its last reader has run.
// Blocked and plain values draw on separate slots: a blocked tensor's storage only grows, a
// plain one is sized exactly, and sharing would refill the difference on every run.
void assign_slots(Executor::Impl& s, size_t value_count, const std::vector<bool>& blocked) {
  std::vector<int> last_use(value_count, -1);
  for (size_t k = 0; k < s.steps.size(); ++k)
    for (int v : s.steps[k].in)
      if (v >= 0) last_use[v] = static_cast<int>(k);
  last_use[s.output_id] = static_cast<int>(s.steps.size());
  s.slot_of.assign(value_count, -1);
  std::vector<int> free_slots[2];
  int next = 0;
  auto take = [&](int v) {
    auto& fs = free_slots[blocked[v]];
    if (fs.empty()) return next++;
    const int f = fs.back();
    fs.pop_back();
    return f;
  };
  auto release = [&](int v) { free_slots[blocked[v]].push_back(s.slot_of[v]); };
  s.slot_of[s.input_id] = take(s.input_id);
  for (size_t k = 0; k < s.steps.size(); ++k) {
    for (int v : s.steps[k].out) s.slot_of[v] = take(v);
    std::set<int> released;
    for (int v : s.steps[k].in)
      if (v >= 0 && !s.consts[v] && last_use[v] == static_cast<int>(k) && released.insert(v).second)
        release(v);
    for (int v : s.steps[k].out)  // outputs nobody reads
      if (last_use[v] < 0) release(v);
  }
  s.slot_count = next;
}

// Whether every image of a batch is computed independently of the others, so the batch may
// be split into micro-batches: only ops that treat the first axis as the batch (and leave it
// alone), and a dynamic batch size (a model built for one batch size is run as it is).
bool batch_separable(const Graph& g) {
  if (g.inputs.empty() || g.inputs[0].shape.empty() || g.inputs[0].shape[0] > 0) return false;
  auto const_ints = [&](const Node& n, size_t k, std::vector<int64_t>& v) {
    if (k >= n.inputs.size() || n.inputs[k].empty()) return false;
    if (!g.is_const(n.inputs[k])) return false;
    v = g.constant(n.inputs[k]).as_i64();
    return true;
  };
  std::set<std::string> from_input{g.inputs[0].name};
  for (const Node& n : g.nodes) {
    const std::string& op = n.op;
    if (op == "Flatten") {
      if (n.attr_i("axis", 1) < 1) return false;
    } else if (op == "Gemm") {
      if (n.attr_i("transA", 0) != 0 || n.inputs.size() < 2 || !g.is_const(n.inputs[1])) return false;
      if (n.inputs.size() > 2 && !n.inputs[2].empty() && !g.is_const(n.inputs[2])) return false;
    } else if (op == "MatMul") {
      if (n.inputs.size() < 2 || !g.is_const(n.inputs[1])) return false;
    } else if (op == "Concat") {
      if (n.attr_i("axis", 0) < 1) return false;
    } else if (op == "Softmax") {
      if (n.attr_i("axis", g.opset >= 13 ? -1 : 1) < 1) return false;
    } else if (op == "Slice") {
      std::vector<int64_t> axes;
      if (g.opset < 10) axes = n.attr_ints("axes");
      else if (!const_ints(n, 3, axes)) return false;
      if (axes.empty()) return false;  // starts at axis 0
      for (int64_t a : axes)
        if (a < 1) return false;
    } else if (op == "Pad") {
      std::vector<int64_t> pads;
      if (g.opset < 11) pads = n.attr_ints("pads");
      else if (!const_ints(n, 1, pads)) return false;
      if (pads.size() < 2 || pads[0] != 0 || pads[pads.size() / 2] != 0) return false;
    } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      if (n.inputs.size() < 2 || !g.is_const(n.inputs[1])) return false;
      if (g.constant(n.inputs[1]).numel() > 1 && n.attr_i("axis", 1) < 1) return false;  // per image
    } else if (op != "Conv" && op != "BatchNormalization" && op != "Relu" && op != "Clip" && op != "Add" &&
               op != "Sub" && op != "Mul" && op != "Div" && op != "Dropout" && op != "Identity" &&
               op != "MaxPool" && op != "AveragePool" && op != "GlobalAveragePool") {
      return false;
    }
    bool fed = false;
    for (const auto& in : n.inputs) fed = fed || from_input.count(in);
    if (fed) from_input.insert(n.outputs.begin(), n.outputs.end());
  }
  return !g.outputs.empty() && from_input.count(g.outputs[0].name);
}

// Packed weights stay packed only where plan_steps can run them from their codes: as the
// weight input of a Conv, in fast mode. Every other one gets its FP32 values in the graph.
void materialize_unsupported_packed(Graph& g, const PackedWeights& packed, bool reference) {
  for (const auto& [name, pw] : packed) {
    auto it = g.initializers.find(name);
    if (it == g.initializers.end() || it->second.numel() != 0) continue;  // not a placeholder
    bool conv_weight_only = !reference;
    for (int c : g.consumers_of(name)) {
      const Node& n = g.nodes[c];
      for (size_t k = 0; k < n.inputs.size(); ++k)
        if (n.inputs[k] == name && (n.op != "Conv" || k != 1)) conv_weight_only = false;
    }
    if (!conv_weight_only) it->second = Tensor::from_f32(pw.shape, dequantize_packed(pw));
  }
}

// Images per micro-batch: enough that the per-layer GEMMs have rows to work with, few enough
// that a layer's input, output and residual stay in a core's L2 cache. DFMPC_MICROBATCH
// overrides it (0 = whole batches).
int64_t choose_micro(size_t max_activation_bytes) {
  if (const char* e = std::getenv("DFMPC_MICROBATCH")) return std::max<int64_t>(0, std::atol(e));
  const size_t budget = 1100 * 1024;
  return std::clamp<int64_t>(static_cast<int64_t>(budget / std::max<size_t>(1, max_activation_bytes)), 1, 16);
}

}  // namespace

void Executor::Impl::choose_micro_batch() {
  const Tensor& o = sets[0]->slots[slot_of[output_id]];
  if (o.dtype != DType::f32 || o.shape.empty() || o.shape[0] != 1) {  // not [1, ...]: whole batches
    micro = -1;
    return;
  }
  out_one = o.shape;
  size_t biggest = 0;
  for (const Tensor& t : sets[0]->slots) biggest = std::max(biggest, t.f.size() * sizeof(float));
  micro = choose_micro(biggest);
  if (micro == 0) micro = -1;
}

Executor::Executor(const Graph& g, ExecOptions opt) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.graph = g;
  s.opt = opt;
  if (s.graph.inputs.size() != 1 || s.graph.outputs.empty())
    throw ModelError("the model must have one input and at least one output");
  s.in_shape = s.graph.inputs[0].shape;
  for (size_t k = 1; k < s.in_shape.size(); ++k)
    if (s.in_shape[k] <= 0)
      throw ModelError("input '" + s.graph.inputs[0].name + "' has dynamic non-batch dimensions " +
                       shape_str(s.in_shape) + "; only the batch may be dynamic");
  if (s.in_shape.empty()) throw ModelError("input '" + s.graph.inputs[0].name + "' has no shape");
  if (opt.threads > 0) set_num_threads(opt.threads);
  if (opt.packed_weights) materialize_unsupported_packed(s.graph, *opt.packed_weights, opt.reference);

  std::map<std::string, int> ids;
  auto id_of = [&](const std::string& name) {
    if (name.empty()) return -1;
    auto [it, fresh] = ids.emplace(name, static_cast<int>(ids.size()));
    if (fresh) s.consts.push_back(s.graph.is_const(name) ? &s.graph.constant(name) : nullptr);
    return it->second;
  };
  s.input_id = id_of(s.graph.inputs[0].name);
  s.steps = plan_steps(s.graph, !opt.reference, id_of, opt.packed_weights.get());
  s.output_id = id_of(s.graph.outputs[0].name);
  if (s.consts[s.output_id]) throw ModelError("the model output is a constant");
  std::vector<bool> blocked(ids.size(), false);
  for (const auto& [name, id] : ids) blocked[id] = is_blocked_value(name);
  assign_slots(s, ids.size(), blocked);
  s.sets.push_back(s.make_set());
  s.micro_ok = !opt.reference && batch_separable(s.graph) &&
               std::all_of(s.steps.begin(), s.steps.end(), [](const ExecStep& st) { return st.concurrent; });
  if (!opt.reference) {
    // Warm-up on one image of zeros: builds the convolution kernels (weight transforms) now
    // rather than in the first run, and measures the activations for the micro-batch size.
    // A model that fails on it fails again, with the same error, in run().
    try {
      const std::vector<float> zeros(static_cast<size_t>(shape_numel(Shape(s.in_shape.begin() + 1, s.in_shape.end()))));
      s.run_set(*s.sets[0], zeros.data(), 1);
      if (s.micro_ok) s.choose_micro_batch();
    } catch (const std::exception&) {
    }
  }
}

Executor::~Executor() = default;

const Shape& Executor::input_shape() const { return impl_->in_shape; }
size_t Executor::step_count() const { return impl_->steps.size(); }

int Executor::packed_conv_count() const {
  return static_cast<int>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const ExecStep& st) { return st.low_bit; }));
}

int64_t Executor::weight_bytes() const {
  const Impl& s = *impl_;
  int64_t bytes = 0;
  for (const auto& [name, t] : s.graph.initializers)
    bytes += static_cast<int64_t>(t.f.size() * sizeof(float) + t.i.size() * sizeof(int64_t));
  if (s.opt.packed_weights)
    for (const auto& [name, pw] : *s.opt.packed_weights)
      if (s.graph.is_const(name) && s.graph.constant(name).numel() == 0) bytes += pw.bytes();
  for (const auto& step : s.steps)
    if (step.held_bytes) bytes += step.held_bytes();
  return bytes;
}

// Whole batches run step by step, each step spread over the thread pool. When the graph allows
// it, a batch is instead cut into micro-batches that the pool's threads take one at a time,
// each running all steps on its own buffers: no synchronisation between layers, and a layer's
// activations stay in the core's cache. The micro-batch size comes from the activation sizes
// measured by the constructor's warm-up run.
const Tensor& Executor::run(const float* x, int64_t n) {
  Impl& s = *impl_;
  if (!s.micro_ok || n < 2 || s.micro < 0) return s.run_set(*s.sets[0], x, n);
  const int64_t per_in = shape_numel(Shape(s.in_shape.begin() + 1, s.in_shape.end()));
  int64_t first = 0;  // images already computed
  if (s.micro == 0) {  // the warm-up failed: size the micro-batches on the first image
    s.run_set(*s.sets[0], x, 1);
    s.choose_micro_batch();
    if (s.micro < 0) return s.run_set(*s.sets[0], x, n);
    first = 1;
  }
  // The output of n images is n times the output of one (batch_separable).
  const Shape& one = s.out_one;
  const int64_t per_out = shape_numel(one);
  s.result.dtype = DType::f32;
  s.result.shape = one;
  s.result.shape[0] = n;
  s.result.f.resize(static_cast<size_t>(n * per_out));
  if (first) {
    const Tensor& o = s.sets[0]->slots[s.slot_of[s.output_id]];
    std::copy(o.f.begin(), o.f.begin() + per_out, s.result.f.begin());
  }
  const int64_t rest = n - first;
  const int threads = std::max(1, pool::concurrency());
  int64_t chunks = (rest + s.micro - 1) / s.micro;
  if (threads > 1) chunks = std::min(rest, (chunks + threads - 1) / threads * threads);  // even shares
  while (static_cast<int>(s.sets.size()) < pool::threads()) s.sets.push_back(s.make_set());
  const int nsets = static_cast<int>(s.sets.size());
  pool::parallel_for(chunks, [&](int64_t i, int thread) {
    const int64_t b0 = first + i * rest / chunks, b1 = first + (i + 1) * rest / chunks;
    if (b1 == b0) return;
    std::unique_ptr<SlotSet> spare;  // only if the pool grew since (set_num_threads meanwhile)
    if (thread >= nsets) spare = s.make_set();
    const Tensor& o = s.run_set(spare ? *spare : *s.sets[thread], x + b0 * per_in, b1 - b0);
    if (o.dtype != DType::f32 || o.shape.empty() || o.shape[0] != b1 - b0 || o.numel() != (b1 - b0) * per_out)
      throw ModelError("the model output " + shape_str(o.shape) + " does not keep the batch first");
    std::copy(o.f.begin(), o.f.end(), s.result.f.begin() + b0 * per_out);
  });
  return s.result;
}

}  // namespace dfmpc
