// Where tests find the repository, the CLI binary and the shared (read-only) data.
#pragma once
#include <filesystem>
#include <string>

namespace dfmpc::test {

std::filesystem::path source_dir();
std::filesystem::path fixtures_dir();
std::filesystem::path cli_path();
// ../shared beside the clone (override with DFMPC_SHARED). Empty when absent.
std::filesystem::path shared_dir();

}  // namespace dfmpc::test

// Skips the current test, saying why, when ../shared is not available.
#define DFMPC_REQUIRE_SHARED()                                                         \
  do {                                                                                 \
    if (::dfmpc::test::shared_dir().empty())                                           \
      GTEST_SKIP() << "../shared (models, CIFAR-10 copy) not found beside the clone; " \
                      "set DFMPC_SHARED to run this test";                             \
  } while (0)

#include <vector>

namespace dfmpc::test {
// Raw little-endian float32 file.
std::vector<float> read_f32(const std::filesystem::path& p);
// A fresh empty directory under the system temp dir.
std::filesystem::path temp_dir(const std::string& tag);
// Runs a shell command, capturing stdout and stderr separately; returns the exit status.
int run_command(const std::string& cmd, std::string* out = nullptr, std::string* err = nullptr);
}  // namespace dfmpc::test
