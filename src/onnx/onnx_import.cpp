#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <set>

#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "onnx/validate_graph.h"
#include "passes/fold_constants.h"

namespace dfmpc {
namespace {

template <class T>
std::vector<T> raw_values(const std::string& raw, size_t n, const std::string& name) {
  if (raw.size() != n * sizeof(T))
    throw ModelError("initializer '" + name + "' holds " + std::to_string(raw.size()) +
                     " bytes, expected " + std::to_string(n * sizeof(T)));
  std::vector<T> v(n);
  if (n) std::memcpy(v.data(), raw.data(), raw.size());
  return v;
}

Tensor tensor_from_proto(const onnx::TensorProto& p) {
  const std::string name = p.name().empty() ? "<unnamed>" : p.name();
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    throw ModelError("tensor '" + name + "' uses external data, which is not supported");
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) throw ModelError("tensor '" + name + "' has a negative dimension");
  size_t n = 0;
  try {
    n = static_cast<size_t>(shape_numel(shape));
  } catch (const ModelError& e) {
    throw ModelError("tensor '" + name + "': " + e.what());
  }
  const bool raw = p.has_raw_data();
  auto check = [&](size_t got) {
    if (got != n)
      throw ModelError("tensor '" + name + "' holds " + std::to_string(got) +
                       " values, its shape " + shape_str(shape) + " needs " + std::to_string(n));
  };
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: {
      std::vector<float> v = raw ? raw_values<float>(p.raw_data(), n, name)
                                 : std::vector<float>(p.float_data().begin(), p.float_data().end());
      check(v.size());
      return Tensor::from_f32(shape, std::move(v));
    }
    case onnx::TensorProto::DOUBLE: {
      std::vector<double> d = raw ? raw_values<double>(p.raw_data(), n, name)
                                  : std::vector<double>(p.double_data().begin(), p.double_data().end());
      check(d.size());
      return Tensor::from_f32(shape, std::vector<float>(d.begin(), d.end()));
    }
    case onnx::TensorProto::INT64: {
      std::vector<int64_t> v = raw ? raw_values<int64_t>(p.raw_data(), n, name)
                                   : std::vector<int64_t>(p.int64_data().begin(), p.int64_data().end());
      check(v.size());
      return Tensor::from_i64(shape, std::move(v));
    }
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL: {
      std::vector<int64_t> v;
      if (raw) {
        if (p.data_type() == onnx::TensorProto::INT32) {
          auto w = raw_values<int32_t>(p.raw_data(), n, name);
          v.assign(w.begin(), w.end());
        } else if (p.data_type() == onnx::TensorProto::INT8) {
          auto w = raw_values<int8_t>(p.raw_data(), n, name);
          v.assign(w.begin(), w.end());
        } else {
          auto w = raw_values<uint8_t>(p.raw_data(), n, name);
          v.assign(w.begin(), w.end());
        }
      } else {
        v.assign(p.int32_data().begin(), p.int32_data().end());
      }
      check(v.size());
      return Tensor::from_i64(shape, std::move(v));
    }
    default:
      throw ModelError("tensor '" + name + "' has data type " + std::to_string(p.data_type()) +
                       ", which is not supported");
  }
}

AttrValue attr_from_proto(const onnx::AttributeProto& a, const std::string& where) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return a.i();
    case onnx::AttributeProto::FLOAT: return a.f();
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS: return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::TENSOR: return tensor_from_proto(a.t());
    default:
      throw ModelError("attribute '" + a.name() + "' of " + where + " has an unsupported type");
  }
}

Shape shape_from_value_info(const onnx::ValueInfoProto& vi) {
  Shape s;
  if (!vi.type().has_tensor_type() || !vi.type().tensor_type().has_shape()) return s;
  for (const auto& d : vi.type().tensor_type().shape().dim())
    s.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return s;
}

Graph graph_from_proto(const onnx::ModelProto& m, const std::string& what) {
  Graph g;
  g.producer = m.producer_name();
  bool have_opset = false;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      g.opset = o.version();
      have_opset = true;
    }
  if (!have_opset) throw ModelError(what + ": no default-domain opset import");
  if (g.opset < 7 || g.opset > 18)
    throw ModelError(what + ": opset " + std::to_string(g.opset) + " is not supported (7-18)");
  if (!m.has_graph() || m.graph().node_size() == 0)
    throw ModelError(what + ": the model has no graph nodes");

  const auto& gp = m.graph();
  for (const auto& init : gp.initializer()) g.initializers[init.name()] = tensor_from_proto(init);
  for (const auto& in : gp.input())
    if (!g.initializers.count(in.name())) g.inputs.push_back({in.name(), shape_from_value_info(in)});
  for (const auto& out : gp.output()) g.outputs.push_back({out.name(), shape_from_value_info(out)});
  if (g.inputs.size() != 1)
    throw ModelError(what + ": expected exactly one graph input, found " +
                     std::to_string(g.inputs.size()));

  std::set<std::string> known;
  for (const auto& [k, v] : g.initializers) known.insert(k);
  for (const auto& in : g.inputs) known.insert(in.name);
  int unnamed = 0;
  for (const auto& np : gp.node()) {
    Node n;
    n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(unnamed++) : np.name();
    n.op = np.op_type();
    if (!np.domain().empty() && np.domain() != "ai.onnx")
      throw ModelError("unsupported operator domain '" + np.domain() + "' in " + n.where());
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) n.attrs[a.name()] = attr_from_proto(a, n.where());
    for (const auto& in : n.inputs)
      if (!in.empty() && !known.count(in))
        throw ModelError("input '" + in + "' of " + n.where() +
                         " is not produced earlier in the graph (graph not in topological order or truncated)");
    for (const auto& o : n.outputs) known.insert(o);
    g.nodes.push_back(std::move(n));
  }
  for (const auto& o : g.outputs)
    if (!known.count(o.name)) throw ModelError(what + ": graph output '" + o.name + "' is never produced");
  return g;
}

void parse_model(const std::string& bytes, const std::string& what, onnx::ModelProto& m) {
  if (bytes.empty()) throw ModelError(what + ": file is empty");
  if (!m.ParseFromString(bytes))
    throw ModelError(what + ": not a valid ONNX file (protobuf parse failed; truncated or corrupt?)");
}

Graph graph_from_model(const onnx::ModelProto& m, const std::string& what) {
  Graph g = graph_from_proto(m, what);
  validate_structure(g, what);
  fold_constants(g);
  validate_values(g, what);
  return g;
}

}  // namespace

Graph import_onnx_bytes(const std::string& bytes, const std::string& what) {
  onnx::ModelProto m;
  parse_model(bytes, what, m);
  return graph_from_model(m, what);
}

Graph import_onnx(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ModelError("cannot open model '" + path + "': " + std::strerror(errno));
  const std::string what = "model '" + path + "'";
  onnx::ModelProto m;
  {
    std::string bytes;
    if (!read_whole(path, f, bytes)) throw ModelError("reading " + what + " failed: " + std::strerror(errno));
    parse_model(bytes, what, m);
  }  // the file's bytes are freed before the graph copies the tensors out of m
  return graph_from_model(m, what);
}

}  // namespace dfmpc
