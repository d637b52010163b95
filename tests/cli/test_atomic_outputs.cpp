// Every file the CLI writes appears whole or not at all: a failing quantize leaves no partial
// file and keeps an existing one; Ctrl-C during a bench leaves no temporary behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "test_paths.h"

namespace dfmpc {
namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status;
  std::string out, err;
};

Outcome cli(const std::string& args) {
  Outcome o;
  o.status = test::run_command(test::cli_path().string() + " " + args, &o.out, &o.err);
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void expect_one_line_error(const Outcome& o, const std::string& needle) {
  EXPECT_NE(o.status, 0);
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
  EXPECT_NE(o.err.find(needle), std::string::npos) << o.err;
}

const std::string kModel = (test::fixtures_dir() / "resnet_cifar_optionA_bn.onnx").string();

TEST(AtomicOutputs, QuantizeIntoAMissingDirectoryWritesNothing) {
  const auto dir = test::temp_dir("atomic_cli");
  const std::string out = (dir / "no-such-dir" / "q.onnx").string();
  expect_one_line_error(cli("quantize " + kModel + " -o " + out), out);
  EXPECT_TRUE(names_in(dir).empty());
  fs::remove_all(dir);
}

TEST(AtomicOutputs, QuantizeOfABadModelKeepsTheExistingOutput) {
  const auto dir = test::temp_dir("atomic_cli");
  std::ofstream(dir / "bad.onnx") << "not a model";
  std::ofstream(dir / "q.onnx") << "good old output";
  expect_one_line_error(cli("quantize " + (dir / "bad.onnx").string() + " -o " + (dir / "q.onnx").string()), "bad.onnx");
  EXPECT_EQ(slurp(dir / "q.onnx"), "good old output");
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"bad.onnx", "q.onnx"}));
  fs::remove_all(dir);
}

// The -o temporary exists when --packed fails: neither output may appear or change.
TEST(AtomicOutputs, QuantizeFailingOnItsSecondOutputKeepsTheFirst) {
  const auto dir = test::temp_dir("atomic_cli");
  std::ofstream(dir / "q.onnx") << "good old output";
  const std::string packed = (dir / "missing" / "q.dfmpc").string();
  expect_one_line_error(cli("quantize " + kModel + " -o " + (dir / "q.onnx").string() + " --packed " + packed), packed);
  EXPECT_EQ(slurp(dir / "q.onnx"), "good old output");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"q.onnx"});
  // The same command with a writable --packed replaces both.
  const Outcome ok = cli("quantize " + kModel + " -o " + (dir / "q.onnx").string() + " --packed " + (dir / "q.dfmpc").string());
  ASSERT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(slurp(dir / "q.onnx"), "good old output");
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"q.dfmpc", "q.onnx"}));
  fs::remove_all(dir);
}

TEST(AtomicOutputs, BenchChecksItsOutputsBeforeRunning) {
  const auto dir = test::temp_dir("atomic_cli");
  const std::string out = (dir / "missing" / "t.md").string();
  const auto t0 = std::chrono::steady_clock::now();
  // --data is never read: the bad -o is found first.
  expect_one_line_error(cli("bench " + kModel + " --suite methods --data /nonexistent.bin -o " + out), out);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  EXPECT_TRUE(names_in(dir).empty());
  fs::remove_all(dir);
}

bool has_temporary(const fs::path& dir) {
  for (const auto& name : names_in(dir))
    if (name.find(".tmp.") != std::string::npos) return true;
  return false;
}

// Starts `dfmpc bench` on the demo model and Fashion-MNIST, sends `sig` once its outputs are
// reserved (their temporaries exist) and it is evaluating, and checks what is left.
void interrupt_bench(int sig, const std::string& signame) {
  const std::string fm = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(fm + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const auto dir = test::temp_dir("atomic_sigint");
  std::ofstream(dir / "table.md") << "good old table";
  const std::string cli_bin = test::cli_path().string(), model = (test::source_dir() / "models/fmnist_resnet14.onnx").string();
  const std::string images = fm + "t10k-images-idx3-ubyte.gz", labels = fm + "t10k-labels-idx1-ubyte.gz";
  const std::string md = (dir / "table.md").string(), csv = (dir / "table.csv").string(), err = (dir / "stderr").string();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::FILE* e = std::freopen(err.c_str(), "w", stderr);
    if (!e || !std::freopen("/dev/null", "w", stdout)) ::_exit(99);
    // All 10,000 images and every suite row: minutes of work, interrupted after a moment.
    ::execl(cli_bin.c_str(), cli_bin.c_str(), "bench", model.c_str(), "--suite", "methods", "--format", "idx", "--data",
            images.c_str(), "--labels", labels.c_str(), "--threads", "1", "-o", md.c_str(), "--csv", csv.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(98);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  int status = 0;
  pid_t done = 0;
  while (!has_temporary(dir) && elapsed() < 60 && (done = ::waitpid(pid, &status, WNOHANG)) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(done, 0) << "bench ended before it could be interrupted: " << slurp(err);
  ASSERT_TRUE(has_temporary(dir)) << "no temporary output after 60 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // into the data loading / evaluation
  ::kill(pid, sig);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
  // Rows finished before the signal are reported on stderr too: the message is the last line.
  std::string message = slurp(err);
  ASSERT_FALSE(message.empty());
  message.pop_back();
  message = message.substr(message.find_last_of('\n') + 1);
  EXPECT_EQ(message, "dfmpc: interrupted by " + signame + "; unfinished output files removed");
  for (const auto& e : fs::directory_iterator(fs::temp_directory_path()))  // packed-size scratch files
    EXPECT_EQ(e.path().filename().string().find("dfmpc-bench.dfmpc.tmp." + std::to_string(pid) + "."), std::string::npos);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"stderr", "table.md"}));
  EXPECT_EQ(slurp(dir / "table.md"), "good old table");
  fs::remove_all(dir);
}

TEST(AtomicOutputs, SigintDuringBenchLeavesNoTemporary) { interrupt_bench(SIGINT, "SIGINT"); }
TEST(AtomicOutputs, SigtermDuringBenchLeavesNoTemporary) { interrupt_bench(SIGTERM, "SIGTERM"); }

}  // namespace
}  // namespace dfmpc
