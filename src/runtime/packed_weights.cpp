#include "runtime/packed_weights.h"

#include "quant/quantizers/quantized_tensor.h"  // dequantize_code (inline; no link dependency)

namespace dfmpc {

uint8_t PackedWeight::code(int64_t i) const {
  uint8_t c = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t bit = i * bits + b;
    c |= static_cast<uint8_t>(((codes[bit / 8] >> (bit % 8)) & 1) << b);
  }
  return c;
}

int64_t PackedWeight::bytes() const {
  return static_cast<int64_t>(codes.size() + (scale.size() + zero.size()) * sizeof(float));
}

std::vector<float> dequantize_packed(const PackedWeight& w) {
  std::vector<float> out(static_cast<size_t>(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t g = i / w.group_size;
    out[i] = dequantize_code(w.scale[g], w.code(i), w.zero[g]);
  }
  return out;
}

}  // namespace dfmpc
