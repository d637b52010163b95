#include "test_paths.h"

#include <cstdlib>
#include <cstring>

namespace dfmpc::test {

std::filesystem::path source_dir() { return DFMPC_SOURCE_DIR; }
std::filesystem::path fixtures_dir() { return source_dir() / "tests" / "fixtures"; }
std::filesystem::path cli_path() { return DFMPC_CLI; }

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("DFMPC_SHARED")) return env;
  auto p = source_dir().parent_path() / "shared";
  if (std::filesystem::exists(p / "models")) return p;
  return {};
}

}  // namespace dfmpc::test

#include <sys/wait.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace dfmpc::test {

std::vector<float> read_f32(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  std::vector<float> v(s.size() / sizeof(float));
  std::memcpy(v.data(), s.data(), v.size() * sizeof(float));
  return v;
}

std::filesystem::path temp_dir(const std::string& tag) {
  std::random_device rd;
  auto p = std::filesystem::temp_directory_path() / ("dfmpc-" + tag + "-" + std::to_string(rd()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

static std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run_command(const std::string& cmd, std::string* out, std::string* err) {
  const auto dir = temp_dir("cmd");
  const std::string full = cmd + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
  const int status = std::system(full.c_str());
  if (out) *out = slurp(dir / "out");
  if (err) *err = slurp(dir / "err");
  std::filesystem::remove_all(dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace dfmpc::test
