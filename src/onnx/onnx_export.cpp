#include <onnx/onnx_pb.h>

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

void model_to_proto(const Graph& g, onnx::ModelProto& m) {
  m.set_ir_version(g.opset >= 15 ? 8 : 7);
  m.set_producer_name("dfmpc");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(g.opset);
  auto* gp = m.mutable_graph();
  gp->set_name("dfmpc");
  for (const auto& in : g.inputs) value_info(in, gp->add_input());
  for (const auto& out : g.outputs) value_info(out, gp->add_output());
  for (const auto& [name, t] : g.initializers) tensor_to_proto(t, name, gp->add_initializer());
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

std::string export_onnx_bytes(const Graph& g) {
  onnx::ModelProto m;
  model_to_proto(g, m);
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw ModelError("serialising the ONNX model failed");
  return bytes;
}

void export_onnx(const Graph& g, const std::string& path) {
  onnx::ModelProto m;
  model_to_proto(g, m);
  // Streamed into the file: no second in-memory copy of the (possibly 100 MB) model.
  write_file_atomic(path, [&](std::ostream& f) {
    if (!m.SerializeToOstream(&f)) throw ModelError("serialising the ONNX model to '" + path + "' failed");
  });
}

}  // namespace dfmpc
