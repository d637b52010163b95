#include "export/qdq_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "onnx/onnx_io.h"
#include "onnx/opset_upgrade.h"

namespace dfmpc {
namespace {

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// One group's values relative to its zero point, and the scale that goes with them.
struct CenteredGroup {
  std::vector<int32_t> c;
  float scale = 0;
  int32_t lo = 0, hi = 0;    // min / max of c
  int32_t natural_zero = -1;  // the quantizer's integer zero (x = q), or -1
};

CenteredGroup center_group(const QuantizedTensor& t, int64_t g, const std::string& name) {
  const float s = t.scale[g], z = t.zero[g];
  const int64_t begin = g * t.group_size, end = begin + t.group_size;
  CenteredGroup out;
  out.c.reserve(static_cast<size_t>(t.group_size));
  const auto fail = [&](const std::string& why) {
    throw ModelError("weight '" + name + "', group " + std::to_string(g) + ": " + why);
  };
  if (!std::isfinite(s) || !std::isfinite(z)) fail("non-finite scale or zero");
  int factor = 1;
  if (s == 0.0f) {
    factor = 0;
  } else if (z != std::floor(z)) {
    if (2.0f * z != std::floor(2.0f * z)) fail("zero " + std::to_string(z) + " is neither an integer nor a half-integer");
    factor = 2;
  }
  out.scale = factor == 2 ? s / 2.0f : s;
  if (factor == 1 && z >= 0 && z <= static_cast<float>(t.max_code())) out.natural_zero = static_cast<int32_t>(z);
  for (int64_t i = begin; i < end; ++i) {
    const float d = static_cast<float>(t.q[i]) - z;  // exact: small integers and halves
    const int32_t c = factor == 0 ? (d > 0) - (d < 0) : static_cast<int32_t>(factor * d);
    if (!same_bits(static_cast<float>(c) * out.scale, dequantize_code(s, t.q[i], z)))
      fail("its integer form does not reproduce the dequantized value bit for bit (subnormal scale " + std::to_string(s) + "?)");
    out.c.push_back(c);
  }
  const auto [lo, hi] = std::minmax_element(out.c.begin(), out.c.end());
  out.lo = out.c.empty() ? 0 : *lo;
  out.hi = out.c.empty() ? 0 : *hi;
  return out;
}

// The zero point of a group in `type` (x = c + zp within range), or false.
bool pick_zero_point(OnnxIntType type, const CenteredGroup& grp, bool allow_nonzero, int32_t& zp) {
  const int32_t lo = std::max(onnx_int_min(type), onnx_int_min(type) - grp.lo);
  const int32_t hi = std::min(onnx_int_max(type), onnx_int_max(type) - grp.hi);
  if (lo > hi) return false;
  if (!allow_nonzero) {
    zp = 0;
    return lo <= 0 && 0 <= hi;
  }
  zp = grp.natural_zero >= lo && grp.natural_zero <= hi ? grp.natural_zero : lo;
  return true;
}

bool try_container(OnnxIntType type, bool allow_nonzero, const std::vector<CenteredGroup>& groups, std::vector<int32_t>& zps) {
  zps.assign(groups.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g)
    if (!pick_zero_point(type, groups[g], allow_nonzero, zps[g])) return false;
  return true;
}

}  // namespace

QdqWeight encode_qdq_weight(const QuantizedTensor& t, const std::string& name) {
  const int64_t groups = t.n_groups();
  const int64_t channels = t.shape.empty() ? 1 : t.shape[0];
  if (groups < 1 || static_cast<int64_t>(t.zero.size()) != groups || t.group_size * groups != t.numel() ||
      (groups != 1 && groups != channels))
    throw ModelError("weight '" + name + "': " + std::to_string(groups) +
                     " scale groups are neither one per tensor nor one per slice of axis 0 of " + shape_str(t.shape));
  std::vector<CenteredGroup> centered;
  centered.reserve(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) centered.push_back(center_group(t, g, name));

  struct Candidate {
    OnnxIntType type;
    bool nonzero_zp;
  };
  static constexpr Candidate kOrder[] = {
      {OnnxIntType::int4, false},  {OnnxIntType::uint4, true},  {OnnxIntType::int4, true},  {OnnxIntType::int8, false},
      {OnnxIntType::uint8, true},  {OnnxIntType::int8, true},   {OnnxIntType::int16, false}, {OnnxIntType::uint16, true},
      {OnnxIntType::int16, true}};
  std::vector<int32_t> zps;
  for (const Candidate& cand : kOrder) {
    if (!try_container(cand.type, cand.nonzero_zp, centered, zps)) continue;
    QdqWeight w;
    w.type = cand.type;
    w.shape = t.shape;
    w.axis = 0;
    w.values.reserve(t.q.size());
    for (int64_t g = 0; g < groups; ++g) {
      w.scale.push_back(centered[g].scale);
      w.zero_point.push_back(zps[g]);
      for (int32_t c : centered[g].c) w.values.push_back(c + zps[g]);
    }
    return w;
  }
  throw ModelError("weight '" + name + "': its codes fit no 4-, 8- or 16-bit ONNX integer type");
}

QdqModel make_qdq_model(const QuantizedModel& m) {
  QdqModel out;
  out.graph = m.graph;
  upgrade_opset(out.graph, kQdqOpset);
  for (const auto& [name, qt] : m.weights) {
    QdqLayerWidth layer{name, qt.bits, "FLOAT", ""};
    try {
      QdqWeight w = encode_qdq_weight(qt, name);
      const std::vector<float> back = dequantize_qdq_weight(w);
      const std::vector<float>& today = m.graph.constant(name).f;
      if (back.size() != today.size() || std::memcmp(back.data(), today.data(), back.size() * sizeof(float)) != 0)
        throw ModelError("weight '" + name + "': its codes do not reproduce the model's FP32 weights");
      layer.container = onnx_int_name(w.type);
      out.weights.emplace(name, std::move(w));
    } catch (const ModelError& e) {
      layer.note = e.what();
    }
    out.layers.push_back(std::move(layer));
  }
  return out;
}

QdqModel write_qdq_onnx(const QuantizedModel& m, const std::string& path) {
  QdqModel q = make_qdq_model(m);
  export_onnx(q.graph, path, q.weights);
  return q;
}

}  // namespace dfmpc
