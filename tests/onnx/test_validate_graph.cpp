// Malformed models built from a tiny valid CNN with one thing broken: each import fails with
// one line naming the node or tensor (validate_graph.h), never a crash.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>

#include "onnx/onnx_io.h"
#include "test_paths.h"
#include "tiny_model.h"

namespace dfmpc {
namespace {

using test::tiny_model;

std::string import_error(const std::string& bytes) {
  try {
    import_onnx_bytes(bytes, "model 'bad.onnx'");
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

std::string import_error(const Graph& g) { return import_error(export_onnx_bytes(g)); }

// Fails the test unless importing g fails with a message holding every needle.
void expect_rejected(const Graph& g, std::initializer_list<const char*> needles) {
  const std::string err = import_error(g);
  ASSERT_FALSE(err.empty()) << "accepted";
  for (const char* s : needles) EXPECT_NE(err.find(s), std::string::npos) << "'" << s << "' not in: " << err;
}

Node* node(Graph& g, const std::string& name) {
  for (auto& n : g.nodes)
    if (n.name == name) return &n;
  ADD_FAILURE() << "no node " << name;
  return &g.nodes.front();
}

TEST(ValidateGraph, TinyModelImports) { EXPECT_EQ(import_error(tiny_model()), ""); }

TEST(ValidateGraph, BatchNormWithNaNScale) {
  Graph g = tiny_model();
  g.initializers["bn_scale"].f[2] = std::nanf("");
  expect_rejected(g, {"bn1", "scale 'bn_scale'", "NaN", "element 2"});
}

TEST(ValidateGraph, BatchNormWithNegativeVariance) {
  Graph g = tiny_model();
  g.initializers["bn_var"].f[1] = -0.5f;
  expect_rejected(g, {"bn1", "variance 'bn_var' is negative", "channel 1"});
}

TEST(ValidateGraph, BatchNormWithInfMeanOrMismatchedSizes) {
  Graph g = tiny_model();
  g.initializers["bn_mean"].f[0] = INFINITY;
  expect_rejected(g, {"bn1", "mean 'bn_mean'", "Inf"});
  g = tiny_model();
  g.initializers["bn_bias"] = Tensor::from_f32({3}, {0, 0, 0});
  expect_rejected(g, {"bn1", "bias 'bn_bias' has 3 values"});
}

TEST(ValidateGraph, NonFiniteConvAndGemmWeights) {
  Graph g = tiny_model();
  g.initializers["w2"].f[17] = -INFINITY;
  expect_rejected(g, {"conv2", "weight 'w2'", "Inf"});
  g = tiny_model();
  g.initializers["wfc"].f[0] = std::nanf("");
  expect_rejected(g, {"'fc'", "weight 'wfc'", "NaN"});
}

TEST(ValidateGraph, TransposeWithRepeatedAxis) {
  Graph g = tiny_model();
  Node t;
  t.name = "bad_transpose";
  t.op = "Transpose";
  t.inputs = {"f"};
  t.outputs = {"ft"};
  t.attrs["perm"] = std::vector<int64_t>{0, 1, 1, 3};
  g.nodes.insert(g.nodes.begin() + 6, t);
  node(g, "flatten")->inputs[0] = "ft";
  expect_rejected(g, {"bad_transpose", "perm [0,1,1,3] repeats axis 1"});
  node(g, "bad_transpose")->attrs["perm"] = std::vector<int64_t>{0, 1, 2, 4};
  expect_rejected(g, {"bad_transpose", "not a permutation"});
}

TEST(ValidateGraph, ReshapeTargets) {
  Graph g = tiny_model();
  g.initializers["flat"] = Tensor::from_i64({2}, {-2, -96});
  expect_rejected(g, {"flatten", "entry -2 (below -1)"});
  g.initializers["flat"] = Tensor::from_i64({2}, {-1, -1});
  expect_rejected(g, {"flatten", "more than one -1"});
  // 0 copies the input's dimension: [N,4,1,1] -> [N,4] stays valid.
  g.initializers["flat"] = Tensor::from_i64({2}, {0, 4});
  EXPECT_EQ(import_error(g), "");
}

TEST(ValidateGraph, Int64ConvWeight) {
  Graph g = tiny_model();
  std::vector<int64_t> w(108, 1);
  g.initializers["w1"] = Tensor::from_i64({4, 3, 3, 3}, w);
  expect_rejected(g, {"conv1", "'w1' is int64", "Conv needs float"});
}

TEST(ValidateGraph, WeightsMustBeConstantsOfTheRightRank) {
  Graph g = tiny_model();
  node(g, "fc")->inputs[1] = "h";
  expect_rejected(g, {"'fc'", "weight 'h' must be a constant initializer"});
  g = tiny_model();
  g.initializers["w2"] = Tensor::from_f32({4, 36}, std::vector<float>(144, 0.1f));
  expect_rejected(g, {"conv2", "weight 'w2' must have rank 4"});
  g = tiny_model();
  g.initializers["b1"] = Tensor::from_f32({5}, std::vector<float>(5, 0.1f));
  expect_rejected(g, {"conv1", "bias 'b1' has 5 values for 4 output channels"});
}

TEST(ValidateGraph, OverflowingInitializerDims) {
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(export_onnx_bytes(tiny_model())));
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == "flat") {
      t.clear_dims();
      t.add_dims(int64_t{1} << 40);
      t.add_dims(int64_t{1} << 40);
    }
  std::string bytes;
  m.SerializeToString(&bytes);
  const std::string err = import_error(bytes);
  EXPECT_NE(err.find("tensor 'flat'"), std::string::npos) << err;
  EXPECT_NE(err.find("overflows"), std::string::npos) << err;
  EXPECT_EQ(err.find("expected 0"), std::string::npos) << err;
}

TEST(ValidateGraph, ConstantOfShapeTooLargeToFold) {
  Graph g = tiny_model();
  Node c;
  c.name = "huge";
  c.op = "ConstantOfShape";
  c.inputs = {"huge_shape"};
  c.outputs = {"huge_out"};
  g.initializers["huge_shape"] = Tensor::from_i64({2}, {int64_t{1} << 20, int64_t{1} << 20});
  g.nodes.insert(g.nodes.begin(), c);
  Node add;
  add.name = "use_huge";
  add.op = "Add";
  add.inputs = {"x", "huge_out"};
  add.outputs = {"x2"};
  g.nodes.insert(g.nodes.begin() + 1, add);
  node(g, "conv1")->inputs[0] = "x2";
  expect_rejected(g, {"[1048576,1048576] is too large"});
}

TEST(ValidateGraph, NodeShapeAndAttributeErrors) {
  Graph g = tiny_model();
  node(g, "relu1")->inputs.push_back("b");
  expect_rejected(g, {"relu1", "has 2 inputs, expected 1"});
  g = tiny_model();
  node(g, "conv1")->attrs["strides"] = 2.0f;
  expect_rejected(g, {"conv1", "attribute 'strides' must be a list of integers"});
  g = tiny_model();
  node(g, "conv1")->attrs["strides"] = std::vector<int64_t>{0, 1};
  expect_rejected(g, {"conv1", "strides [0,1] must be positive"});
  g = tiny_model();
  node(g, "conv2")->attrs["pads"] = std::vector<int64_t>{1, -1, 1, 1};
  expect_rejected(g, {"conv2", "must be non-negative"});
  g = tiny_model();
  node(g, "conv2")->attrs["group"] = int64_t{0};
  expect_rejected(g, {"conv2", "group 0 must be positive"});
  g = tiny_model();
  node(g, "bn1")->attrs["epsilon"] = std::nanf("");
  expect_rejected(g, {"bn1", "epsilon is not finite"});
}

TEST(ValidateGraph, ValuesDefinedOnceAndTypesConsistent) {
  Graph g = tiny_model();
  node(g, "relu2")->outputs[0] = "b";
  node(g, "pool")->inputs[0] = "b";
  expect_rejected(g, {"relu2", "output 'b' is already defined"});
  g = tiny_model();
  Node cast;
  cast.name = "to_int";
  cast.op = "Cast";
  cast.inputs = {"e"};
  cast.outputs = {"e_int"};
  cast.attrs["to"] = int64_t{7};
  g.nodes.insert(g.nodes.begin() + 5, cast);
  node(g, "pool")->inputs[0] = "e_int";
  expect_rejected(g, {"pool", "'e_int' is int64", "GlobalAveragePool needs float"});
  node(g, "to_int")->attrs["to"] = int64_t{8};  // STRING
  expect_rejected(g, {"to_int", "Cast to data type 8"});
}

TEST(ValidateGraph, GraphInputWithInvalidDimension) {
  Graph g = tiny_model();
  g.inputs[0].shape = {-1, 3, -5, 8};
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(export_onnx_bytes(g)));
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(2)->set_dim_value(-5);
  std::string bytes;
  m.SerializeToString(&bytes);
  const std::string err = import_error(bytes);
  EXPECT_NE(err.find("graph input 'x' has invalid dimension -5"), std::string::npos) << err;
}

}  // namespace
}  // namespace dfmpc
