// QDQ export: integer codes + DequantizeLinear reproduce the quantizer's dequantized weights
// bit for bit, for every scheme and width the CLI offers, in the smallest container.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "export/qdq_model.h"
#include "onnx/onnx_io.h"
#include "onnx/opset_upgrade.h"
#include "quant/quantizers/quant_scheme.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// OIHW weights with one identically-zero output channel (its group gets scale 0).
std::vector<float> weights(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(shape_numel(shape)));
  for (auto& v : w) v = d(rng);
  const int64_t per = shape_numel(shape) / shape[0];
  std::fill(w.begin() + 2 * per, w.begin() + 3 * per, 0.0f);
  return w;
}

TEST(QdqEncode, EverySchemeAndWidthRoundTripsBitForBit) {
  const Shape shape = {6, 4, 3, 3};
  const std::vector<float> w = weights(shape, 7);
  int checked = 0;
  for (const auto& traits : quant_schemes()) {
    for (int bits = std::max(2, traits.min_bits); bits <= std::min(8, traits.max_bits); ++bits) {
      for (Granularity gran : {Granularity::per_tensor, Granularity::per_channel}) {
        if ((gran == Granularity::per_tensor && !traits.per_tensor) || (gran == Granularity::per_channel && !traits.per_channel))
          continue;
        for (SquantGrid grid : {SquantGrid::asym, SquantGrid::sym, SquantGrid::dorefa_mse}) {
          if (traits.scheme != QuantScheme::squant && grid != SquantGrid::asym) continue;
          QuantOptions opt;
          opt.bits = bits;
          opt.granularity = gran;
          opt.squant_grid = grid;
          const QuantResult r = quantize_weights(traits.scheme, WeightView{w, shape}, opt);
          const std::string what = std::string(traits.name) + " " + std::to_string(bits) + " bit" +
                                   (gran == Granularity::per_channel ? " per channel" : " per tensor") + " grid " +
                                   std::to_string(static_cast<int>(grid));
          const QdqWeight q = encode_qdq_weight(r.tensor, "w");
          EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q), dequantize(r.tensor))) << what;
          EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q), r.w_hat)) << what;
          const int container = onnx_int_bits(q.type);
          if (bits <= 3) {
            EXPECT_EQ(container, 4) << what;
          }
          if (bits <= 7) {
            EXPECT_LE(container, 8) << what;
          }
          EXPECT_EQ(q.scale.size(), gran == Granularity::per_channel ? 6u : 1u) << what;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 40);
}

QuantizedTensor grid(int bits, std::vector<float> scale, std::vector<float> zero, int64_t per_group) {
  QuantizedTensor t;
  t.bits = bits;
  const int64_t groups = static_cast<int64_t>(scale.size());
  t.shape = {groups, per_group};
  t.group_size = per_group;
  t.scale = std::move(scale);
  t.zero = std::move(zero);
  for (int64_t i = 0; i < groups * per_group; ++i) t.q.push_back(static_cast<uint8_t>(i % (t.max_code() + 1)));
  return t;
}

TEST(QdqEncode, HalfIntegerZeroBecomesOddCodesAtHalfTheScale) {
  const QuantizedTensor t = grid(2, {0.3f, 0.7f}, {1.5f, 1.5f}, 5);  // DoReFa's 2-bit grid
  const QdqWeight q = encode_qdq_weight(t, "w");
  EXPECT_EQ(q.type, OnnxIntType::int4);
  EXPECT_EQ(q.scale, (std::vector<float>{0.15f, 0.35f}));
  EXPECT_EQ(q.zero_point, (std::vector<int32_t>{0, 0}));
  for (int32_t v : q.values) EXPECT_EQ(std::abs(v) % 2, 1) << v;
  EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q), dequantize(t)));
  // 6-bit DoReFa fits INT8; an 8-bit half-integer grid needs 9 bits: INT16.
  EXPECT_EQ(encode_qdq_weight(grid(6, {0.01f}, {31.5f}, 64), "w").type, OnnxIntType::int8);
  const QuantizedTensor wide = grid(8, {0.01f}, {127.5f}, 256);
  const QdqWeight q16 = encode_qdq_weight(wide, "w");
  EXPECT_EQ(q16.type, OnnxIntType::int16);
  EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q16), dequantize(wide)));
}

TEST(QdqEncode, IntegerZeroKeepsTheQuantizersCodes) {
  const QuantizedTensor t = grid(4, {0.1f, 0.2f}, {3.0f, 12.0f}, 16);  // asymmetric: no signed fit
  const QdqWeight q = encode_qdq_weight(t, "w");
  EXPECT_EQ(q.type, OnnxIntType::uint4);
  EXPECT_EQ(q.zero_point, (std::vector<int32_t>{3, 12}));
  EXPECT_EQ(q.values, std::vector<int32_t>(t.q.begin(), t.q.end()));
  EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q), dequantize(t)));
  // Symmetric: signed codes, zero point 0.
  const QdqWeight s = encode_qdq_weight(grid(4, {0.1f}, {8.0f}, 16), "w");
  EXPECT_EQ(s.type, OnnxIntType::int4);
  EXPECT_EQ(s.zero_point, std::vector<int32_t>{0});
}

