// One representation for every weight format: unsigned integer codes plus a float scale and
// zero per group,
//   w^[i] = scale[g] * (q[i] - zero[g]),   g = i / group_size.
// A group is the whole tensor or one output channel (axis 0, contiguous in OIHW / [out, in]).
// zero may be a half-integer (DoReFa's grid has no exact zero). scale == 0 marks a group that
// is identically zero (every code then dequantizes to 0).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace dfmpc {

struct QuantizedTensor {
  int bits = 0;                // codes lie in [0, 2^bits - 1], 1 <= bits <= 8
  std::vector<int64_t> shape;  // of the float tensor
  int64_t group_size = 0;      // elements per group
  std::vector<uint8_t> q;      // one code per element
  std::vector<float> scale;    // one per group
  std::vector<float> zero;     // one per group

  int64_t numel() const { return static_cast<int64_t>(q.size()); }
  int64_t n_groups() const { return static_cast<int64_t>(scale.size()); }
  int max_code() const { return (1 << bits) - 1; }
  float value(int64_t i) const;
};

// The single definition of a dequantized value; quantizers and runtimes must use it so that
// every path produces bit-identical floats.
inline float dequantize_code(float scale, uint8_t q, float zero) {
  return scale * (static_cast<float>(q) - zero);
}

inline float QuantizedTensor::value(int64_t i) const {
  const int64_t g = i / group_size;
  return dequantize_code(scale[g], q[i], zero[g]);
}

// out.size() must equal t.numel().
void dequantize(const QuantizedTensor& t, std::span<float> out);
std::vector<float> dequantize(const QuantizedTensor& t);

}  // namespace dfmpc
