#include "runtime/executor.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "runtime/fusion.h"
#include "runtime/kernels/conv.h"
#include "runtime/ops/op_registry.h"

namespace dfmpc {

struct Executor::Impl {
  Graph graph;  // owns the constants and the nodes the steps point at
  ExecOptions opt;
  Shape in_shape;
  std::vector<Tensor> slots;
  std::vector<const Tensor*> consts;  // per value id; null when computed
  std::vector<int> slot_of;           // per value id; -1 for constants / omitted
  int input_id = -1, output_id = -1;
  std::vector<ExecStep> steps;

  const Tensor* value(int id) const {
    if (id < 0) return nullptr;
    return consts[id] ? consts[id] : &slots[slot_of[id]];
  }
};

namespace {

// Assigns each computed value a buffer slot, reusing a slot once its last reader has run.
void assign_slots(Executor::Impl& s, size_t value_count) {
  std::vector<int> last_use(value_count, -1);
  for (size_t k = 0; k < s.steps.size(); ++k)
    for (int v : s.steps[k].in)
      if (v >= 0) last_use[v] = static_cast<int>(k);
  last_use[s.output_id] = static_cast<int>(s.steps.size());
  s.slot_of.assign(value_count, -1);
  std::vector<int> free_slots;
  int next = 0;
  auto take = [&] {
    if (free_slots.empty()) return next++;
    const int f = free_slots.back();
    free_slots.pop_back();
    return f;
  };
  s.slot_of[s.input_id] = take();
  for (size_t k = 0; k < s.steps.size(); ++k) {
    for (int v : s.steps[k].out) s.slot_of[v] = take();
    std::set<int> released;
    for (int v : s.steps[k].in)
      if (v >= 0 && !s.consts[v] && last_use[v] == static_cast<int>(k) && released.insert(v).second)
        free_slots.push_back(s.slot_of[v]);
    for (int v : s.steps[k].out)  // outputs nobody reads
      if (last_use[v] < 0) free_slots.push_back(s.slot_of[v]);
  }
  s.slots.resize(static_cast<size_t>(next));
}

}  // namespace

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

  std::map<std::string, int> ids;
  auto id_of = [&](const std::string& name) {
    if (name.empty()) return -1;
    auto [it, fresh] = ids.emplace(name, static_cast<int>(ids.size()));
    if (fresh) s.consts.push_back(s.graph.is_const(name) ? &s.graph.constant(name) : nullptr);
    return it->second;
  };
  s.input_id = id_of(s.graph.inputs[0].name);
  s.steps = plan_steps(s.graph, !opt.reference, id_of);
  s.output_id = id_of(s.graph.outputs[0].name);
  if (s.consts[s.output_id]) throw ModelError("the model output is a constant");
  assign_slots(s, ids.size());
}

Executor::~Executor() = default;

const Shape& Executor::input_shape() const { return impl_->in_shape; }
size_t Executor::step_count() const { return impl_->steps.size(); }

const Tensor& Executor::run(const float* x, int64_t n) {
  Impl& s = *impl_;
  Tensor& in = s.slots[s.slot_of[s.input_id]];
  Shape shape = s.in_shape;
  shape[0] = n;
  in.dtype = DType::f32;
  in.shape = shape;
  in.f.assign(x, x + shape_numel(shape));
  std::vector<const Tensor*> ins;
  std::vector<Tensor*> outs;
  for (auto& step : s.steps) {
    ins.clear();
    outs.clear();
    for (int v : step.in) ins.push_back(s.value(v));
    for (int v : step.out) outs.push_back(&s.slots[s.slot_of[v]]);
    step.run(s.graph.opset, ins, outs);
  }
  return *s.value(s.output_id);
}

}  // namespace dfmpc