TEST(QdqEncode, ZeroScaleChannelKeepsTheSignOfEachZero) {
  QuantizedTensor t = grid(2, {0.5f, 0.0f}, {1.5f, 1.5f}, 4);
  const std::vector<float> want = dequantize(t);
  EXPECT_TRUE(std::signbit(want[4]));   // 0 * (0 - 1.5) = -0
  EXPECT_FALSE(std::signbit(want[7]));  // 0 * (3 - 1.5) = +0
  const QdqWeight q = encode_qdq_weight(t, "w");
  EXPECT_TRUE(bit_identical(dequantize_qdq_weight(q), want));
}

TEST(QdqEncode, UnrepresentableGridsAreErrorsNamingTheWeight) {
  try {
    encode_qdq_weight(grid(4, {0.1f}, {0.3f}, 16), "conv1.weight");
    FAIL() << "zero 0.3 was encoded";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("conv1.weight"), std::string::npos) << e.what();
  }
  // A subnormal scale whose half rounds: (s/2) * 3 != s * 1.5.
  const float tiny = 3 * std::numeric_limits<float>::denorm_min();
  EXPECT_THROW(encode_qdq_weight(grid(2, {tiny}, {1.5f}, 4), "w"), ModelError);
  QuantizedTensor odd = grid(2, {0.1f, 0.2f, 0.3f}, {1, 1, 1}, 4);  // 3 groups along a 3x4 tensor: fine
  EXPECT_NO_THROW(encode_qdq_weight(odd, "w"));
  odd.shape = {4, 3};  // but 3 groups do not match axis 0 of [4, 3]
  EXPECT_THROW(encode_qdq_weight(odd, "w"), ModelError);
}

TEST(QdqEncode, OddElementCountsPackIntoWholeBytes) {
  const QuantizedTensor t = grid(3, {0.25f}, {3.5f}, 7);  // 7 values -> 4 bytes of INT4
  const QdqWeight q = encode_qdq_weight(t, "w");
  EXPECT_EQ(q.type, OnnxIntType::int4);
  const std::string raw = pack_int_values(q.type, q.values);
  EXPECT_EQ(raw.size(), 4u);
  EXPECT_EQ(unpack_int_values(q.type, raw, 7), q.values);
}

// The integer weights of a written QDQ model, decoded with the reference DequantizeLinear.
std::map<std::string, std::vector<float>> decode_weights(const std::string& bytes, int64_t* opset) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  *opset = m.opset_import(0).version();
  EXPECT_EQ(m.ir_version(), 10);
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  std::map<std::string, std::vector<float>> out;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "DequantizeLinear") continue;
    const auto &x = *inits.at(n.input(0)), &s = *inits.at(n.input(1));
    QdqWeight w;
    w.type = static_cast<OnnxIntType>(x.data_type());
    w.shape.assign(x.dims().begin(), x.dims().end());
    w.values = unpack_int_values(w.type, x.raw_data(), static_cast<size_t>(shape_numel(w.shape)));
    const size_t groups = s.dims_size() ? static_cast<size_t>(s.dims(0)) : 1;
    w.scale.resize(groups);
    std::memcpy(w.scale.data(), s.raw_data().data(), groups * sizeof(float));
    w.zero_point = n.input_size() > 2 ? unpack_int_values(w.type, inits.at(n.input(2))->raw_data(), groups)
                                      : std::vector<int32_t>(groups, 0);
    for (const auto& a : n.attribute())
      if (a.name() == "axis") w.axis = a.i();
    out[n.output(0)] = dequantize_qdq_weight(w);
  }
  return out;
}

TEST(QdqModel, FixtureModelsWriteEveryQuantizedWeightExactly) {
  struct Case {
    const char* model;
    const char* quantizer;
    int low, high;
  };
  for (const Case c : {Case{"resnet_cifar_optionA_bn", "auto", 2, 6}, Case{"resnet_cifar_optionA_folded", "mse", 2, 6},
                       Case{"vgg_small_bn", "paper", 3, 6}, Case{"mobilenetv2_small_bn", "auto", 4, 4}}) {
    QuantizeConfig cfg;
    cfg.low_bits = c.low;
    cfg.high_bits = c.high;
    cfg.quantizer = c.quantizer;
    const QuantizedModel m = quantize_model(import_onnx((test::fixtures_dir() / (std::string(c.model) + ".onnx")).string()), cfg);
    const QdqModel q = make_qdq_model(m);
    ASSERT_EQ(q.layers.size(), m.weights.size());
    for (const auto& l : q.layers) {
      EXPECT_NE(l.container, "FLOAT") << c.model << " " << l.weight << ": " << l.note;
      if (l.bits <= 3) {
        EXPECT_TRUE(l.container == "INT4" || l.container == "UINT4") << c.model << " " << l.weight;
      }
    }
    int64_t opset = 0;
    const auto decoded = decode_weights(export_onnx_bytes(q.graph, q.weights), &opset);
    EXPECT_EQ(opset, 21);
    EXPECT_EQ(decoded.size(), m.weights.size()) << c.model;
    for (const auto& [name, qt] : m.weights) {
      ASSERT_TRUE(decoded.count(name)) << c.model << " " << name;
      EXPECT_TRUE(bit_identical(decoded.at(name), m.graph.constant(name).f)) << c.model << " " << name;
    }
  }
}

