#include "export/packed_model.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "export/packed_shape_check.h"

#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "quant/packing/bit_packing.h"

namespace dfmpc {
namespace {

constexpr char kMagic[9] = "DFMPCPK2";
constexpr char kMagicV1[9] = "DFMPCPK1";
constexpr size_t kHeaderBytes = 12;  // magic + CRC-32
// deflate cannot compress better than 1032:1, so a skeleton claiming more is corrupt; an ONNX
// skeleton is a protobuf, which cannot exceed 2 GiB.
constexpr uint64_t kMaxInflateRatio = 1032;
constexpr uint64_t kMaxSkeletonBytes = (uint64_t{1} << 31) - 1;
constexpr uint8_t kMaxRank = 8;

uint32_t crc_of(const std::string& s, size_t from) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's crc32 takes a uInt length: feed it in pieces below 4 GiB.
  for (size_t pos = from; pos < s.size();) {
    const size_t n = std::min<size_t>(s.size() - pos, size_t{1} << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(s.data() + pos), static_cast<uInt>(n));
    pos += n;
  }
  return static_cast<uint32_t>(crc);
}

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
    if (n > left()) throw ModelError(what + ": packed file is truncated");
  }
  size_t left() const { return s.size() - pos; }
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
  put<uint32_t>(out, 0);  // CRC-32 of everything after it, filled in below
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
  const uint32_t crc = crc_of(out, kHeaderBytes);
  std::memcpy(out.data() + 8, &crc, sizeof crc);
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
  // A version-1 file counts, so that reading it says the version is unsupported.
  return f && (std::memcmp(magic, kMagic, 8) == 0 || std::memcmp(magic, kMagicV1, 8) == 0);
}

namespace {

std::string read_model_file(const std::string& path) {
  try {
    return read_file(path);
  } catch (const std::exception& e) {
    throw ModelError(e.what());
  }
}

// Every field is bounded by the bytes left before anything is allocated from it.
PackedWeight read_tensor(Reader& r, const std::string& name) {
  PackedWeight t;
  const std::string where = r.what + ": tensor '" + name + "'";
  t.bits = r.get<uint8_t>();
  if (t.bits < 1 || t.bits > 8) throw ModelError(where + " has invalid bit width " + std::to_string(t.bits));
  const uint8_t rank = r.get<uint8_t>();
  if (rank < 1 || rank > kMaxRank) throw ModelError(where + " has invalid rank " + std::to_string(rank));
  for (uint8_t d = 0; d < rank; ++d) t.shape.push_back(r.get<uint32_t>());
  int64_t numel = 0;
  try {
    numel = shape_numel(t.shape);
  } catch (const ModelError& e) {
    throw ModelError(where + ": " + e.what());
  }
  if (numel == 0) throw ModelError(where + " has an empty shape " + shape_str(t.shape));
  const uint32_t groups = r.get<uint32_t>();
  if (groups != 1 && static_cast<int64_t>(groups) != t.shape[0])
    throw ModelError(where + " has " + std::to_string(groups) + " groups; shape " + shape_str(t.shape) +
                     " allows 1 or " + std::to_string(t.shape[0]));
  if (uint64_t{groups} * 8 > r.left()) throw ModelError(r.what + ": packed file is truncated");
  t.group_size = numel / groups;
  for (uint32_t g = 0; g < groups; ++g) t.scale.push_back(r.get<float>());
  for (uint32_t g = 0; g < groups; ++g) t.zero.push_back(r.get<float>());
  for (uint32_t g = 0; g < groups; ++g)
    if (!std::isfinite(t.scale[g]) || !std::isfinite(t.zero[g]))
      throw ModelError(where + " has a non-finite scale or zero in group " + std::to_string(g));
  const std::string codes = r.bytes(packed_bytes(static_cast<size_t>(numel), t.bits));
  t.codes.assign(codes.begin(), codes.end());
  return t;
}

LowBitModel read_codes(const std::string& data, const std::string& what) {
  Reader r{data, 0, what};
  const std::string magic = r.bytes(8);
  if (magic == std::string(kMagicV1, 8))
    throw ModelError(what + ": packed format version 1 (DFMPCPK1) is no longer supported; re-quantize the model");
  if (magic != std::string(kMagic, 8)) throw ModelError(what + ": not a dfmpc packed model");
  const uint32_t crc = r.get<uint32_t>();
  if (crc != crc_of(data, kHeaderBytes))
    throw ModelError(what + ": packed file is damaged (CRC-32 mismatch)");
  const uint32_t zlen = r.get<uint32_t>(), raw = r.get<uint32_t>();
  if (raw == 0 || raw > kMaxSkeletonBytes || raw > uint64_t{zlen} * kMaxInflateRatio)
    throw ModelError(what + ": packed model skeleton size " + std::to_string(raw) + " is impossible for " +
                     std::to_string(zlen) + " compressed bytes");
  r.need(zlen);
  std::string onnx(raw, '\0');
  uLongf out_len = raw;
  if (uncompress(reinterpret_cast<Bytef*>(onnx.data()), &out_len, reinterpret_cast<const Bytef*>(data.data() + r.pos), zlen) != Z_OK ||
      out_len != raw)
    throw ModelError(what + ": packed model skeleton is corrupt");
  r.pos += zlen;
  LowBitModel m;
  m.graph = import_onnx_bytes(onnx, what);
  auto weights = std::make_shared<PackedWeights>();
  const uint32_t count = r.get<uint32_t>();
  if (count > r.left() / 8) throw ModelError(what + ": packed file claims " + std::to_string(count) + " tensors, more than it can hold");
  for (uint32_t k = 0; k < count; ++k) {
    const std::string name = r.bytes(r.get<uint16_t>());
    auto slot = m.graph.initializers.find(name);
    if (slot == m.graph.initializers.end() || !slot->second.is_f32() || slot->second.shape != Shape{0})
      throw ModelError(what + ": tensor '" + name + "' has no placeholder in the graph");
    if (weights->count(name)) throw ModelError(what + ": tensor '" + name + "' is stored twice");
    (*weights)[name] = read_tensor(r, name);
  }
  if (r.pos != data.size()) throw ModelError(what + ": trailing bytes after the last tensor");
  for (const auto& [name, t] : m.graph.initializers)
    if (t.is_f32() && t.shape == Shape{0} && !weights->count(name))
      throw ModelError(what + ": quantized tensor '" + name + "' is missing");
  check_packed_shapes(m.graph, *weights, what);
  m.weights = std::move(weights);
  return m;
}

PackedModel dequantized(LowBitModel low) {
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

}  // namespace

LowBitModel read_packed_model_codes(const std::string& path) {
  return read_codes(read_model_file(path), "model '" + path + "'");
}

LowBitModel read_packed_model_codes_bytes(const std::string& bytes, const std::string& what) {
  return read_codes(bytes, what);
}

PackedModel read_packed_model(const std::string& path) { return dequantized(read_packed_model_codes(path)); }

PackedModel read_packed_model_bytes(const std::string& bytes, const std::string& what) {
  return dequantized(read_codes(bytes, what));
}

}  // namespace dfmpc
