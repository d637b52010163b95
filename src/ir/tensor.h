// A dense tensor held by value: FP32 data for weights and activations, INT64 for the
// shape arithmetic that exporters emit (folded away at import).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dfmpc {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);

enum class DType { f32, i64 };

// The ONNX integer element type i64 data was decoded from (quantized values and zero points
// of QuantizeLinear / DequantizeLinear): it fixes their range and must match between a
// value and its zero point. Plain int64 for everything else.
enum class IntType : uint8_t { i64, i32, u16, i16, u8, i8, u4, i4, boolean };
const char* int_type_name(IntType t);
// Smallest and largest value of the type.
std::pair<int64_t, int64_t> int_type_range(IntType t);

struct Tensor {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<float> f;    // used when dtype == f32
  std::vector<int64_t> i;  // used when dtype == i64
  IntType itype = IntType::i64;  // with dtype == i64: the element type the values came from

  Tensor() = default;
  static Tensor zeros(Shape s);
  static Tensor from_f32(Shape s, std::vector<float> v);
  static Tensor from_i64(Shape s, std::vector<int64_t> v);

  int64_t numel() const { return shape_numel(shape); }
  int64_t dim(size_t k) const { return shape.at(k); }
  bool is_f32() const { return dtype == DType::f32; }
  // Values as int64 / as float whatever the storage type (for shape-like tensors).
  std::vector<int64_t> as_i64() const;
  std::vector<float> as_f32() const;
};

}  // namespace dfmpc
