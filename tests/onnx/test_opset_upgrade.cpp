// Opset 21 forms of the ops whose signatures changed since the model's opset.
#include <gtest/gtest.h>

#include "onnx/opset_upgrade.h"

namespace dfmpc {
namespace {

Graph single(int64_t opset, Node n) {
  Graph g;
  g.opset = opset;
  g.inputs.push_back({"x", {1, 2, 3, 4}});
  g.outputs.push_back({n.outputs.at(0), {}});
  g.nodes.push_back(std::move(n));
  return g;
}

const Node& only(const Graph& g) {
  EXPECT_EQ(g.nodes.size(), 1u);
  return g.nodes.at(0);
}

std::vector<int64_t> const_ints(const Graph& g, const std::string& v) { return g.constant(v).as_i64(); }

TEST(OpsetUpgrade, ReduceAxesBecomeAnInputAt18) {
  Graph g = single(13, Node{"r", "ReduceMean", {"x"}, {"y"}, {{"axes", std::vector<int64_t>{2, 3}}, {"keepdims", int64_t{0}}}});
  upgrade_opset(g);
  EXPECT_EQ(g.opset, 21);
  const Node& n = only(g);
  ASSERT_EQ(n.inputs.size(), 2u);
  EXPECT_EQ(const_ints(g, n.inputs[1]), (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(n.has("axes"));
  EXPECT_EQ(n.attr_i("keepdims", 1), 0);
  // ReduceSum moved at 13: an opset-13 ReduceSum is already in its final form.
  Graph s = single(13, Node{"s", "ReduceSum", {"x", "a"}, {"y"}, {}});
  s.initializers["a"] = Tensor::from_i64({1}, {1});
  upgrade_opset(s);
  EXPECT_EQ(only(s).inputs, (std::vector<std::string>{"x", "a"}));
  // No axes: reduce everything, in both forms.
  Graph all = single(11, Node{"m", "ReduceMax", {"x"}, {"y"}, {}});
  upgrade_opset(all);
  EXPECT_EQ(only(all).inputs.size(), 1u);
}

TEST(OpsetUpgrade, SplitAttributeBecomesInputOrNumOutputs) {
  Graph g = single(11, Node{"s", "Split", {"x"}, {"a", "b"}, {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{1, 1}}}});
  upgrade_opset(g);
  ASSERT_EQ(only(g).inputs.size(), 2u);
  EXPECT_EQ(const_ints(g, only(g).inputs[1]), (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(only(g).has("num_outputs"));
  Graph even = single(13, Node{"s", "Split", {"x"}, {"a", "b", "c"}, {{"axis", int64_t{3}}}});
  upgrade_opset(even);
  EXPECT_EQ(only(even).attr_i("num_outputs", 0), 3);
}

TEST(OpsetUpgrade, SqueezeSlicePadClipAttributesBecomeInputs) {
  Graph sq = single(11, Node{"q", "Unsqueeze", {"x"}, {"y"}, {{"axes", std::vector<int64_t>{0}}}});
  upgrade_opset(sq);
  EXPECT_EQ(const_ints(sq, only(sq).inputs.at(1)), (std::vector<int64_t>{0}));

  Graph sl = single(9, Node{"s", "Slice", {"x"}, {"y"},
                            {{"starts", std::vector<int64_t>{1}}, {"ends", std::vector<int64_t>{3}}, {"axes", std::vector<int64_t>{2}}}});
  upgrade_opset(sl);
  const Node& s = only(sl);
  ASSERT_EQ(s.inputs.size(), 4u);
  EXPECT_EQ(const_ints(sl, s.inputs[1]), (std::vector<int64_t>{1}));
  EXPECT_EQ(const_ints(sl, s.inputs[2]), (std::vector<int64_t>{3}));
  EXPECT_EQ(const_ints(sl, s.inputs[3]), (std::vector<int64_t>{2}));
  EXPECT_TRUE(s.attrs.empty());

  Graph pd = single(10, Node{"p", "Pad", {"x"}, {"y"}, {{"pads", std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1}}, {"value", 2.5f}}});
  upgrade_opset(pd);
  const Node& p = only(pd);
  ASSERT_EQ(p.inputs.size(), 3u);
  EXPECT_EQ(const_ints(pd, p.inputs[1]).size(), 8u);
  EXPECT_EQ(pd.constant(p.inputs[2]).f, std::vector<float>{2.5f});
  EXPECT_FALSE(p.has("value"));

  Graph cl = single(10, Node{"c", "Clip", {"x"}, {"y"}, {{"max", 6.0f}}});
  upgrade_opset(cl);
  const Node& c = only(cl);
  ASSERT_EQ(c.inputs.size(), 3u);
  EXPECT_EQ(c.inputs[1], "");  // no min: the omitted input means the float range, as before
  EXPECT_EQ(cl.constant(c.inputs[2]).f, std::vector<float>{6.0f});
}

TEST(OpsetUpgrade, OldSoftmaxKeepsItsTwoDimensionalMeaning) {
  Graph g = single(11, Node{"sm", "Softmax", {"x"}, {"y"}, {{"axis", int64_t{1}}}});
  upgrade_opset(g);
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.nodes[0].op, "Flatten");
  EXPECT_EQ(g.nodes[0].attr_i("axis", 0), 1);
  EXPECT_EQ(g.nodes[1].op, "Softmax");
  EXPECT_EQ(g.nodes[1].attr_i("axis", 0), -1);
  EXPECT_EQ(g.nodes[3].op, "Reshape");
  EXPECT_EQ(g.nodes[3].outputs[0], "y");
  Graph last = single(11, Node{"sm", "LogSoftmax", {"x"}, {"y"}, {{"axis", int64_t{-1}}}});
  upgrade_opset(last);
  EXPECT_EQ(only(last).op, "LogSoftmax");
}

TEST(OpsetUpgrade, RemovedAttributesAndOps) {
  Graph bn = single(7, Node{"bn", "BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, {{"spatial", int64_t{1}}}});
  upgrade_opset(bn);
  EXPECT_FALSE(only(bn).has("spatial"));
  Graph bn0 = single(7, Node{"bn", "BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, {{"spatial", int64_t{0}}}});
  EXPECT_THROW(upgrade_opset(bn0), ModelError);

  Graph dr = single(11, Node{"d", "Dropout", {"x"}, {"y", "mask"}, {{"ratio", 0.3f}}});
  upgrade_opset(dr);
  EXPECT_EQ(only(dr).op, "Identity");
  EXPECT_EQ(only(dr).outputs.size(), 1u);

  Graph up = single(7, Node{"u", "Upsample", {"x"}, {"y"}, {{"scales", std::vector<float>{1, 1, 2, 2}}, {"mode", std::string("nearest")}}});
  upgrade_opset(up);
  const Node& r = only(up);
  EXPECT_EQ(r.op, "Resize");
  ASSERT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.inputs[1], "");
  EXPECT_EQ(up.constant(r.inputs[2]).f, (std::vector<float>{1, 1, 2, 2}));
  EXPECT_EQ(r.attr_s("coordinate_transformation_mode", ""), "asymmetric");
  EXPECT_EQ(r.attr_s("nearest_mode", ""), "floor");

  Graph rs = single(10, Node{"r", "Resize", {"x", "sc"}, {"y"}, {{"mode", std::string("linear")}}});
  upgrade_opset(rs);
  EXPECT_EQ(only(rs).inputs, (std::vector<std::string>{"x", "", "sc"}));
  EXPECT_FALSE(only(rs).has("nearest_mode"));
}

TEST(OpsetUpgrade, UnknownOpIsAOneLineErrorNamingTheNode) {
  Graph g = single(13, Node{"my_lstm", "LSTM", {"x"}, {"y"}, {}});
  try {
    upgrade_opset(g);
    FAIL() << "LSTM was passed through";
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("my_lstm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--weights float"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(OpsetUpgrade, UnchangedOpsPassThrough) {
  Graph g = single(13, Node{"c", "Conv", {"x", "w"}, {"y"}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}});
  const Node before = g.nodes[0];
  upgrade_opset(g);
  EXPECT_EQ(only(g).inputs, before.inputs);
  EXPECT_EQ(only(g).attrs.size(), 1u);
  EXPECT_TRUE(g.initializers.empty());
}

}  // namespace
}  // namespace dfmpc
