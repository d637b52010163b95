// quantize -o writes standard QDQ ONNX by default (FP32 weights with --weights float) and
// reports the sizes the user gets.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace dfmpc {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

struct CliRun {
  int status;
  std::string out, err;
};

CliRun quantize(const std::string& args) {
  CliRun r;
  const std::string model = (test::fixtures_dir() / "resnet_cifar_optionA_bn.onnx").string();
  r.status = test::run_command(test::cli_path().string() + " quantize " + model + " " + args, &r.out, &r.err);
  return r;
}

TEST(CliQdqExport, DefaultIsQdqAndFloatKeepsFp32Weights) {
  const auto dir = test::temp_dir("cli_qdq");
  const std::string qdq = (dir / "q.onnx").string(), flt = (dir / "f.onnx").string();
  const CliRun a = quantize("-o " + qdq + " --bits 2/6 --json");
  ASSERT_EQ(a.status, 0) << a.err;
  const CliRun b = quantize("-o " + flt + " --bits 2/6 --json --weights float");
  ASSERT_EQ(b.status, 0) << b.err;
  const auto ja = nlohmann::json::parse(a.out), jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["weights"], "qdq");
  EXPECT_EQ(jb["weights"], "float");
  EXPECT_EQ(ja["sizes"]["onnx_bytes"].get<int64_t>(), static_cast<int64_t>(std::filesystem::file_size(qdq)));
  EXPECT_EQ(jb["sizes"]["onnx_bytes"].get<int64_t>(), static_cast<int64_t>(std::filesystem::file_size(flt)));
  EXPECT_LT(ja["sizes"]["onnx_bytes"].get<int64_t>(), jb["sizes"]["onnx_bytes"].get<int64_t>());
  EXPECT_GT(ja["sizes"]["packed_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(ja["sizes"]["packed_written"].get<bool>());
  EXPECT_GT(ja["sizes"]["fp32_bytes"].get<int64_t>(), ja["sizes"]["true_width_bytes"].get<int64_t>());
  int int4 = 0;
  for (const auto& l : ja["layers"]) {
    const std::string c = l["container"];
    if (l["bits"].get<int>() <= 3) {
      EXPECT_TRUE(c == "INT4" || c == "UINT4") << l.dump();
    } else {
      EXPECT_TRUE(c == "INT8" || c == "UINT8" || c == "INT16") << l.dump();
    }
    int4 += c == "INT4" || c == "UINT4";
  }
  EXPECT_GT(int4, 0);
  for (const auto& l : jb["layers"]) EXPECT_EQ(l["container"], "FLOAT");
  EXPECT_NE(slurp(qdq).find("DequantizeLinear"), std::string::npos);
  EXPECT_EQ(slurp(flt).find("DequantizeLinear"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(CliQdqExport, TextReportShowsSizesAndContainers) {
  const auto dir = test::temp_dir("cli_qdq_text");
  const std::string out = (dir / "q.onnx").string(), packed = (dir / "q.dfmpc").string();
  const CliRun r = quantize("-o " + out + " --bits 3/6 --packed " + packed);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("size: ONNX file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FP32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" INT4 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(not written)"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(CliQdqExport, BadWeightsModeIsAOneLineErrorAndWritesNothing) {
  const auto dir = test::temp_dir("cli_qdq_bad");
  const std::string out = (dir / "q.onnx").string();
  const CliRun r = quantize("-o " + out + " --weights int3");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("int3"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dfmpc
