// Integer weight tensors for ONNX DequantizeLinear, in the container types ONNX defines
// (INT4/UINT4 from opset 21, two values a byte, low nibble first; INT8/UINT8; INT16/UINT16
// from opset 21). Protobuf-free: the writer is onnx_export.cpp.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/tensor.h"

namespace dfmpc {

// Values are the ONNX TensorProto::DataType numbers (written as plain ints: Debian's
// libonnx 1.12 predates INT4 / UINT4).
enum class OnnxIntType : int32_t { uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, uint4 = 21, int4 = 22 };

int onnx_int_bits(OnnxIntType t);
bool onnx_int_signed(OnnxIntType t);
int32_t onnx_int_min(OnnxIntType t);
int32_t onnx_int_max(OnnxIntType t);
const char* onnx_int_name(OnnxIntType t);  // "INT4", "UINT8", ...

// An integer initializer x feeding DequantizeLinear: y = (x - zero_point) * scale, per tensor
// (one scale) or per slice along `axis` (shape[axis] scales).
struct QdqWeight {
  OnnxIntType type = OnnxIntType::int8;
  Shape shape;
  std::vector<int32_t> values;      // row-major, each within the type's range
  std::vector<float> scale;         // 1 or shape[axis]
  std::vector<int32_t> zero_point;  // same length as scale
  int64_t axis = 0;                 // meaningful when scale.size() > 1

  bool per_tensor() const { return scale.size() == 1; }
};

// The little-endian bytes of `values` as TensorProto::raw_data (4-bit types: element 2k in the
// low nibble of byte k, element 2k+1 in its high nibble, an odd count padded with a zero
// nibble). Throws std::invalid_argument for a value outside the type's range.
std::string pack_int_values(OnnxIntType t, std::span<const int32_t> values);
// The inverse (4-bit values sign-extended for INT4); throws std::invalid_argument when `raw`
// does not hold exactly n values.
std::vector<int32_t> unpack_int_values(OnnxIntType t, const std::string& raw, size_t n);

// ONNX DequantizeLinear evaluated as ONNX Runtime does it: float(x - zero_point) * scale.
// The reference every exact-round-trip check uses.
std::vector<float> dequantize_qdq_weight(const QdqWeight& w);

// Throws std::invalid_argument naming the problem when w is inconsistent (value count, scale /
// zero-point count for its axis, values or zero points outside the type's range).
void check_qdq_weight(const QdqWeight& w, const std::string& name);

}  // namespace dfmpc
