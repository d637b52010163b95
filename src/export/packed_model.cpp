#include "export/packed_model.h"

#include <zlib.h>

#include <cstring>
#include <fstream>

#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "quant/packing/bit_packing.h"

namespace dfmpc {
namespace {

constexpr char kMagic[9] = "DFMPCPK1";

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

struct Reader {
  const std::string& s;
  size_t pos = 0;
  std::string what;
  template <class T>
  T get() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, s.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string bytes(size_t n) {
    need(n);
    std::string out = s.substr(pos, n);
    pos += n;
    return out;
  }
  void need(size_t n) const {
    if (pos + n > s.size()) throw ModelError(what + ": packed file is truncated");
  }
};

// The graph with quantized weights removed and value names shortened (names cost more than
// a small model's weights); the graph input and output keep their names.
Graph skeleton(const QuantizedModel& m, std::map<std::string, std::string>& rename) {
  Graph g = m.graph;
  auto short_name = [&](const std::string& v) -> std::string {
    if (v.empty()) return v;
    for (const auto& io : g.inputs) if (io.name == v) return v;
    for (const auto& io : g.outputs) if (io.name == v) return v;
    auto [it, fresh] = rename.emplace(v, std::to_string(rename.size()));
    return it->second;
  };
  std::map<std::string, Tensor> inits;
  // Quantized weights stay as empty placeholders so the skeleton is a valid graph.
  for (auto& [name, t] : g.initializers)
    inits[short_name(name)] = m.weights.count(name) ? Tensor::from_f32({0}, {}) : std::move(t);
  g.initializers = std::move(inits);
  for (auto& n : g.nodes) {
    n.name.clear();
    for (auto& v : n.inputs) v = short_name(v);
    for (auto& v : n.outputs) v = short_name(v);
  }
  return g;
}

}  // namespace

namespace {

std::string packed_model_bytes(const QuantizedModel& m) {
  std::map<std::string, std::string> rename;
  const std::string onnx = export_onnx_bytes(skeleton(m, rename));
  uLongf zlen = compressBound(onnx.size());
  std::string z(zlen, '\0');
  if (compress2(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(onnx.data()), onnx.size(), 9) != Z_OK)
    throw ModelError("compressing the packed model skeleton failed");
  z.resize(zlen);
  std::string out(kMagic, 8);
  put<uint32_t>(out, static_cast<uint32_t>(z.size()));
  put<uint32_t>(out, static_cast<uint32_t>(onnx.size()));
  out += z;
  put<uint32_t>(out, static_cast<uint32_t>(m.weights.size()));
  for (const auto& [name, t] : m.weights) {
    const std::string& n = rename.count(name) ? rename.at(name) : name;
    put<uint16_t>(out, static_cast<uint16_t>(n.size()));
    out += n;
    put<uint8_t>(out, static_cast<uint8_t>(t.bits));
    put<uint8_t>(out, static_cast<uint8_t>(t.shape.size()));
    for (int64_t d : t.shape) put<uint32_t>(out, static_cast<uint32_t>(d));
    put<uint32_t>(out, static_cast<uint32_t>(t.n_groups()));
    for (float s : t.scale) put<float>(out, s);
    for (float zz : t.zero) put<float>(out, zz);
    std::string codes(static_cast<size_t>(packed_bytes(t.numel(), t.bits)), '\0');
    pack_codes(t.q, t.bits, {reinterpret_cast<uint8_t*>(codes.data()), codes.size()});
    out += codes;
  }
  return out;
}

}  // namespace

int64_t write_packed_model(const QuantizedModel& m, const std::string& path) {
  const std::string bytes = packed_model_bytes(m);
  write_file_atomic(path, bytes);
  return static_cast<int64_t>(bytes.size());
}

int64_t packed_model_size(const QuantizedModel& m) { return static_cast<int64_t>(packed_model_bytes(m).size()); }

bool is_packed_model_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f && std::memcmp(magic, kMagic, 8) == 0;
}

LowBitModel read_packed_model_codes(const std::string& path) {
  std::string data;
  try {
    data = read_file(path);
  } catch (const std::exception& e) {
    throw ModelError(e.what());
  }
  Reader r{data, 0, "model '" + path + "'"};
  if (r.bytes(8) != std::string(kMagic, 8)) throw ModelError(r.what + ": not a dfmpc packed model");
  const uint32_t zlen = r.get<uint32_t>(), raw = r.get<uint32_t>();
  const std::string z = r.bytes(zlen);
  std::string onnx(raw, '\0');
  uLongf out_len = raw;
  if (uncompress(reinterpret_cast<Bytef*>(onnx.data()), &out_len, reinterpret_cast<const Bytef*>(z.data()), zlen) != Z_OK ||
      out_len != raw)
    throw ModelError(r.what + ": packed model skeleton is corrupt");
  LowBitModel m;
  m.graph = import_onnx_bytes(onnx, r.what);
  auto weights = std::make_shared<PackedWeights>();
  const uint32_t count = r.get<uint32_t>();
  for (uint32_t k = 0; k < count; ++k) {
    const std::string name = r.bytes(r.get<uint16_t>());
    PackedWeight t;
    t.bits = r.get<uint8_t>();
    if (t.bits < 1 || t.bits > 8) throw ModelError(r.what + ": tensor '" + name + "' has invalid bit width");
    const uint8_t rank = r.get<uint8_t>();
    for (uint8_t d = 0; d < rank; ++d) t.shape.push_back(r.get<uint32_t>());
    const uint32_t groups = r.get<uint32_t>();
    const int64_t numel = shape_numel(t.shape);
    if (groups == 0 || numel % groups) throw ModelError(r.what + ": tensor '" + name + "' has invalid groups");
    t.group_size = numel / groups;
    for (uint32_t g = 0; g < groups; ++g) t.scale.push_back(r.get<float>());
    for (uint32_t g = 0; g < groups; ++g) t.zero.push_back(r.get<float>());
    const std::string codes = r.bytes(static_cast<size_t>(packed_bytes(numel, t.bits)));
    t.codes.assign(codes.begin(), codes.end());
    auto slot = m.graph.initializers.find(name);
    if (slot == m.graph.initializers.end() || slot->second.numel() != 0)
      throw ModelError(r.what + ": tensor '" + name + "' has no placeholder in the graph");
    (*weights)[name] = std::move(t);
  }
  if (r.pos != data.size()) throw ModelError(r.what + ": trailing bytes after the last tensor");
  for (const auto& [name, t] : m.graph.initializers)
    if (t.is_f32() && t.numel() == 0 && t.shape == Shape{0} && !weights->count(name))
      throw ModelError(r.what + ": quantized tensor '" + name + "' is missing");
  m.weights = std::move(weights);
  return m;
}

PackedModel read_packed_model(const std::string& path) {
  LowBitModel low = read_packed_model_codes(path);
  PackedModel pm;
  pm.graph = std::move(low.graph);
  for (const auto& [name, pw] : *low.weights) {
    QuantizedTensor t;
    t.bits = pw.bits;
    t.shape = pw.shape;
    t.group_size = pw.group_size;
    t.scale = pw.scale;
    t.zero = pw.zero;
    t.q.resize(static_cast<size_t>(pw.numel()));
    unpack_codes(pw.codes, t.bits, t.q);
    pm.graph.initializers.at(name) = Tensor::from_f32(t.shape, dequantize(t));
    pm.weights[name] = std::move(t);
  }
  return pm;
}

}  // namespace dfmpc
