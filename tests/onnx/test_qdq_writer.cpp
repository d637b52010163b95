// Integer weights in ONNX: INT4 / UINT4 nibble packing, INT8 / INT16 bytes, the reference
// DequantizeLinear along any axis, and the DequantizeLinear nodes and fields the writer emits.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>

#include "onnx/int_tensor.h"
#include "onnx/onnx_io.h"
#include "onnx/opset_upgrade.h"

namespace dfmpc {
namespace {

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

TEST(IntTensor, Int4PacksLowNibbleFirstAndSignExtends) {
  const std::vector<int32_t> v = {1, -2, 7, -8, 3};  // odd count: the last high nibble is padding
  const std::string raw = pack_int_values(OnnxIntType::int4, v);
  EXPECT_EQ(raw, bytes_of({0xE1, 0x87, 0x03}));
  EXPECT_EQ(unpack_int_values(OnnxIntType::int4, raw, v.size()), v);
  // The same nibbles read as UINT4 are not sign-extended.
  EXPECT_EQ(unpack_int_values(OnnxIntType::uint4, raw, v.size()), (std::vector<int32_t>{1, 14, 7, 8, 3}));
}

TEST(IntTensor, Uint4AndWiderTypes) {
  EXPECT_EQ(pack_int_values(OnnxIntType::uint4, std::vector<int32_t>{15, 0, 9}), bytes_of({0x0F, 0x09}));
  EXPECT_EQ(pack_int_values(OnnxIntType::int8, std::vector<int32_t>{-1, 127, -128}), bytes_of({0xFF, 0x7F, 0x80}));
  EXPECT_EQ(pack_int_values(OnnxIntType::uint8, std::vector<int32_t>{255, 0}), bytes_of({0xFF, 0x00}));
  const std::vector<int32_t> wide = {-255, 255, -32768, 32767};
  const std::string raw = pack_int_values(OnnxIntType::int16, wide);
  EXPECT_EQ(raw.substr(0, 2), bytes_of({0x01, 0xFF}));  // -255 little-endian
  EXPECT_EQ(unpack_int_values(OnnxIntType::int16, raw, wide.size()), wide);
  EXPECT_EQ(unpack_int_values(OnnxIntType::int8, bytes_of({0x80, 0x7F}), 2), (std::vector<int32_t>{-128, 127}));
}

TEST(IntTensor, OutOfRangeValuesAndShortDataAreRejected) {
  EXPECT_THROW(pack_int_values(OnnxIntType::int4, std::vector<int32_t>{8}), std::invalid_argument);
  EXPECT_THROW(pack_int_values(OnnxIntType::uint4, std::vector<int32_t>{-1}), std::invalid_argument);
  EXPECT_THROW(pack_int_values(OnnxIntType::int8, std::vector<int32_t>{128}), std::invalid_argument);
  EXPECT_THROW(unpack_int_values(OnnxIntType::int4, bytes_of({0x11}), 3), std::invalid_argument);  // 3 nibbles need 2 bytes
  EXPECT_THROW(unpack_int_values(OnnxIntType::int4, bytes_of({0x11, 0x22}), 2), std::invalid_argument);
  EXPECT_NO_THROW(unpack_int_values(OnnxIntType::int4, bytes_of({0x11, 0x22}), 3));
}

// [2, 3] weight, written out by hand.
QdqWeight two_by_three(OnnxIntType type, int64_t axis, std::vector<float> scale, std::vector<int32_t> zp) {
  QdqWeight w;
  w.type = type;
  w.shape = {2, 3};
  w.values = {1, 2, 3, 4, 5, 6};
  w.scale = std::move(scale);
  w.zero_point = std::move(zp);
  w.axis = axis;
  return w;
}

TEST(IntTensor, ReferenceDequantizeAlongEachAxis) {
  const auto t = dequantize_qdq_weight(two_by_three(OnnxIntType::uint8, 0, {0.5f}, {2}));
  EXPECT_EQ(t, (std::vector<float>{-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f}));
  const auto a0 = dequantize_qdq_weight(two_by_three(OnnxIntType::int8, 0, {1.0f, 10.0f}, {0, 1}));
  EXPECT_EQ(a0, (std::vector<float>{1, 2, 3, 30, 40, 50}));
  const auto a1 = dequantize_qdq_weight(two_by_three(OnnxIntType::int8, 1, {1.0f, 10.0f, 100.0f}, {1, 0, 0}));
  EXPECT_EQ(a1, (std::vector<float>{0, 20, 300, 3, 50, 600}));
  EXPECT_THROW(dequantize_qdq_weight(two_by_three(OnnxIntType::int8, 2, {1.0f, 1.0f}, {0, 0})), std::invalid_argument);
  EXPECT_THROW(dequantize_qdq_weight(two_by_three(OnnxIntType::int8, 1, {1.0f, 1.0f}, {0, 0})), std::invalid_argument);
}

// A graph `x -> op(x, W) -> y` with W [d0, d1, ...] as an initializer.
Graph one_layer(const std::string& op, Shape w_shape, std::map<std::string, AttrValue> attrs = {}) {
  Graph g;
  g.inputs.push_back({"x", {1, 4}});
  g.outputs.push_back({"y", {1, 4}});
  g.initializers["W"] = Tensor::zeros(w_shape);
  g.nodes.push_back(Node{"layer", op, {"x", "W"}, {"y"}, std::move(attrs)});
  g.opset = 21;
  return g;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

const onnx::TensorProto& initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return t;
  throw std::runtime_error("no initializer " + name);
}

// Reads the written integer weight back with the reference dequantizer.
std::vector<float> read_back(const onnx::ModelProto& m, OnnxIntType type) {
  const auto& dq = m.graph().node(0);
  EXPECT_EQ(dq.op_type(), "DequantizeLinear");
  EXPECT_EQ(dq.output(0), "W");
  const auto& x = initializer(m, dq.input(0));
  const auto& s = initializer(m, dq.input(1));
  EXPECT_EQ(x.data_type(), static_cast<int32_t>(type));
  EXPECT_EQ(s.data_type(), onnx::TensorProto::FLOAT);
  QdqWeight w;
  w.type = type;
  w.shape.assign(x.dims().begin(), x.dims().end());
  w.values = unpack_int_values(type, x.raw_data(), static_cast<size_t>(shape_numel(w.shape)));
  const size_t n = static_cast<size_t>(s.dims_size() ? s.dims(0) : 1);
  w.scale.resize(n);
  std::memcpy(w.scale.data(), s.raw_data().data(), n * sizeof(float));
  if (dq.input_size() > 2) {
    const auto& z = initializer(m, dq.input(2));
    EXPECT_EQ(z.data_type(), static_cast<int32_t>(type));
    w.zero_point = unpack_int_values(type, z.raw_data(), n);
  } else {
    w.zero_point.assign(n, 0);
  }
  w.axis = 0;
  for (const auto& a : dq.attribute())
    if (a.name() == "axis") w.axis = a.i();
  if (n > 1) {
    EXPECT_EQ(dq.attribute_size(), 1);
  }
  return dequantize_qdq_weight(w);
}

// Per-slice scales along `axis` for a weight of `shape`, values cycling through the INT4 range.
QdqWeight per_axis_int4(const Shape& shape, int64_t axis) {
  QdqWeight w;
  w.type = OnnxIntType::int4;
  w.shape = shape;
  w.axis = axis;
  for (int64_t i = 0; i < shape_numel(shape); ++i) w.values.push_back(static_cast<int32_t>(i % 16) - 8);
  for (int64_t c = 0; c < shape[static_cast<size_t>(axis)]; ++c) {
    w.scale.push_back(0.25f * static_cast<float>(c + 1));
    w.zero_point.push_back(static_cast<int32_t>(c % 3) - 1);
  }
  return w;
}

TEST(QdqWriter, PerAxisWeightsOfEachLayerKind) {
  struct Case {
    const char* op;
    Shape shape;
    int64_t axis;
    std::map<std::string, AttrValue> attrs;
  };
  const std::vector<Case> cases = {
      {"Conv", {3, 2, 3, 3}, 0, {}},                             // OIHW: output channels on axis 0
      {"Gemm", {5, 4}, 0, {{"transB", int64_t{1}}}},            // [N, K]
      {"Gemm", {4, 5}, 1, {{"transB", int64_t{0}}}},            // [K, N]
      {"MatMul", {4, 5}, 1, {}},                                // [K, N]
      {"ConvTranspose", {4, 3, 3, 3}, 1, {{"group", int64_t{1}}}},  // [C_in, C_out/g, kh, kw]
  };
  for (const auto& c : cases) {
    const Graph g = one_layer(c.op, c.shape, c.attrs);
    const QdqWeight w = per_axis_int4(c.shape, c.axis);
    const auto m = parse(export_onnx_bytes(g, {{"W", w}}));
    EXPECT_EQ(m.ir_version(), 10) << c.op;
    EXPECT_EQ(m.opset_import(0).version(), 21) << c.op;
    EXPECT_EQ(read_back(m, OnnxIntType::int4), dequantize_qdq_weight(w)) << c.op;
    const auto& dq = m.graph().node(0);
    EXPECT_EQ(dq.attribute(0).i(), c.axis) << c.op;
    EXPECT_EQ(initializer(m, dq.input(1)).dims(0), c.shape[static_cast<size_t>(c.axis)]) << c.op;
    EXPECT_EQ(m.graph().node(1).input(1), "W") << c.op;  // the layer still reads W
    for (const auto& t : m.graph().initializer()) EXPECT_NE(t.name(), "W") << c.op;  // no FP32 copy left
  }
}

TEST(QdqWriter, PerTensorWeightHasScalarScaleAndNoAxis) {
  const Graph g = one_layer("Conv", {2, 1, 1, 3});
  QdqWeight w;
  w.type = OnnxIntType::uint4;
  w.shape = {2, 1, 1, 3};
  w.values = {0, 15, 7, 8, 1, 2};
  w.scale = {0.125f};
  w.zero_point = {7};
  const auto m = parse(export_onnx_bytes(g, {{"W", w}}));
  EXPECT_EQ(read_back(m, OnnxIntType::uint4), dequantize_qdq_weight(w));
  EXPECT_EQ(initializer(m, m.graph().node(0).input(1)).dims_size(), 0);
  EXPECT_EQ(m.graph().node(0).attribute_size(), 0);
  EXPECT_EQ(initializer(m, "W_quantized").raw_data().size(), 3u);
}

TEST(QdqWriter, SymmetricWeightHasNoZeroPoint) {
  const Graph g = one_layer("Conv", {3, 2, 3, 3});
  QdqWeight w = per_axis_int4({3, 2, 3, 3}, 0);
  w.zero_point.assign(3, 0);
  const auto m = parse(export_onnx_bytes(g, {{"W", w}}));
  EXPECT_EQ(m.graph().node(0).input_size(), 2);
  EXPECT_EQ(read_back(m, OnnxIntType::int4), dequantize_qdq_weight(w));
}

TEST(QdqWriter, RejectsInconsistentWeightsAndInt4BelowOpset21) {
  Graph g = one_layer("Conv", {3, 2, 3, 3});
  QdqWeight w = per_axis_int4({3, 2, 3, 3}, 0);
  w.scale.pop_back();
  w.zero_point.pop_back();
  EXPECT_THROW(export_onnx_bytes(g, {{"W", w}}), ModelError);
  w = per_axis_int4({3, 2, 3, 3}, 0);
  g.opset = 13;
  try {
    export_onnx_bytes(g, {{"W", w}});
    FAIL() << "INT4 at opset 13 was written";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("opset 21"), std::string::npos) << e.what();
  }
  EXPECT_THROW(export_onnx_bytes(one_layer("Conv", {3, 2, 3, 3}), {{"V", w}}), ModelError);  // not an initializer
}

TEST(QdqWriter, NameClashesGetFreshNames) {
  Graph g = one_layer("Conv", {3, 2, 3, 3});
  g.initializers["W_quantized"] = Tensor::zeros({1});
  g.nodes[0].inputs.push_back("W_quantized");
  const auto m = parse(export_onnx_bytes(g, {{"W", per_axis_int4({3, 2, 3, 3}, 0)}}));
  EXPECT_EQ(m.graph().node(0).input(0), "W_quantized_1");
  EXPECT_EQ(initializer(m, "W_quantized").data_type(), onnx::TensorProto::FLOAT);
}

}  // namespace
}  // namespace dfmpc
