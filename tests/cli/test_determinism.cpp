// The same command gives the same answer every time: quantize's output files are
// bit-identical with --threads 1 and --threads 2, and eval's accuracy is the same.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_paths.h"

namespace dfmpc {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string run_ok(const std::string& args) {
  std::string out, err;
  const int status = test::run_command(test::cli_path().string() + " " + args, &out, &err);
  EXPECT_EQ(status, 0) << args << "\n" << err;
  return out;
}

void expect_quantize_thread_independent(const std::string& model, const std::string& flags) {
  const auto dir = test::temp_dir("determinism");
  std::string onnx[2], packed[2];
  for (int threads : {1, 2}) {
    const std::string stem = "threads" + std::to_string(threads);
    const fs::path o = dir / (stem + ".onnx"), p = dir / (stem + ".dfmpc");
    run_ok("quantize " + model + " -o " + o.string() + " --packed " + p.string() + " --threads " + std::to_string(threads) +
           " " + flags);
    onnx[threads - 1] = slurp(o), packed[threads - 1] = slurp(p);
  }
  EXPECT_FALSE(onnx[0].empty());
  EXPECT_FALSE(packed[0].empty());
  EXPECT_TRUE(onnx[0] == onnx[1]) << model << " " << flags << ": -o differs between --threads 1 and 2";
  EXPECT_TRUE(packed[0] == packed[1]) << model << " " << flags << ": --packed differs between --threads 1 and 2";
  fs::remove_all(dir);
}

const std::string kDemo = (test::source_dir() / "models/fmnist_resnet14.onnx").string();

TEST(Determinism, QuantizeDemoModelIsThreadIndependent) {
  expect_quantize_thread_independent(kDemo, "--bits 2/6");
  expect_quantize_thread_independent(kDemo, "--bits 3/6 --stats mean --compensation eq27");
}

TEST(Determinism, QuantizeSharedResNet20IsThreadIndependent) {
  DFMPC_REQUIRE_SHARED();
  expect_quantize_thread_independent((test::shared_dir() / "models/resnet20_cifar10_bn.onnx").string(), "--bits 2/6");
}

// "top1":X,"top5":Y of eval --json (the rest holds timings).
std::string accuracy_fields(const std::string& json) {
  std::string fields;
  for (const std::string key : {"\"top1\":", "\"top5\":"}) {
    const auto at = json.find(key);
    if (at == std::string::npos) return "no " + key + " in " + json;
    fields += json.substr(at, json.find_first_of(",}", at) - at) + ";";
  }
  return fields;
}

TEST(Determinism, EvalDemoModelIsThreadIndependent) {
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(fm + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = test::temp_dir("determinism");
  const std::string q = (dir / "q.dfmpc").string();
  run_ok("quantize " + kDemo + " -o " + (dir / "q.onnx").string() + " --packed " + q);
  const std::string data = " --format idx --data " + fm + "t10k-images-idx3-ubyte.gz --labels " + fm +
                           "t10k-labels-idx1-ubyte.gz --mean 0.2860 --std 0.3530 --limit 500 --json";
  for (const std::string& model : {kDemo, q, q + " --packed-weights"}) {
    const std::string one = accuracy_fields(run_ok("eval " + model + data + " --threads 1"));
    const std::string two = accuracy_fields(run_ok("eval " + model + data + " --threads 2"));
    EXPECT_NE(one.find("\"top1\""), std::string::npos) << one;
    EXPECT_EQ(one, two) << model;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dfmpc
