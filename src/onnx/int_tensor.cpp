#include "onnx/int_tensor.h"

#include <cstring>
#include <stdexcept>

namespace dfmpc {

int onnx_int_bits(OnnxIntType t) {
  switch (t) {
    case OnnxIntType::uint4:
    case OnnxIntType::int4: return 4;
    case OnnxIntType::uint8:
    case OnnxIntType::int8: return 8;
    case OnnxIntType::uint16:
    case OnnxIntType::int16: return 16;
  }
  throw std::invalid_argument("unknown integer type");
}

bool onnx_int_signed(OnnxIntType t) { return t == OnnxIntType::int4 || t == OnnxIntType::int8 || t == OnnxIntType::int16; }

int32_t onnx_int_min(OnnxIntType t) { return onnx_int_signed(t) ? -(1 << (onnx_int_bits(t) - 1)) : 0; }

int32_t onnx_int_max(OnnxIntType t) {
  return onnx_int_signed(t) ? (1 << (onnx_int_bits(t) - 1)) - 1 : (1 << onnx_int_bits(t)) - 1;
}

const char* onnx_int_name(OnnxIntType t) {
  switch (t) {
    case OnnxIntType::uint4: return "UINT4";
    case OnnxIntType::int4: return "INT4";
    case OnnxIntType::uint8: return "UINT8";
    case OnnxIntType::int8: return "INT8";
    case OnnxIntType::uint16: return "UINT16";
    case OnnxIntType::int16: return "INT16";
  }
  return "?";
}

namespace {

void check_range(OnnxIntType t, int32_t v, const char* what) {
  if (v < onnx_int_min(t) || v > onnx_int_max(t))
    throw std::invalid_argument(std::string(what) + " " + std::to_string(v) + " is outside " + onnx_int_name(t));
}

}  // namespace

std::string pack_int_values(OnnxIntType t, std::span<const int32_t> values) {
  for (int32_t v : values) check_range(t, v, "value");
  const int bits = onnx_int_bits(t);
  std::string raw;
  if (bits == 4) {
    raw.assign((values.size() + 1) / 2, '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      const auto nibble = static_cast<uint8_t>(values[i] & 0xF);
      raw[i / 2] = static_cast<char>(static_cast<uint8_t>(raw[i / 2]) | (i % 2 ? nibble << 4 : nibble));
    }
  } else {
    const size_t bytes = static_cast<size_t>(bits / 8);
    raw.assign(values.size() * bytes, '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      const auto u = static_cast<uint32_t>(values[i]);  // two's complement, little-endian
      for (size_t b = 0; b < bytes; ++b) raw[i * bytes + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
    }
  }
  return raw;
}

std::vector<int32_t> unpack_int_values(OnnxIntType t, const std::string& raw, size_t n) {
  const int bits = onnx_int_bits(t);
  const size_t need = bits == 4 ? (n + 1) / 2 : n * static_cast<size_t>(bits / 8);
  if (raw.size() != need)
    throw std::invalid_argument(std::string(onnx_int_name(t)) + " data holds " + std::to_string(raw.size()) +
                                " bytes, " + std::to_string(n) + " values need " + std::to_string(need));
  std::vector<int32_t> v(n);
  const bool sign = onnx_int_signed(t);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u = 0;
    if (bits == 4) u = (static_cast<uint8_t>(raw[i / 2]) >> (i % 2 ? 4 : 0)) & 0xF;
    else
      for (int b = 0; b < bits / 8; ++b) u |= static_cast<uint32_t>(static_cast<uint8_t>(raw[i * (bits / 8) + b])) << (8 * b);
    int32_t x = static_cast<int32_t>(u);
    if (sign && (u >> (bits - 1)) & 1) x -= 1 << bits;  // sign extension
    v[i] = x;
  }
  return v;
}

void check_qdq_weight(const QdqWeight& w, const std::string& name) {
  const auto fail = [&](const std::string& why) { throw std::invalid_argument("weight '" + name + "': " + why); };
  if (static_cast<int64_t>(w.values.size()) != shape_numel(w.shape))
    fail(std::to_string(w.values.size()) + " values for shape " + shape_str(w.shape));
  if (w.scale.empty() || w.scale.size() != w.zero_point.size()) fail("scale and zero point counts differ or are zero");
  if (!w.per_tensor()) {
    if (w.axis < 0 || w.axis >= static_cast<int64_t>(w.shape.size()))
      fail("axis " + std::to_string(w.axis) + " is out of range for shape " + shape_str(w.shape));
    if (static_cast<int64_t>(w.scale.size()) != w.shape[static_cast<size_t>(w.axis)])
      fail(std::to_string(w.scale.size()) + " scales for axis " + std::to_string(w.axis) + " of shape " + shape_str(w.shape));
  }
  try {
    for (int32_t v : w.values) check_range(w.type, v, "value");
    for (int32_t z : w.zero_point) check_range(w.type, z, "zero point");
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
}

std::vector<float> dequantize_qdq_weight(const QdqWeight& w) {
  check_qdq_weight(w, "<dequantize_qdq_weight>");
  std::vector<float> y(w.values.size());
  int64_t inner = 1, channels = 1;
  if (!w.per_tensor()) {
    channels = w.shape[static_cast<size_t>(w.axis)];
    for (size_t k = static_cast<size_t>(w.axis) + 1; k < w.shape.size(); ++k) inner *= w.shape[k];
  }
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t c = w.per_tensor() ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    y[i] = static_cast<float>(w.values[i] - w.zero_point[c]) * w.scale[c];
  }
  return y;
}

}  // namespace dfmpc
