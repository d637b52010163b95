// Quantized weights as the runtime keeps them for low-bit execution: b-bit codes (1..8) in the
// LSB-first bit stream of quant/packing/bit_packing.h (the .dfmpc file's own bytes) plus a
// float scale and zero per group,  w[i] = scale[g] * (code[i] - zero[g]),  g = i / group_size.
// The graph handed to the Executor keeps an empty placeholder initializer under the same name
// (see ExecOptions::packed_weights).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace dfmpc {

struct PackedWeight {
  int bits = 0;
  Shape shape;             // of the float tensor, e.g. OIHW
  int64_t group_size = 0;  // elements per group (a whole tensor or one output channel)
  std::vector<float> scale, zero;  // per group
  std::vector<uint8_t> codes;      // ceil(numel * bits / 8) bytes

  int64_t numel() const { return shape_numel(shape); }
  uint8_t code(int64_t i) const;  // one code, read bit by bit (slow, obviously correct)
  // Bytes this weight occupies: codes plus scale and zero.
  int64_t bytes() const;
};

using PackedWeights = std::map<std::string, PackedWeight>;

// The FP32 tensor, element by element with quant's dequantize_code (bit-identical to what
// `dfmpc quantize` exported and to the FP32 path's weights).
std::vector<float> dequantize_packed(const PackedWeight& w);

}  // namespace dfmpc
