#include <onnx/onnx_pb.h>

#include <algorithm>
#include <set>

#include "ir/file_util.h"
#include "onnx/onnx_io.h"

namespace dfmpc {
namespace {

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  for (int64_t d : t.shape) p->add_dims(d);
  if (t.is_f32()) {
    p->set_data_type(onnx::TensorProto::FLOAT);
    p->set_raw_data(t.f.data(), t.f.size() * sizeof(float));
  } else {
    p->set_data_type(onnx::TensorProto::INT64);
    p->set_raw_data(t.i.data(), t.i.size() * sizeof(int64_t));
  }
}

void int_tensor_to_proto(OnnxIntType type, const Shape& shape, std::span<const int32_t> values, const std::string& name,
                        onnx::TensorProto* p) {
  p->set_name(name);
  for (int64_t d : shape) p->add_dims(d);
  p->set_data_type(static_cast<int32_t>(type));  // a plain int: libonnx 1.12 has no INT4 / UINT4 enum values
  p->set_raw_data(pack_int_values(type, values));
}

void attr_to_proto(const std::string& name, const AttrValue& v, onnx::AttributeProto* a) {
  a->set_name(name);
  if (auto* i = std::get_if<int64_t>(&v)) {
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(*i);
  } else if (auto* f = std::get_if<float>(&v)) {
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(*f);
  } else if (auto* s = std::get_if<std::string>(&v)) {
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(*s);
  } else if (auto* is = std::get_if<std::vector<int64_t>>(&v)) {
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : *is) a->add_ints(x);
  } else if (auto* fs = std::get_if<std::vector<float>>(&v)) {
    a->set_type(onnx::AttributeProto::FLOATS);
    for (float x : *fs) a->add_floats(x);
  } else {
    a->set_type(onnx::AttributeProto::TENSOR);
    tensor_to_proto(std::get<Tensor>(v), "", a->mutable_t());
  }
}

void value_info(const ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (int64_t d : v.shape) {
    auto* dim = shape->add_dim();
    if (d < 0) dim->set_dim_param("N");
    else dim->set_dim_value(d);
  }
}

// Names `<weight>_quantized` / `_scale` / `_zero_point`, suffixed when the graph already uses one.
class NameSource {
 public:
  explicit NameSource(const Graph& g) {
    for (const auto& [k, v] : g.initializers) used_.insert(k);
    for (const auto& in : g.inputs) used_.insert(in.name);
    for (const auto& n : g.nodes) {
      used_.insert(n.name);
      for (const auto& o : n.outputs) used_.insert(o);
    }
  }
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

 private:
  std::set<std::string> used_;
};

// The integer initializer, its scale and (unless all 0) zero point, and the DequantizeLinear node whose
// output takes the weight's name, so every reader of the weight is unchanged.
void qdq_weight_to_proto(const std::string& name, const QdqWeight& w, NameSource& names, onnx::GraphProto* gp) {
  try {
    check_qdq_weight(w, name);
  } catch (const std::invalid_argument& e) {
    throw ModelError(e.what());
  }
  const std::string x = names.fresh(name + "_quantized"), scale = names.fresh(name + "_scale");
  int_tensor_to_proto(w.type, w.shape, w.values, x, gp->add_initializer());
  const Shape param_shape = w.per_tensor() ? Shape{} : Shape{static_cast<int64_t>(w.scale.size())};
  auto* s = gp->add_initializer();
  s->set_name(scale);
  for (int64_t d : param_shape) s->add_dims(d);
  s->set_data_type(onnx::TensorProto::FLOAT);
  s->set_raw_data(w.scale.data(), w.scale.size() * sizeof(float));
  auto* np = gp->add_node();
  np->set_name(names.fresh(name + "_DequantizeLinear"));
  np->set_op_type("DequantizeLinear");
  np->add_input(x);
  np->add_input(scale);
  // A symmetric grid needs no zero point (omitted means 0 in the integer type of x).
  if (std::any_of(w.zero_point.begin(), w.zero_point.end(), [](int32_t z) { return z != 0; })) {
    const std::string zero = names.fresh(name + "_zero_point");
    int_tensor_to_proto(w.type, param_shape, w.zero_point, zero, gp->add_initializer());
    np->add_input(zero);
  }
  np->add_output(name);
  if (!w.per_tensor()) attr_to_proto("axis", w.axis, np->add_attribute());
}

void model_to_proto(const Graph& g, const std::map<std::string, QdqWeight>& int_weights, onnx::ModelProto& m) {
  for (const auto& [name, w] : int_weights) {
    if (!g.is_const(name)) throw ModelError("integer weight '" + name + "' is not an initializer of the graph");
    if (onnx_int_bits(w.type) != 8 && g.opset < 21)
      throw ModelError("weight '" + name + "': " + onnx_int_name(w.type) + " needs opset 21, the graph is at opset " +
                       std::to_string(g.opset));
  }
  // The IR version each opset came with (ONNX 1.10: 15 / IR 8, 1.14: 19 / IR 9, 1.16: 21 / IR 10,
  // the first to allow INT4 / UINT4); opsets 7-14 are written as IR 7 as before.
  m.set_ir_version(g.opset >= 21 ? 10 : g.opset >= 19 ? 9 : g.opset >= 15 ? 8 : 7);
  m.set_producer_name("dfmpc");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(g.opset);
  auto* gp = m.mutable_graph();
  gp->set_name("dfmpc");
  for (const auto& in : g.inputs) value_info(in, gp->add_input());
  for (const auto& out : g.outputs) value_info(out, gp->add_output());
  NameSource names(g);
  for (const auto& [name, t] : g.initializers)
    if (!int_weights.count(name)) tensor_to_proto(t, name, gp->add_initializer());
  // Dequantization first: the nodes stay in topological order.
  for (const auto& [name, w] : int_weights) qdq_weight_to_proto(name, w, names, gp);
  for (const auto& n : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& [k, v] : n.attrs) attr_to_proto(k, v, np->add_attribute());
  }
}

}  // namespace

std::string export_onnx_bytes(const Graph& g, const std::map<std::string, QdqWeight>& int_weights) {
  onnx::ModelProto m;
  model_to_proto(g, int_weights, m);
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw ModelError("serialising the ONNX model failed");
  return bytes;
}

void export_onnx(const Graph& g, const std::string& path, const std::map<std::string, QdqWeight>& int_weights) {
  onnx::ModelProto m;
  model_to_proto(g, int_weights, m);
  // Streamed into the file: no second in-memory copy of the (possibly 100 MB) model.
  write_file_atomic(path, [&](std::ostream& f) {
    if (!m.SerializeToOstream(&f)) throw ModelError("serialising the ONNX model to '" + path + "' failed");
  });
}

}  // namespace dfmpc
