#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "ir/file_util.h"
#include "onnx/int_tensor.h"
#include "onnx/onnx_io.h"
#include "onnx/validate_graph.h"
#include "passes/fold_constants.h"
#include "runtime/shape_inference.h"

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

// ONNX TensorProto data types by number: libonnx 1.12's enum predates INT4 / UINT4 (opset 21).
enum OnnxType : int {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kBool = 9,
  kDouble = 11, kUint4 = 21, kInt4 = 22
};

// Two 4-bit values a byte, low nibble first, INT4 sign-extended (int_tensor.h). `bytes`
// holds one byte per entry (raw_data, or int32_data of a non-raw tensor).
std::vector<int64_t> unpack_nibbles(const std::string& bytes, size_t n, bool is_signed, const std::string& name) {
  const size_t need = (n + 1) / 2;
  if (bytes.size() != need)
    throw ModelError(std::string(is_signed ? "INT4" : "UINT4") + " tensor '" + name + "' holds " +
                     std::to_string(bytes.size()) + " bytes, its " + std::to_string(n) + " values need " +
                     std::to_string(need));
  const auto v = unpack_int_values(is_signed ? OnnxIntType::int4 : OnnxIntType::uint4, bytes, n);
  return std::vector<int64_t>(v.begin(), v.end());
}

// Integer data of a non-4-bit type held as int64 values (exact), tagged with its type.
template <class T>
std::vector<int64_t> widen(const std::string& raw, size_t n, const std::string& name) {
  const auto w = raw_values<T>(raw, n, name);
  return std::vector<int64_t>(w.begin(), w.end());
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
  auto integer = [&](std::vector<int64_t> v, IntElem t) {
    check(v.size());
    Tensor out = Tensor::from_i64(shape, std::move(v));
    out.itype = t;
    return out;
  };
  const std::vector<int64_t> int32_data(p.int32_data().begin(), p.int32_data().end());
  switch (p.data_type()) {
    case kFloat: {
      std::vector<float> v = raw ? raw_values<float>(p.raw_data(), n, name)
                                 : std::vector<float>(p.float_data().begin(), p.float_data().end());
      check(v.size());
      return Tensor::from_f32(shape, std::move(v));
    }
    case kDouble: {
      std::vector<double> d = raw ? raw_values<double>(p.raw_data(), n, name)
                                  : std::vector<double>(p.double_data().begin(), p.double_data().end());
      check(d.size());
      return Tensor::from_f32(shape, std::vector<float>(d.begin(), d.end()));
    }
    case kInt64: {
      std::vector<int64_t> v = raw ? raw_values<int64_t>(p.raw_data(), n, name)
                                   : std::vector<int64_t>(p.int64_data().begin(), p.int64_data().end());
      check(v.size());
      return Tensor::from_i64(shape, std::move(v));
    }
    case kInt32: return integer(raw ? widen<int32_t>(p.raw_data(), n, name) : int32_data, IntElem::i32);
    case kInt16: return integer(raw ? widen<int16_t>(p.raw_data(), n, name) : int32_data, IntElem::i16);
    case kUint16: return integer(raw ? widen<uint16_t>(p.raw_data(), n, name) : int32_data, IntElem::u16);
    case kInt8: return integer(raw ? widen<int8_t>(p.raw_data(), n, name) : int32_data, IntElem::i8);
    case kUint8: return integer(raw ? widen<uint8_t>(p.raw_data(), n, name) : int32_data, IntElem::u8);
    case kBool: return integer(raw ? widen<uint8_t>(p.raw_data(), n, name) : int32_data, IntElem::boolean);
    case kInt4:
    case kUint4: {
      const bool is_signed = p.data_type() == kInt4;
      return integer(raw ? unpack_nibbles(p.raw_data(), n, is_signed, name)
                         : unpack_nibbles(std::string(int32_data.begin(), int32_data.end()), n, is_signed, name),
                     is_signed ? IntElem::i4 : IntElem::u4);
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

// Newest default-domain opset read. Between 13 and 21 the supported operators changed only
// in types they accept, except Pad (axes input at 18, expanded by expand_pad_axes),
// AveragePool (dilations at 19, rejected as an unsupported attribute), Cast (saturate at
// 19, for float8) and QuantizeLinear / DequantizeLinear (INT4, block_size, output_dtype).
constexpr int64_t kMaxOpset = 21;

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
  if (g.opset < 7 || g.opset > kMaxOpset)
    throw ModelError(what + ": opset " + std::to_string(g.opset) + " is not supported (7-" +
                     std::to_string(kMaxOpset) + ")");
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

// Pad from opset 18 may list pads for some axes only; every consumer of the IR expects pads
// for all axes, so a constant axes input is expanded here.
void expand_pad_axes(Graph& g) {
  if (g.opset < 18) return;
  std::map<std::string, Shape> shapes;
  for (Node& n : g.nodes) {
    if (n.op != "Pad" || n.inputs.size() < 4 || n.inputs[3].empty()) continue;
    const std::string& x = n.inputs[0];
    if (!g.is_const(n.inputs[1]) || !g.is_const(n.inputs[3]))
      throw ModelError(n.where() + ": Pad with non-constant pads or axes is not supported");
    const auto pads = g.constant(n.inputs[1]).as_i64();
    const auto axes = g.constant(n.inputs[3]).as_i64();
    if (shapes.empty()) shapes = infer_shapes(g);  // ops::pad reads axes itself
    const int64_t rank = static_cast<int64_t>(shapes.at(x).size());
    if (pads.size() != 2 * axes.size())
      throw ModelError(n.where() + ": Pad has " + std::to_string(pads.size()) + " pads for " +
                       std::to_string(axes.size()) + " axes");
    std::vector<int64_t> full(2 * rank, 0);
    for (size_t k = 0; k < axes.size(); ++k) {
      if (axes[k] < -rank || axes[k] >= rank) throw ModelError(n.where() + ": Pad axis out of range");
      const int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
      full[a] = pads[k];
      full[a + rank] = pads[k + axes.size()];
    }
    const std::string name = n.name + "_pads_all_axes";
    g.initializers[name] = Tensor::from_i64({2 * rank}, std::move(full));
    n.inputs[1] = name;
    n.inputs.resize(3);
  }
  if (!shapes.empty()) g.prune();  // the per-axis pads and axes nobody reads now
}

Graph graph_from_model(const onnx::ModelProto& m, const std::string& what) {
  Graph g = graph_from_proto(m, what);
  validate_structure(g, what);
  fold_constants(g);
  validate_values(g, what);
  expand_pad_axes(g);
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
