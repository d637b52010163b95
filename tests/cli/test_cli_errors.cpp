// The CLI on bad input: one line on stderr naming the problem, a non-zero exit, no crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "test_paths.h"

namespace dfmpc {
namespace {

struct Outcome {
  int status;
  std::string out, err;
};

Outcome cli(const std::string& args) {
  Outcome o;
  o.status = test::run_command(test::cli_path().string() + " " + args, &o.out, &o.err);
  return o;
}

void expect_one_line_error(const Outcome& o, const std::string& needle) {
  EXPECT_NE(o.status, 0);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
}

std::string fixture(const std::string& f) { return (test::fixtures_dir() / f).string(); }

TEST(Cli, HelpAndVersion) {
  for (const char* a : {"--help", "eval --help", "inspect --help"}) {
    const Outcome o = cli(a);
    EXPECT_EQ(o.status, 0) << a;
    EXPECT_NE(o.out.find("Usage"), std::string::npos) << a;
  }
  EXPECT_EQ(cli("--version").status, 0);
}

TEST(Cli, UnknownFlagAndMissingArguments) {
  expect_one_line_error(cli("eval " + fixture("vgg_small_bn.onnx") + " --data x --bogus-flag"), "bogus-flag");
  expect_one_line_error(cli(""), "subcommand");
  expect_one_line_error(cli("eval"), "model");
  expect_one_line_error(cli("eval m.onnx --data x --format jpegs"), "format");
}

TEST(Cli, MissingModelAndDataFiles) {
  expect_one_line_error(cli("eval /nonexistent.onnx --data /nonexistent.bin"), "/nonexistent");
  expect_one_line_error(cli("eval " + fixture("vgg_small_bn.onnx") + " --data /nonexistent.bin"), "/nonexistent.bin");
}

TEST(Cli, TruncatedModel) {
  const auto dir = test::temp_dir("cli");
  std::ifstream in(fixture("vgg_small_bn.onnx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(dir / "cut.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_one_line_error(cli("inspect " + (dir / "cut.onnx").string()), "cut.onnx");
  std::filesystem::remove_all(dir);
}

TEST(Cli, ModelInputShapeMustMatchTheData) {
  // A 3x32x32 model on 1x28x28 Fashion-MNIST images.
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(fm + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  expect_one_line_error(cli("eval " + fixture("vgg_small_bn.onnx") + " --format idx --data " + fm +
                            "t10k-images-idx3-ubyte.gz --labels " + fm + "t10k-labels-idx1-ubyte.gz --limit 10"),
                        "does not match");
}

TEST(Cli, LabelCountMustMatchImageCount) {
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(fm + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  expect_one_line_error(cli("eval " + fixture("vgg_small_bn.onnx") + " --format idx --data " + fm +
                            "t10k-images-idx3-ubyte.gz --labels " + fm + "train-labels-idx1-ubyte.gz"),
                        "labels");
}

TEST(Cli, EvalJsonIsOneObject) {
  DFMPC_REQUIRE_SHARED();
  const auto s = test::shared_dir();
  const Outcome o = cli("eval " + (s / "models/resnet20_cifar10_folded.onnx").string() + " --data " +
                        (s / "data/cifar10-test-jpeg.bin").string() +
                        " --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --limit 200 --json");
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_EQ(o.out.front(), '{');
  EXPECT_EQ(std::count(o.out.begin(), o.out.end(), '\n'), 1);
  for (const char* key : {"\"top1\"", "\"top5\"", "\"images\":200", "\"seconds\""})
    EXPECT_NE(o.out.find(key), std::string::npos) << key << " in " << o.out;
}

TEST(Cli, QuantizeRejectsBadQuantizerWithoutWritingOutput) {
  const auto dir = test::temp_dir("cli_quantizer");
  const std::string out = (dir / "q.onnx").string();
  const std::string model = fixture("resnet_cifar_optionA_bn.onnx");
  expect_one_line_error(cli("quantize " + model + " -o " + out + " --quantizer bogus"), "bogus");
  expect_one_line_error(cli("quantize " + model + " -o " + out + " --quantizer twn --bits 2/6"), "twn supports 2..2 bits");
  expect_one_line_error(cli("quantize " + model + " -o " + out + " --stats bogus"), "bogus");
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove_all(dir);
}

TEST(Cli, InspectListsLayersAndPairs) {
  const Outcome o = cli("inspect " + fixture("resnet_cifar_optionA_bn.onnx"));
  ASSERT_EQ(o.status, 0) << o.err;
  EXPECT_NE(o.out.find("Conv"), std::string::npos);
  EXPECT_NE(o.out.find("DF-MPC pairs"), std::string::npos);
  EXPECT_NE(o.out.find("parameters"), std::string::npos);
}

}  // namespace
}  // namespace dfmpc
