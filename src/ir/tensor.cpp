#include "ir/tensor.h"

#include <cstdint>
#include <stdexcept>

namespace dfmpc {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t k = 0; k < s.size(); ++k) {
    if (k) out += ",";
    out += s[k] < 0 ? std::string("N") : std::to_string(s[k]);
  }
  return out + "]";
}

const char* int_type_name(IntType t) {
  switch (t) {
    case IntType::i64: return "INT64";
    case IntType::i32: return "INT32";
    case IntType::u16: return "UINT16";
    case IntType::i16: return "INT16";
    case IntType::u8: return "UINT8";
    case IntType::i8: return "INT8";
    case IntType::u4: return "UINT4";
    case IntType::i4: return "INT4";
    case IntType::boolean: return "BOOL";
  }
  return "?";
}

std::pair<int64_t, int64_t> int_type_range(IntType t) {
  switch (t) {
    case IntType::i32: return {INT32_MIN, INT32_MAX};
    case IntType::u16: return {0, UINT16_MAX};
    case IntType::i16: return {INT16_MIN, INT16_MAX};
    case IntType::u8: return {0, UINT8_MAX};
    case IntType::i8: return {INT8_MIN, INT8_MAX};
    case IntType::u4: return {0, 15};
    case IntType::i4: return {-8, 7};
    case IntType::boolean: return {0, 1};
    case IntType::i64: break;
  }
  return {INT64_MIN, INT64_MAX};
}

Tensor Tensor::zeros(Shape s) {
  Tensor t;
  t.shape = std::move(s);
  t.f.assign(static_cast<size_t>(shape_numel(t.shape)), 0.0f);
  return t;
}

Tensor Tensor::from_f32(Shape s, std::vector<float> v) {
  Tensor t;
  t.shape = std::move(s);
  if (static_cast<int64_t>(v.size()) != shape_numel(t.shape))
    throw std::invalid_argument("tensor data size " + std::to_string(v.size()) +
                                " does not match shape " + shape_str(t.shape));
  t.f = std::move(v);
  return t;
}

Tensor Tensor::from_i64(Shape s, std::vector<int64_t> v) {
  Tensor t;
  t.dtype = DType::i64;
  t.shape = std::move(s);
  if (static_cast<int64_t>(v.size()) != shape_numel(t.shape))
    throw std::invalid_argument("tensor data size " + std::to_string(v.size()) +
                                " does not match shape " + shape_str(t.shape));
  t.i = std::move(v);
  return t;
}

std::vector<int64_t> Tensor::as_i64() const {
  if (dtype == DType::i64) return i;
  std::vector<int64_t> out(f.size());
  for (size_t k = 0; k < f.size(); ++k) out[k] = static_cast<int64_t>(f[k]);
  return out;
}

std::vector<float> Tensor::as_f32() const {
  if (dtype == DType::f32) return f;
  std::vector<float> out(i.size());
  for (size_t k = 0; k < i.size(); ++k) out[k] = static_cast<float>(i[k]);
  return out;
}

}  // namespace dfmpc
