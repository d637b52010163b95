// Reference operators on hostile parameters (as a malformed model's constant subgraph hands
// them over during folding): a ModelError naming the node, or a well-defined result, never
// integer overflow, a division by zero or an out-of-range index.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>

#include "runtime/ops/op_registry.h"

namespace dfmpc {
namespace {

Tensor run(const std::string& op, const std::vector<Tensor>& inputs, std::map<std::string, AttrValue> attrs = {}) {
  Node n;
  n.name = "hostile";
  n.op = op;
  n.attrs = std::move(attrs);
  std::vector<const Tensor*> ins;
  for (const auto& t : inputs) ins.push_back(&t);
  Tensor y;
  std::vector<Tensor*> outs{&y};
  find_op(op)->run(n, 13, ins, outs);
  return y;
}

Tensor i64(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_i64({n}, std::move(v));
}

TEST(OpsMalformed, SliceWithExtremeStepsAndBounds) {
  const Tensor x = Tensor::from_f32({5}, {0, 1, 2, 3, 4});
  EXPECT_EQ(run("Slice", {x, i64({1}), i64({INT64_MAX}), i64({0}), i64({INT64_MAX})}).f, std::vector<float>{1});
  EXPECT_EQ(run("Slice", {x, i64({-1}), i64({INT64_MIN}), i64({0}), i64({INT64_MIN})}).f, std::vector<float>{4});
  EXPECT_EQ(run("Slice", {x, i64({INT64_MIN}), i64({INT64_MAX}), i64({0}), i64({2})}).f, (std::vector<float>{0, 2, 4}));
  EXPECT_EQ(run("Slice", {x, i64({4}), i64({INT64_MIN}), i64({0}), i64({-3})}).f, (std::vector<float>{4, 1}));
}

TEST(OpsMalformed, PadOverflowIsAnError) {
  const Tensor x = Tensor::from_f32({2}, {1, 2});
  EXPECT_THROW(run("Pad", {x, i64({INT64_MAX, 1})}), ModelError);
  EXPECT_THROW(run("Pad", {x, i64({-5, 0})}), ModelError);
}

// Fuzz finding 1: a Pad to [0, 2^40, 2^40] has no elements but strides that overflow.
TEST(OpsMalformed, PadToAnEmptyShapeWithHugeDimensions) {
  const Tensor x = Tensor::from_f32({0, 1, 1}, {});
  EXPECT_THROW(run("Pad", {x, i64({0, 0, 0, 0, int64_t{1} << 40, int64_t{1} << 40})}), ModelError);
}

TEST(OpsMalformed, ReshapeTargetOverflowAndBadEntries) {
  const Tensor x = Tensor::from_f32({4}, {1, 2, 3, 4});
  EXPECT_THROW(run("Reshape", {x, i64({int64_t{1} << 40, int64_t{1} << 40, -1})}), ModelError);
  EXPECT_THROW(run("Reshape", {x, i64({-2, -2})}), ModelError);
  EXPECT_EQ(run("Reshape", {x, i64({2, -1})}).shape, (Shape{2, 2}));
}

TEST(OpsMalformed, UnsqueezeRepeatedAxis) {
  const Tensor x = Tensor::from_f32({2}, {1, 2});
  EXPECT_THROW(run("Unsqueeze", {x, i64({0, 0})}), ModelError);
}

TEST(OpsMalformed, MatMulWithEmptyInnerDimension) {
  const Tensor a = Tensor::from_f32({3, 0}, {}), b = Tensor::from_f32({0, 2}, {});
  const Tensor y = run("MatMul", {a, b});
  EXPECT_EQ(y.shape, (Shape{3, 2}));
  EXPECT_EQ(y.f, std::vector<float>(6, 0.0f));
}

TEST(OpsMalformed, HugeConstantOfShapeIsRefused) {
  EXPECT_THROW(run("ConstantOfShape", {i64({int64_t{1} << 40, int64_t{1} << 40})}), ModelError);
  EXPECT_THROW(run("ConstantOfShape", {i64({3, -4})}), ModelError);
}

TEST(OpsMalformed, CastOfNonFiniteFloatsToIntegerSaturates) {
  const Tensor x = Tensor::from_f32({3}, {std::nanf(""), 1e30f, -1e30f});
  EXPECT_EQ(run("Cast", {x}, {{"to", int64_t{7}}}).i, (std::vector<int64_t>{0, INT64_MAX, INT64_MIN}));
}

}  // namespace
}  // namespace dfmpc
