// QuantizeLinear / DequantizeLinear at run time: ONNX rounding (half to even) and saturation,
// the fused Q->DQ step against the two reference ops, and the QDQ fixtures in the layout ONNX
// Runtime's quantize_static writes against ONNX Runtime's own logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "runtime/ops/ops.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

Tensor zero_point(IntType t, std::vector<int64_t> v, Shape s = {}) {
  Tensor z = Tensor::from_i64(std::move(s), std::move(v));
  z.itype = t;
  return z;
}

std::vector<int64_t> quantize(const std::vector<float>& x, float scale, const Tensor& zero) {
  Node n{"q", "QuantizeLinear", {"x", "s", "z"}, {"y"}, {}};
  const Tensor xt = Tensor::from_f32({static_cast<int64_t>(x.size())}, x);
  const Tensor st = Tensor::from_f32({}, {scale});
  std::vector<const Tensor*> in{&xt, &st, &zero};
  Tensor y;
  std::vector<Tensor*> out{&y};
  ops::quantize_linear(n, 13, in, out);
  EXPECT_EQ(y.itype, zero.itype);
  return y.i;
}

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  const std::vector<float> x{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f, 1000.0f, -1000.0f};
  EXPECT_EQ(quantize(x, 1.0f, zero_point(IntType::u8, {0})), (std::vector<int64_t>{0, 2, 2, 0, 0, 0, 3, 255, 0}));
  EXPECT_EQ(quantize(x, 1.0f, zero_point(IntType::i8, {0})), (std::vector<int64_t>{0, 2, 2, 0, -2, -2, 3, 127, -128}));
  EXPECT_EQ(quantize(x, 1.0f, zero_point(IntType::i4, {0})), (std::vector<int64_t>{0, 2, 2, 0, -2, -2, 3, 7, -8}));
  EXPECT_EQ(quantize(x, 1.0f, zero_point(IntType::u4, {3})), (std::vector<int64_t>{3, 5, 5, 3, 1, 1, 6, 15, 0}));
  EXPECT_EQ(quantize(x, 0.5f, zero_point(IntType::u8, {128})),
            (std::vector<int64_t>{129, 131, 133, 127, 125, 123, 135, 255, 0}));
}

// x -> [Conv 1x1 identity] -> QuantizeLinear -> DequantizeLinear -> y; the identity conv puts
// the pair on the fast path's blocked layout (3 channels padded to 8).
Graph qdq_graph(bool with_conv, bool per_axis) {
  Graph g;
  g.inputs = {{"x", {-1, 3, 5, 4}}};
  g.outputs = {{"y", {}}};
  const std::string cur = with_conv ? "c" : "x";
  if (with_conv) {
    std::vector<float> w(9, 0.0f);
    for (int c = 0; c < 3; ++c) w[c * 3 + c] = 1.0f;
    g.initializers["w"] = Tensor::from_f32({3, 3, 1, 1}, w);
    g.nodes.push_back({"conv", "Conv", {"x", "w"}, {"c"}, {}});
  }
  g.initializers["s"] = per_axis ? Tensor::from_f32({3}, {0.05f, 0.1f, 0.2f}) : Tensor::from_f32({}, {0.1f});
  g.initializers["z"] = per_axis ? zero_point(IntType::u8, {10, 128, 250}, {3}) : zero_point(IntType::u8, {128});
  g.nodes.push_back({"q", "QuantizeLinear", {cur, "s", "z"}, {"xq"}, {}});
  g.nodes.push_back({"dq", "DequantizeLinear", {"xq", "s", "z"}, {"y"}, {}});
  return g;
}

TEST(QuantizeLinear, FusedPairMatchesTheReferenceOpsExactly) {
  std::vector<float> x(2 * 3 * 5 * 4);
  for (size_t k = 0; k < x.size(); ++k)  // ties at multiples of 0.05, values past the range
    x[k] = static_cast<float>(static_cast<int>(k) - 60) * 0.35f + (k % 3 == 0 ? 0.05f : 0.0f);
  for (bool with_conv : {false, true})
    for (bool per_axis : {false, true}) {
      const Graph g = qdq_graph(with_conv, per_axis);
      Executor fast(g), ref(g, ExecOptions{true, 0});
      if (!with_conv) {
        EXPECT_EQ(fast.step_count(), 1u) << "the pair is one step";
      }
      const std::vector<float> a = fast.run(x.data(), 2).f;
      const std::vector<float> b = ref.run(x.data(), 2).f;
      EXPECT_EQ(a, b) << "conv " << with_conv << " per-axis " << per_axis;
      // Saturation shows: the largest input maps to the top of the UINT8 grid.
      EXPECT_FLOAT_EQ(*std::max_element(b.begin(), b.end()), 0.1f * 127);
    }
}

class QdqFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(QdqFixture, MatchesOnnxRuntimeLogits) {
  const auto dir = test::fixtures_dir();
  const Graph g = import_onnx((dir / ("qdq_small_" + GetParam() + ".onnx")).string());
  for (const auto& n : g.nodes) {
    if (n.op == "DequantizeLinear") {
      EXPECT_GE(g.producer_of(n.inputs[0]), 0) << "DQ of a constant left: " << n.name;
    }
  }
  for (const char* w : {"conv1_dq", "conv2_dq", "conv3_dq", "fc_dq", "conv1_bias_dq", "fc_bias_dq"})
    EXPECT_TRUE(g.is_const(w) && g.constant(w).is_f32()) << w;
  const auto input = test::read_f32(dir / "qdq_small.input.f32");
  const auto expected = test::read_f32(dir / ("qdq_small_" + GetParam() + ".ort.f32"));
  for (bool reference : {false, true}) {
    Executor ex(g, ExecOptions{reference, 0});
    const Tensor& out = ex.run(input.data(), 4);
    ASSERT_EQ(out.f.size(), expected.size());
    float max_diff = 0;
    for (size_t k = 0; k < expected.size(); ++k) max_diff = std::max(max_diff, std::abs(out.f[k] - expected[k]));
    EXPECT_LE(max_diff, 1e-4f) << GetParam() << (reference ? " reference" : " fast");
    std::printf("qdq_small_%s %s: max |dfmpc - ORT| = %.3g\n", GetParam().c_str(), reference ? "reference" : "fast",
                max_diff);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, QdqFixture, ::testing::Values("int8", "int4"));

}  // namespace
}  // namespace dfmpc
