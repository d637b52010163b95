// The packed model format (.dfmpc): quantized weights stored as codes at their true bit
// widths (2-bit codes four to a byte, 6-bit codes four to three bytes) with per-group scale
// and zero, next to a zlib-compressed ONNX skeleton holding the graph and every other
// parameter as FP32. Loading dequantizes with the same function the quantizer used, so a
// packed model and its ONNX export hold bit-identical weights.
//
// Layout (little-endian):
//   "DFMPCPK2" | u32 crc32 (zlib's, of every byte after this field) | u32 skeleton_zlib_bytes | u32 skeleton_bytes | skeleton (zlib(ONNX))
//   u32 tensor_count | per tensor: u16 name_len, name, u8 bits, u8 rank, u32 dims[rank],
//                                  u32 groups, f32 scale[groups], f32 zero[groups],
//                                  packed codes (ceil(numel * bits / 8) bytes)
#pragma once
#include <memory>
#include <string>

#include "quant/pipeline.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

// Returns the file size in bytes. Written atomically.
int64_t write_packed_model(const QuantizedModel& m, const std::string& path);
// The size write_packed_model() would write, without writing.
int64_t packed_model_size(const QuantizedModel& m);

struct PackedModel {
  Graph graph;  // weights dequantized into FP32 initializers
  std::map<std::string, QuantizedTensor> weights;
};
PackedModel read_packed_model(const std::string& path);  // throws ModelError
// The same from the file's bytes; `what` names the source in errors ("model 'x.dfmpc'").
PackedModel read_packed_model_bytes(const std::string& bytes, const std::string& what);

// For low-bit execution: the graph with an empty placeholder for every quantized weight, and
// the weights as their file bytes (codes stay packed; nothing is dequantized). Pass `weights`
// as ExecOptions::packed_weights.
struct LowBitModel {
  Graph graph;
  std::shared_ptr<const PackedWeights> weights;
};
LowBitModel read_packed_model_codes(const std::string& path);  // throws ModelError
LowBitModel read_packed_model_codes_bytes(const std::string& bytes, const std::string& what);

bool is_packed_model_file(const std::string& path);

}  // namespace dfmpc
