#include "ir/tensor.h"

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "ir/graph.h"

namespace dfmpc {
namespace {
std::atomic<int64_t> g_max_elements{int64_t{1} << 31};

std::string dims_text(const Shape& s) {
  std::string out = "[";
  for (size_t k = 0; k < s.size(); ++k) {
    if (k) out += ',';
    out += std::to_string(s[k]);
  }
  return out + "]";
}
}  // namespace

int64_t max_tensor_elements() { return g_max_elements.load(std::memory_order_relaxed); }
void set_max_tensor_elements(int64_t n) { g_max_elements.store(n, std::memory_order_relaxed); }

int64_t shape_numel(const Shape& s) {
  // The product of the non-zero dimensions is bounded too, so that a shape with no
  // elements ([0, 2^62]) still has strides and offsets that fit in int64.
  int64_t n = 1;
  bool overflow = false, empty = false;
  for (int64_t d : s) {
    if (d < 0) throw ModelError("shape " + dims_text(s) + " has a negative dimension");
    if (d == 0) empty = true;
    else overflow = overflow || __builtin_mul_overflow(n, d, &n);
  }
  if (overflow) throw ModelError("shape " + dims_text(s) + " is too large: its element count overflows int64");
  if (n > max_tensor_elements())
    throw ModelError("shape " + dims_text(s) + " is too large: " + std::to_string(n) + " elements, more than the " +
                     std::to_string(max_tensor_elements()) + " dfmpc allocates");
  return empty ? 0 : n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t k = 0; k < s.size(); ++k) {
    if (k) out += ",";
    out += s[k] < 0 ? std::string("N") : std::to_string(s[k]);
  }
  return out + "]";
}

const char* int_elem_name(IntElem t) {
  switch (t) {
    case IntElem::i64: return "INT64";
    case IntElem::i32: return "INT32";
    case IntElem::u16: return "UINT16";
    case IntElem::i16: return "INT16";
    case IntElem::u8: return "UINT8";
    case IntElem::i8: return "INT8";
    case IntElem::u4: return "UINT4";
    case IntElem::i4: return "INT4";
    case IntElem::boolean: return "BOOL";
  }
  return "?";
}

std::pair<int64_t, int64_t> int_elem_range(IntElem t) {
  switch (t) {
    case IntElem::i32: return {INT32_MIN, INT32_MAX};
    case IntElem::u16: return {0, UINT16_MAX};
    case IntElem::i16: return {INT16_MIN, INT16_MAX};
    case IntElem::u8: return {0, UINT8_MAX};
    case IntElem::i8: return {INT8_MIN, INT8_MAX};
    case IntElem::u4: return {0, 15};
    case IntElem::i4: return {-8, 7};
    case IntElem::boolean: return {0, 1};
    case IntElem::i64: break;
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
  // Saturating, NaN -> 0: a float outside int64 has no defined conversion (ONNX leaves it
  // undefined; in C++ it is undefined behaviour).
  constexpr float lo = -9.2233720368547758e18f, hi = 9.2233720368547758e18f;
  for (size_t k = 0; k < f.size(); ++k)
    out[k] = std::isnan(f[k]) ? 0 : f[k] <= lo ? INT64_MIN : f[k] >= hi ? INT64_MAX : static_cast<int64_t>(f[k]);
  return out;
}

std::vector<float> Tensor::as_f32() const {
  if (dtype == DType::f32) return f;
  std::vector<float> out(i.size());
  for (size_t k = 0; k < i.size(); ++k) out[k] = static_cast<float>(i[k]);
  return out;
}

}  // namespace dfmpc
