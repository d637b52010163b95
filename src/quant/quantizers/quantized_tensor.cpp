#include "quant/quantizers/quantized_tensor.h"

#include <stdexcept>

namespace dfmpc {

void dequantize(const QuantizedTensor& t, std::span<float> out) {
  if (static_cast<int64_t>(out.size()) != t.numel())
    throw std::invalid_argument("dequantize: output size does not match the tensor");
  for (int64_t g = 0; g < t.n_groups(); ++g) {
    const float s = t.scale[g], z = t.zero[g];
    const int64_t begin = g * t.group_size, end = begin + t.group_size;
    for (int64_t i = begin; i < end; ++i) out[i] = dequantize_code(s, t.q[i], z);
  }
}

std::vector<float> dequantize(const QuantizedTensor& t) {
  std::vector<float> out(t.q.size());
  dequantize(t, out);
  return out;
}

}  // namespace dfmpc
