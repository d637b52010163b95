// The CLI on QDQ models (ONNX Runtime quantize_static layout, tools/make_qdq_fixture.py):
// inspect and quantize accept them; a malformed one is a one-line error naming the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "test_paths.h"

namespace dfmpc {
namespace {

std::string fixture(const std::string& f) { return (test::fixtures_dir() / f).string(); }

int cli(const std::string& args, std::string* out, std::string* err) {
  return test::run_command(test::cli_path().string() + " " + args, out, err);
}

TEST(CliQdq, InspectListsQuantizeDequantizeNodes) {
  for (const char* f : {"qdq_small_int8.onnx", "qdq_small_int4.onnx"}) {
    std::string out, err;
    ASSERT_EQ(cli("inspect " + fixture(f), &out, &err), 0) << err;
    EXPECT_NE(out.find("QuantizeLinear"), std::string::npos) << f;
    EXPECT_NE(out.find("7 QuantizeLinear/DequantizeLinear pairs on activations"), std::string::npos) << out;
    EXPECT_NE(out.find("conv2 "), std::string::npos) << out;
  }
}

TEST(CliQdq, QuantizeAcceptsQdqModelsAndDropsActivationPairs) {
  const auto dir = test::temp_dir("cli_qdq");
  for (const char* f : {"qdq_small_int8.onnx", "qdq_small_int4.onnx"}) {
    const std::string o = (dir / "out.onnx").string();
    std::string out, err;
    ASSERT_EQ(cli("quantize " + fixture(f) + " -o " + o + " --bits 4", &out, &err), 0) << err;
    EXPECT_NE(err.find("7 QuantizeLinear/DequantizeLinear pairs on activations dropped"), std::string::npos) << err;
    ASSERT_TRUE(std::filesystem::exists(o));
    ASSERT_EQ(cli("inspect " + o, &out, &err), 0) << err;  // the output reads back
    EXPECT_EQ(out.find("QuantizeLinear"), std::string::npos) << out;
    std::filesystem::remove(o);
  }
}

TEST(CliQdq, TruncatedInt4DataIsAOneLineError) {
  const auto dir = test::temp_dir("cli_qdq_bad");
  const std::string o = (dir / "out.onnx").string();
  for (const std::string& cmd : {"inspect " + fixture("qdq_bad_int4_short.onnx"),
                                "quantize " + fixture("qdq_bad_int4_short.onnx") + " -o " + o}) {
    std::string out, err;
    EXPECT_NE(cli(cmd, &out, &err), 0) << cmd;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("UINT4 tensor 'conv2_quantized' holds 220 bytes, its 441 values need 221"), std::string::npos)
        << err;
    EXPECT_FALSE(std::filesystem::exists(o));
  }
}

}  // namespace
}  // namespace dfmpc