std::string fixture_stem(const std::string& model) {
  const size_t cut = std::min(model.find("_bn"), model.find("_folded"));
  return model.substr(0, cut);
}

// quantize -> QDQ ONNX -> import (DequantizeLinear of initializers folds to FP32) gives the
// quantized weights bit for bit and the float export's outputs.
TEST(QdqModel, ImportedQdqFileMatchesTheFloatExport) {
  for (const char* model : {"resnet_cifar_optionA_bn", "resnet_cifar_optionA_folded", "vgg_small_bn", "mobilenetv2_small_bn_op11"}) {
    QuantizeConfig cfg;
    const QuantizedModel m = quantize_model(import_onnx((test::fixtures_dir() / (std::string(model) + ".onnx")).string()), cfg);
    const QdqModel q = make_qdq_model(m);
    const Graph from_qdq = import_onnx_bytes(export_onnx_bytes(q.graph, q.weights), model);
    const Graph from_float = import_onnx_bytes(export_onnx_bytes(m.graph), model);
    for (const auto& [name, qt] : m.weights) {
      ASSERT_TRUE(from_qdq.is_const(name)) << model << " " << name;
      EXPECT_TRUE(bit_identical(from_qdq.constant(name).f, m.graph.constant(name).f)) << model << " " << name;
    }
    const auto x = test::read_f32(test::fixtures_dir() / (fixture_stem(model) + ".input.f32"));
    Executor a(from_qdq), b(from_float);
    const std::vector<float> ya = a.run(x.data(), 4).f, yb = b.run(x.data(), 4).f;
    ASSERT_EQ(ya.size(), yb.size()) << model;
    for (size_t i = 0; i < ya.size(); ++i) EXPECT_NEAR(ya[i], yb[i], 1e-5f) << model << " " << i;
  }
}

// Old-form ops (attributes that became inputs, Softmax's 2-D coercion, Dropout) give the same
// outputs after the upgrade to opset 21, on the runtime that implements both forms.
TEST(QdqModel, OpsetUpgradeKeepsTheModelsOutputs) {
  Graph g;
  g.opset = 9;
  g.inputs.push_back({"x", {-1, 2, 3, 4}});
  g.outputs.push_back({"y", {}});
  using Ints = std::vector<int64_t>;
  g.nodes = {
      Node{"slice", "Slice", {"x"}, {"s"}, {{"starts", Ints{1}}, {"ends", Ints{3}}, {"axes", Ints{3}}}},
      Node{"pad", "Pad", {"s"}, {"p"}, {{"pads", Ints{0, 0, 1, 0, 0, 0, 0, 2}}, {"value", 0.5f}}},
      Node{"clip", "Clip", {"p"}, {"c"}, {{"min", -0.2f}, {"max", 0.9f}}},
      Node{"unsq", "Unsqueeze", {"c"}, {"u"}, {{"axes", Ints{0}}}},
      Node{"sq", "Squeeze", {"u"}, {"q"}, {{"axes", Ints{0}}}},
      Node{"drop", "Dropout", {"q"}, {"d"}, {{"ratio", 0.5f}}},
      Node{"softmax", "Softmax", {"d"}, {"y"}, {{"axis", int64_t{1}}}},
  };
  std::vector<float> x(2 * 2 * 3 * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7f * static_cast<float>(i));
  Graph up = g;
  upgrade_opset(up);
  EXPECT_EQ(up.opset, 21);
  Executor a(g), b(up);
  const Tensor ya = a.run(x.data(), 2);
  const Tensor yb = b.run(x.data(), 2);
  EXPECT_EQ(ya.shape, yb.shape);
  ASSERT_EQ(ya.f.size(), yb.f.size());
  for (size_t i = 0; i < ya.f.size(); ++i) EXPECT_NEAR(ya.f[i], yb.f[i], 1e-6f) << i;
  for (const char* fixture : {"resnet18_small_bn_op11", "mobilenetv2_small_bn_op11"}) {
    const Graph old = import_onnx((test::fixtures_dir() / (std::string(fixture) + ".onnx")).string());
    Graph now = old;
    upgrade_opset(now);
    const auto in = test::read_f32(test::fixtures_dir() / (fixture_stem(fixture) + ".input.f32"));
    Executor e1(old), e2(now);
    EXPECT_EQ(e1.run(in.data(), 4).f, e2.run(in.data(), 4).f) << fixture;
  }
}

}  // namespace
}  // namespace dfmpc
