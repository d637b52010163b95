// A dense tensor held by value: FP32 data for weights and activations, INT64 for the
// shape arithmetic that exporters emit (folded away at import).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dfmpc {

using Shape = std::vector<int64_t>;

// The element count of a shape. Throws ModelError when a dimension is negative, when the
// product overflows int64, or when it exceeds max_tensor_elements(): every allocation sized
// from a file (initializers, folded constants, op outputs) goes through here.
int64_t shape_numel(const Shape& s);
// The largest tensor dfmpc will allocate, in elements (default 2^31: 8 GiB of FP32, above
// any CNN weight or activation batch this tool is for). Fuzz harnesses lower it to stay
// within libFuzzer's memory limit.
int64_t max_tensor_elements();
void set_max_tensor_elements(int64_t n);
std::string shape_str(const Shape& s);

enum class DType { f32, i64 };

// The ONNX integer element type i64 data was decoded from (quantized values and zero points
// of QuantizeLinear / DequantizeLinear): it fixes their range and must match between a
// value and its zero point. Plain int64 for everything else.
enum class IntElem : uint8_t { i64, i32, u16, i16, u8, i8, u4, i4, boolean };
const char* int_elem_name(IntElem t);
// Smallest and largest value of the type.
std::pair<int64_t, int64_t> int_elem_range(IntElem t);

struct Tensor {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<float> f;    // used when dtype == f32
  std::vector<int64_t> i;  // used when dtype == i64
  IntElem itype = IntElem::i64;  // with dtype == i64: the element type the values came from

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
