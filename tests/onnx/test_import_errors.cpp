// Import of bad models fails with one clear line; export -> import round-trips exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

std::string fixture(const std::string& name) { return (test::fixtures_dir() / name).string(); }

std::string import_error(const std::string& bytes) {
  try {
    import_onnx_bytes(bytes, "model 'x.onnx'");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "";
}

TEST(OnnxImport, MissingFileNamesThePath) {
  try {
    import_onnx("/nonexistent/model.onnx");
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.onnx"), std::string::npos);
  }
}

TEST(OnnxImport, EmptyTruncatedAndCorruptFilesAreRejected) {
  const std::string good = read_file(fixture("vgg_small_bn.onnx"));
  EXPECT_NE(import_error("").find("empty"), std::string::npos);
  for (size_t cut : {size_t{10}, good.size() / 3, good.size() / 2, good.size() - 7}) {
    const std::string err = import_error(good.substr(0, cut));
    EXPECT_FALSE(err.empty()) << "truncated at " << cut;
    EXPECT_EQ(err.find('\n'), std::string::npos);
  }
  std::string corrupt = good;
  for (size_t k = 100; k < corrupt.size(); k += 997) corrupt[k] = static_cast<char>(corrupt[k] ^ 0x5a);
  EXPECT_FALSE(import_error(corrupt).empty());
  EXPECT_FALSE(import_error("this is not an onnx file at all").empty());
}

TEST(OnnxImport, UnknownOperatorIsNamedWithItsNode) {
  Graph g = import_onnx(fixture("vgg_small_bn.onnx"));
  g.nodes[1].op = "FancyNorm";
  const std::string err = import_error(export_onnx_bytes(g));
  EXPECT_NE(err.find("FancyNorm"), std::string::npos) << err;
  EXPECT_NE(err.find(g.nodes[1].name), std::string::npos) << err;
}

TEST(OnnxImport, UnsupportedAttributeIsNamed) {
  Graph g = import_onnx(fixture("vgg_small_bn.onnx"));
  for (auto& n : g.nodes)
    if (n.op == "MaxPool") n.attrs["auto_pad"] = std::string("SAME_WEIRD");
  Graph g2 = import_onnx_bytes(export_onnx_bytes(g), "m");  // attribute known, value checked at run time
  for (auto& n : g2.nodes)
    if (n.op == "Conv") n.attrs["mystery"] = int64_t{3};
  const std::string err = import_error(export_onnx_bytes(g2));
  EXPECT_NE(err.find("mystery"), std::string::npos) << err;
}

TEST(OnnxExport, RoundTripIsBitIdentical) {
  for (const char* f : {"resnet_cifar_optionA_bn.onnx", "mobilenetv2_small_folded.onnx", "densenet_small_bn.onnx"}) {
    const Graph a = import_onnx(fixture(f));
    const auto dir = test::temp_dir("export");
    const std::string path = (dir / "m.onnx").string();
    export_onnx(a, path);
    const Graph b = import_onnx(path);
    ASSERT_EQ(a.nodes.size(), b.nodes.size()) << f;
    for (size_t k = 0; k < a.nodes.size(); ++k) {
      EXPECT_EQ(a.nodes[k].op, b.nodes[k].op);
      EXPECT_EQ(a.nodes[k].inputs, b.nodes[k].inputs);
    }
    ASSERT_EQ(a.initializers.size(), b.initializers.size());
    for (const auto& [name, t] : a.initializers) {
      EXPECT_EQ(t.shape, b.initializers.at(name).shape) << name;
      EXPECT_EQ(t.f, b.initializers.at(name).f) << name;
      EXPECT_EQ(t.i, b.initializers.at(name).i) << name;
    }
    // Only the final file is left behind: no temporaries.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
    std::filesystem::remove_all(dir);
  }
}

TEST(OnnxImport, ConstantSubgraphsAreFolded) {
  const Graph g = import_onnx(fixture("resnet_cifar_optionA_bn.onnx"));
  for (const auto& n : g.nodes) {
    EXPECT_NE(n.op, "Constant");
    EXPECT_NE(n.op, "ConstantOfShape");
    EXPECT_NE(n.op, "Cast");
  }
}

}  // namespace
}  // namespace dfmpc
