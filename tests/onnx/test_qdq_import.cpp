// QuantizeLinear / DequantizeLinear models: integer tensor decoding (INT4 / UINT4 nibbles,
// INT8 .. INT32), constant DequantizeLinear folded to FP32 at import, opsets up to 21, and
// one-line errors naming the node or tensor for malformed QDQ.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "onnx/onnx_io.h"

namespace dfmpc {
namespace {

constexpr int kInt4 = 22, kUint4 = 21;

// A model y = x + DequantizeLinear(q, scale[, zero]) with q, scale, zero as initializers.
struct QdqModel {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  onnx::NodeProto* dq;

  explicit QdqModel(const std::vector<int64_t>& x_shape, int opset = 13) {
    m.set_ir_version(opset >= 21 ? 10 : 7);
    m.add_opset_import()->set_version(opset);
    g = m.mutable_graph();
    auto* in = g->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    for (int64_t d : x_shape) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
    g->add_output()->set_name("y");
    dq = g->add_node();
    dq->set_op_type("DequantizeLinear");
    dq->set_name("w_dq");
    dq->add_input("q");
    dq->add_input("scale");
    dq->add_output("w");
    auto* add = g->add_node();
    add->set_op_type("Add");
    add->set_name("add");
    add->add_input("x");
    add->add_input("w");
    add->add_output("y");
  }
  onnx::TensorProto* tensor(const std::string& name, int type, const std::vector<int64_t>& dims) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  }
  void scale(const std::vector<float>& s, const std::vector<int64_t>& dims) {
    auto* t = tensor("scale", onnx::TensorProto::FLOAT, dims);
    for (float v : s) t->add_float_data(v);
  }
  void zero(int type, const std::vector<int64_t>& dims, const std::string& raw) {
    tensor("zero", type, dims)->set_raw_data(raw);
    dq->add_input("zero");
  }
  void attr(const std::string& name, int64_t v) {
    auto* a = dq->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  Graph import() const { return import_onnx_bytes(m.SerializeAsString(), "model 'qdq.onnx'"); }
  std::string error() const {
    try {
      import();
    } catch (const ModelError& e) {
      return e.what();
    }
    return "";
  }
};

std::vector<float> folded_weight(const QdqModel& q) {
  const Graph g = q.import();
  EXPECT_TRUE(g.is_const("w"));  // the DequantizeLinear folded at import
  EXPECT_EQ(g.nodes.size(), 1u);
  return g.constant("w").f;
}

std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s.push_back(static_cast<char>(b));
  return s;
}

TEST(QdqImport, Int4NibblesLowFirstSignExtendedOddCount) {
  // Five values in three bytes: low nibble first, the last byte's high nibble is padding.
  const std::string raw = bytes({0x21, 0xF8, 0x07});
  QdqModel s({5});
  s.tensor("q", kInt4, {5})->set_raw_data(raw);
  s.scale({1.0f}, {});
  EXPECT_EQ(folded_weight(s), (std::vector<float>{1, 2, -8, -1, 7}));
  QdqModel u({5});
  u.tensor("q", kUint4, {5})->set_raw_data(raw);
  u.scale({0.5f}, {});
  u.zero(kUint4, {}, bytes({0x08}));
  EXPECT_EQ(folded_weight(u), (std::vector<float>{-3.5f, -3.0f, 0.0f, 3.5f, -0.5f}));
}

TEST(QdqImport, Int4InInt32DataIsPackedBytes) {
  QdqModel m({3});
  auto* t = m.tensor("q", kInt4, {3});
  t->add_int32_data(0x9E);  // 14 -> -2, 9 -> -7
  t->add_int32_data(0x03);
  m.scale({2.0f}, {});
  EXPECT_EQ(folded_weight(m), (std::vector<float>{-4, -14, 6}));
}

TEST(QdqImport, Int4DataTooShortNamesTheTensor) {
  QdqModel m({2, 3});
  m.tensor("q", kInt4, {2, 3})->set_raw_data(bytes({0x11, 0x22}));
  m.scale({1.0f}, {});
  const std::string err = m.error();
  EXPECT_NE(err.find("INT4 tensor 'q' holds 2 bytes"), std::string::npos) << err;
  EXPECT_NE(err.find("need 3"), std::string::npos) << err;
}

TEST(QdqImport, PerAxisOnAxis0And1AndPerTensor) {
  const std::string codes = bytes({1, 2, 3, 0xFF, 0xFE, 0xFD});  // INT8 [2, 3]: 1 2 3 / -1 -2 -3
  QdqModel a0({2, 3});
  a0.tensor("q", onnx::TensorProto::INT8, {2, 3})->set_raw_data(codes);
  a0.scale({1.0f, 10.0f}, {2});
  a0.attr("axis", 0);
  EXPECT_EQ(folded_weight(a0), (std::vector<float>{1, 2, 3, -10, -20, -30}));
  QdqModel a1({2, 3});
  a1.tensor("q", onnx::TensorProto::INT8, {2, 3})->set_raw_data(codes);
  a1.scale({1.0f, 10.0f, 100.0f}, {3});
  a1.zero(onnx::TensorProto::INT8, {3}, bytes({0, 1, 0xFF}));  // 0, 1, -1
  EXPECT_EQ(folded_weight(a1), (std::vector<float>{1, 10, 400, -1, -30, -200}));
  QdqModel neg({2, 3});  // axis -1 = axis 1
  neg.tensor("q", onnx::TensorProto::INT8, {2, 3})->set_raw_data(codes);
  neg.scale({1.0f, 10.0f, 100.0f}, {3});
  neg.attr("axis", -1);
  EXPECT_EQ(folded_weight(neg), (std::vector<float>{1, 20, 300, -1, -20, -300}));
  QdqModel pt({2, 3});
  pt.tensor("q", onnx::TensorProto::UINT8, {2, 3})->set_raw_data(codes);
  pt.scale({0.5f}, {1});  // a 1-element 1-D scale is per-tensor too
  pt.zero(onnx::TensorProto::UINT8, {1}, bytes({128}));
  EXPECT_EQ(folded_weight(pt), (std::vector<float>{-63.5f, -63, -62.5f, 63.5f, 63, 62.5f}));
}

TEST(QdqImport, WiderIntegerTypes) {
  QdqModel i16({2});
  i16.tensor("q", onnx::TensorProto::INT16, {2})->set_raw_data(bytes({0x00, 0x80, 0xFF, 0x7F}));
  i16.scale({1.0f}, {});
  EXPECT_EQ(folded_weight(i16), (std::vector<float>{-32768, 32767}));
  QdqModel u16({2});
  u16.tensor("q", onnx::TensorProto::UINT16, {2})->set_raw_data(bytes({0x00, 0x80, 0xFF, 0xFF}));
  u16.scale({1.0f}, {});
  u16.zero(onnx::TensorProto::UINT16, {}, bytes({0x00, 0x80}));
  EXPECT_EQ(folded_weight(u16), (std::vector<float>{0, 32767}));
  QdqModel i32({3});  // a bias as quantize_static writes it: INT32, scale = s_x * s_w
  auto* t = i32.tensor("q", onnx::TensorProto::INT32, {3});
  for (int v : {-100000, 0, 123456}) t->add_int32_data(v);
  i32.scale({0.25f}, {});
  i32.zero(onnx::TensorProto::INT32, {}, bytes({0, 0, 0, 0}));
  EXPECT_EQ(folded_weight(i32), (std::vector<float>{-25000, 0, 30864}));
}

TEST(QdqImport, MalformedQdqIsOneLineNamingTheNode) {
  auto base = [] {
    QdqModel m({2, 3});
    m.tensor("q", onnx::TensorProto::INT8, {2, 3})->set_raw_data(bytes({1, 2, 3, 4, 5, 6}));
    return m;
  };
  auto expect = [](const QdqModel& m, const std::string& what) {
    const std::string err = m.error();
    EXPECT_NE(err.find("node 'w_dq' (DequantizeLinear)"), std::string::npos) << err;
    EXPECT_NE(err.find(what), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  };
  QdqModel shape = base();  // 3 scales along axis 0 of length 2
  shape.scale({1, 2, 3}, {3});
  shape.attr("axis", 0);
  expect(shape, "scale 'scale' has 3 values but the input [2,3] has 2 along axis 0");
  QdqModel axis = base();
  axis.scale({1, 2}, {2});
  axis.attr("axis", 2);
  expect(axis, "axis 2 is out of range");
  QdqModel zshape = base();
  zshape.scale({1, 2}, {2});
  zshape.attr("axis", 0);
  zshape.zero(onnx::TensorProto::INT8, {3}, bytes({0, 0, 0}));
  expect(zshape, "zero point 'zero' has shape [3]");
  QdqModel ztype = base();
  ztype.scale({1.0f}, {});
  ztype.zero(onnx::TensorProto::UINT8, {}, bytes({0}));
  expect(ztype, "zero point 'zero' is UINT8 but the input 'q' is INT8");
  QdqModel block({2, 3}, 21);
  block.tensor("q", onnx::TensorProto::INT8, {2, 3})->set_raw_data(bytes({1, 2, 3, 4, 5, 6}));
  block.scale({1, 2}, {2, 1});
  block.attr("axis", 1);
  block.attr("block_size", 3);
  expect(block, "blocked quantization (block_size 3) is not supported");
  QdqModel scale2d = base();  // a 2-D scale without block_size
  scale2d.scale({1, 2}, {2, 1});
  expect(scale2d, "scale 'scale' has shape [2,1]");
}

TEST(QdqImport, OpsetsUpTo21) {
  for (int opset : {13, 18, 19, 21}) {
    QdqModel m({2}, opset);
    m.tensor("q", kInt4, {2})->set_raw_data(bytes({0x7F}));
    m.scale({1.0f}, {});
    EXPECT_EQ(folded_weight(m), (std::vector<float>{-1, 7})) << "opset " << opset;
  }
  QdqModel m({2}, 22);
  m.tensor("q", onnx::TensorProto::INT8, {2})->set_raw_data(bytes({1, 2}));
  m.scale({1.0f}, {});
  EXPECT_NE(m.error().find("opset 22 is not supported (7-21)"), std::string::npos) << m.error();
}

TEST(QdqImport, PadAxesInputFromOpset18IsExpanded) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(18);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  for (int64_t d : {-1, 2, 3, 3}) {
    auto* dim = in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();
    if (d > 0) dim->set_dim_value(d);
  }
  g->add_output()->set_name("y");
  auto ints = [&](const std::string& name, std::vector<int64_t> v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
  };
  ints("pads", {1, 2, 3, 4});  // axes 1 and 3: begin 1, 2; end 3, 4
  ints("axes", {1, -1});
  auto* pad = g->add_node();
  pad->set_op_type("Pad");
  pad->set_name("pad");
  for (const char* i : {"x", "pads", "", "axes"}) pad->add_input(i);
  pad->add_output("y");
  const Graph gr = import_onnx_bytes(m.SerializeAsString(), "m");
  ASSERT_EQ(gr.nodes.size(), 1u);
  EXPECT_EQ(gr.constant(gr.nodes[0].inputs[1]).as_i64(), (std::vector<int64_t>{0, 1, 0, 2, 0, 3, 0, 4}));
}

}  // namespace
}  // namespace dfmpc
