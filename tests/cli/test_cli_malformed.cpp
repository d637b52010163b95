// The CLI on malformed models: `inspect` and `quantize` exit with status 1 (an error, not a
// signal) and one line on stderr naming the node or tensor, and `quantize` writes nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "onnx/onnx_io.h"
#include "test_paths.h"
#include "tiny_model.h"

namespace dfmpc {
namespace {

struct Case {
  const char* name;
  Graph (*make)();
  std::vector<const char*> needles;
};

Node& find(Graph& g, const std::string& name) {
  return *std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.name == name; });
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"bn_nan_scale",
       [] {
         Graph g = test::tiny_model();
         g.initializers["bn_scale"].f[0] = std::nanf("");
         return g;
       },
       {"bn1", "bn_scale", "NaN"}},
      {"bn_negative_variance",
       [] {
         Graph g = test::tiny_model();
         g.initializers["bn_var"].f[3] = -1.0f;
         return g;
       },
       {"bn1", "bn_var", "negative"}},
      {"transpose_repeated_axis",
       [] {
         Graph g = test::tiny_model();
         Node t;
         t.name = "bad_transpose";
         t.op = "Transpose";
         t.inputs = {"f"};
         t.outputs = {"ft"};
         t.attrs["perm"] = std::vector<int64_t>{0, 2, 2, 3};
         g.nodes.insert(g.nodes.begin() + 6, t);
         find(g, "flatten").inputs[0] = "ft";
         return g;
       },
       {"bad_transpose", "repeats axis 2"}},
      {"reshape_minus_two",
       [] {
         Graph g = test::tiny_model();
         g.initializers["flat"] = Tensor::from_i64({2}, {-2, -96});
         return g;
       },
       {"flatten", "-2"}},
      {"int64_conv_weight",
       [] {
         Graph g = test::tiny_model();
         g.initializers["w2"] = Tensor::from_i64({4, 4, 3, 3}, std::vector<int64_t>(144, 1));
         return g;
       },
       {"conv2", "'w2' is int64"}},
  };
  return c;
}

TEST(CliMalformed, InspectAndQuantizeFailWithOneLineAndNoOutput) {
  const auto dir = test::temp_dir("cli_malformed");
  for (const Case& c : cases()) {
    const std::string model = (dir / (std::string(c.name) + ".onnx")).string();
    export_onnx(c.make(), model);
    const std::string out = (dir / "q.onnx").string(), packed = (dir / "q.dfmpc").string();
    for (const std::string& args : {"inspect " + model, "quantize " + model + " -o " + out + " --packed " + packed}) {
      std::string stdout_text, stderr_text;
      const int status = test::run_command(test::cli_path().string() + " " + args, &stdout_text, &stderr_text);
      EXPECT_EQ(status, 1) << c.name << ": " << args << "\n" << stderr_text;  // 128+N would be a signal
      EXPECT_EQ(std::count(stderr_text.begin(), stderr_text.end(), '\n'), 1) << c.name << ": " << stderr_text;
      for (const char* s : c.needles) EXPECT_NE(stderr_text.find(s), std::string::npos) << c.name << ": " << stderr_text;
      EXPECT_FALSE(std::filesystem::exists(out)) << c.name;
      EXPECT_FALSE(std::filesystem::exists(packed)) << c.name;
    }
  }
  // The unbroken model passes, so the failures above are the breakage's.
  export_onnx(test::tiny_model(), (dir / "good.onnx").string());
  EXPECT_EQ(test::run_command(test::cli_path().string() + " inspect " + (dir / "good.onnx").string()), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dfmpc
