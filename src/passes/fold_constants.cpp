#include "passes/fold_constants.h"

#include "runtime/ops/op_registry.h"

namespace dfmpc {
namespace {

Tensor constant_value(const Node& n) {
  if (n.attrs.size() != 1) throw ModelError(n.where() + " must have exactly one value attribute");
  const auto& [key, v] = *n.attrs.begin();
  if (key == "value") return std::get<Tensor>(v);
  if (key == "value_float") return Tensor::from_f32({}, {std::get<float>(v)});
  if (key == "value_floats") {
    const auto& f = std::get<std::vector<float>>(v);
    return Tensor::from_f32({static_cast<int64_t>(f.size())}, f);
  }
  if (key == "value_int") return Tensor::from_i64({}, {std::get<int64_t>(v)});
  if (key == "value_ints") {
    const auto& i = std::get<std::vector<int64_t>>(v);
    return Tensor::from_i64({static_cast<int64_t>(i.size())}, i);
  }
  throw ModelError("unsupported attribute '" + key + "' in " + n.where());
}

}  // namespace

void fold_constants(Graph& g) {
  std::vector<Node> kept;
  for (auto& n : g.nodes) {
    if (n.op == "Constant") {
      g.initializers[n.outputs.at(0)] = constant_value(n);
      continue;
    }
    const OpDef& def = checked_op(n);
    bool all_const = !n.inputs.empty();
    for (const auto& in : n.inputs) all_const = all_const && (in.empty() || g.is_const(in));
    if (!all_const) {
      kept.push_back(std::move(n));
      continue;
    }
    std::vector<const Tensor*> ins;
    for (const auto& in : n.inputs) ins.push_back(in.empty() ? nullptr : &g.constant(in));
    std::vector<Tensor> outs(n.outputs.size());
    std::vector<Tensor*> out_ptrs;
    for (auto& t : outs) out_ptrs.push_back(&t);
    def.run(n, g.opset, ins, out_ptrs);
    for (size_t k = 0; k < outs.size(); ++k) g.initializers[n.outputs[k]] = std::move(outs[k]);
  }
  g.nodes = std::move(kept);
  g.prune();
}

}  // namespace dfmpc
