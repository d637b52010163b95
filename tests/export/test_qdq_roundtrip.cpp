// The QDQ round trip: quantize -> standard QDQ ONNX (INT4/INT8 + DequantizeLinear, opset 21)
// -> import (constant DequantizeLinear folded to FP32) gives the same weights bit for bit and
// logits within 1e-5 of the `--weights float` export, on the embedded demo model.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "export/qdq_model.h"
#include "onnx/onnx_io.h"
#include "runtime/executor.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

TEST(QdqRoundTrip, DemoModelLogitsMatchTheFloatExport) {
  const Graph g = import_onnx((test::source_dir() / "models" / "fmnist_resnet14.onnx").string());
  for (auto [low, high] : {std::pair{2, 6}, std::pair{3, 6}, std::pair{4, 4}}) {
    QuantizeConfig cfg;
    cfg.low_bits = low;
    cfg.high_bits = high;
    const QuantizedModel m = quantize_model(g, cfg);
    const QdqModel q = make_qdq_model(m);
    ASSERT_EQ(q.weights.size(), m.weights.size()) << "every quantized weight in integer form";
    int four_bit = 0;
    for (const auto& l : q.layers) four_bit += l.container == "INT4" || l.container == "UINT4";
    EXPECT_GT(four_bit, 0);
    const Graph from_qdq = import_onnx_bytes(export_onnx_bytes(q.graph, q.weights), "qdq");
    const Graph from_float = import_onnx_bytes(export_onnx_bytes(m.graph), "float");
    EXPECT_EQ(from_qdq.opset, 21);
    int compared = 0;
    for (const auto& [name, qt] : m.weights) {
      ASSERT_TRUE(from_qdq.is_const(name)) << name << " not folded to a constant";
      EXPECT_EQ(from_qdq.constant(name).f, from_float.constant(name).f) << name;
      ++compared;
    }
    EXPECT_GT(compared, 10);
    for (const auto& n : from_qdq.nodes) EXPECT_NE(n.op, "DequantizeLinear") << n.name;

    const Shape in = from_float.inputs.at(0).shape;
    const int64_t batch = 8;
    std::vector<float> x(static_cast<size_t>(batch * shape_numel(Shape(in.begin() + 1, in.end()))));
    std::mt19937 rng(11);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (auto& v : x) v = d(rng);
    Executor a(from_qdq), b(from_float);
    const std::vector<float> ya = a.run(x.data(), batch).f;
    const std::vector<float> yb = b.run(x.data(), batch).f;
    ASSERT_EQ(ya.size(), yb.size());
    float worst = 0;
    for (size_t k = 0; k < ya.size(); ++k) worst = std::max(worst, std::abs(ya[k] - yb[k]));
    EXPECT_LE(worst, 1e-5f) << low << "/" << high;
  }
}

}  // namespace
}  // namespace dfmpc
