// Standard low-bit ONNX ("QDQ"): every quantized weight written as an integer initializer in
// the smallest ONNX container its codes fit (INT4 / UINT4 for <= 4-bit grids, INT8 / UINT8
// up to 8 bits, INT16 for an 8-bit grid with a half-integer zero) feeding DequantizeLinear,
// which reproduces the quantizer's dequantized weights bit for bit. The model is written at
// opset 21 (IR 10), the first to define INT4 / UINT4.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "onnx/int_tensor.h"
#include "quant/pipeline.h"

namespace dfmpc {

// The integer form of t under ONNX's y = float(x - zero_point) * scale, with one scale per
// group (per tensor, or per slice along axis 0 = the quantizer's channel groups):
//   integer zero z:      x - zp = q - z,          scale' = scale
//   half-integer zero:   x - zp = 2q - 2z (odd),  scale' = scale / 2
//   scale 0 (zero group): x - zp = sign(q - z),   scale' = scale (keeps the sign of each 0)
// then the smallest container (4, 8, 16 bits) the values fit: signed with zero point 0, else
// unsigned with a per-group zero point (the quantizer's own codes when the zero is an
// integer), else signed with one. Throws ModelError naming `name` when the form cannot be
// bit-exact (a zero that is neither integer nor half-integer, a subnormal scale whose half
// rounds, groups that are not whole slices along axis 0); every value is checked against
// dequantize(t) bit for bit.
QdqWeight encode_qdq_weight(const QuantizedTensor& t, const std::string& name);

struct QdqLayerWidth {
  std::string weight;
  int bits = 0;           // the quantizer's width
  std::string container;  // "INT4", "UINT8", ... or "FLOAT" when it had to stay FP32
  std::string note;       // why it stayed FP32
};

struct QdqModel {
  Graph graph;                               // upgraded to opset 21
  std::map<std::string, QdqWeight> weights;  // by initializer name
  std::vector<QdqLayerWidth> layers;         // one per quantized weight, in name order
};

// m's graph upgraded to opset 21 with every quantized weight in integer form; a weight whose
// integer form would not reproduce m.graph's FP32 values bit for bit stays FP32 (its layer
// says why).
QdqModel make_qdq_model(const QuantizedModel& m);

// Writes make_qdq_model(m) atomically; returns it (for the report).
QdqModel write_qdq_onnx(const QuantizedModel& m, const std::string& path);

}  // namespace dfmpc
