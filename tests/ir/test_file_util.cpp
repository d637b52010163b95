// Output files appear whole or not at all: failures and signals leave no temporary behind and
// never clobber an existing file.
#include "ir/file_util.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test_paths.h"

namespace dfmpc {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void put(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(WriteFileAtomic, WritesAndReplaces) {
  const auto dir = test::temp_dir("atomic");
  const std::string out = (dir / "a.bin").string();
  write_file_atomic(out, std::string("first"));
  EXPECT_EQ(read_file(out), "first");
  write_file_atomic(out, std::string("second, longer"));
  EXPECT_EQ(read_file(out), "second, longer");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"a.bin"});
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, FailureAfterTheTemporaryExistsKeepsTheOldFile) {
  const auto dir = test::temp_dir("atomic");
  const auto out = dir / "model.onnx";
  put(out, "good old model");
  bool temporary_seen = false;
  EXPECT_THROW(write_file_atomic(out.string(),
                                 [&](std::ostream& f) {
                                   f << "half a mod";
                                   f.flush();
                                   temporary_seen = names_in(dir).size() == 2;  // the target and its temporary
                                   throw std::runtime_error("forced failure");
                                 }),
               std::runtime_error);
  EXPECT_TRUE(temporary_seen);
  EXPECT_EQ(read_file(out.string()), "good old model");
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"model.onnx"});
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, MissingDirectoryIsAnErrorNamingThePath) {
  const auto dir = test::temp_dir("atomic");
  const std::string out = (dir / "no-such-dir" / "x.onnx").string();
  try {
    write_file_atomic(out, std::string("x"));
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
  }
  EXPECT_TRUE(names_in(dir).empty());
  fs::remove_all(dir);
}

TEST(WriteFileAtomic, DirectoryAtTheTargetIsAnError) {
  const auto dir = test::temp_dir("atomic");
  fs::create_directory(dir / "sub");
  EXPECT_THROW(write_file_atomic((dir / "sub").string(), std::string("x")), std::runtime_error);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"sub"});
  EXPECT_TRUE(fs::is_empty(dir / "sub"));
  fs::remove_all(dir);
}

TEST(PendingOutputs, AppearTogetherOnCommit) {
  const auto dir = test::temp_dir("atomic");
  put(dir / "b.txt", "old b");
  {
    PendingOutputs out;
    const std::string ta = out.add((dir / "a.txt").string()), tb = out.add((dir / "b.txt").string());
    EXPECT_EQ(fs::path(ta).parent_path(), dir);  // beside the target: the rename stays in one file system
    write_file_atomic(ta, std::string("new a"));  // nested: how quantize writes its outputs
    put(tb, "new b");
    EXPECT_FALSE(fs::exists(dir / "a.txt"));
    EXPECT_EQ(read_file((dir / "b.txt").string()), "old b");
    out.commit();
  }
  EXPECT_EQ(read_file((dir / "a.txt").string()), "new a");
  EXPECT_EQ(read_file((dir / "b.txt").string()), "new b");
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"a.txt", "b.txt"}));
  fs::remove_all(dir);
}

TEST(PendingOutputs, NotCommittedLeavesNothing) {
  const auto dir = test::temp_dir("atomic");
  put(dir / "b.txt", "old b");
  try {
    PendingOutputs out;
    put(out.add((dir / "a.txt").string()), "new a");
    put(out.add((dir / "b.txt").string()), "new b");
    out.add((dir / "missing" / "c.txt").string());  // fails: the others must vanish too
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("c.txt"), std::string::npos) << e.what();
  }
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"b.txt"});
  EXPECT_EQ(read_file((dir / "b.txt").string()), "old b");
  fs::remove_all(dir);
}

// A child process with a half-written output is interrupted: the temporary is gone, the old
// file is intact, and the child ends by that signal.
void expect_signal_cleans_up(int sig) {
  const auto dir = test::temp_dir("atomic");
  put(dir / "out.md", "old table");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    remove_outputs_on_signals("test");
    PendingOutputs out;
    put(out.add((dir / "out.md").string()), "half a tab");
    ::raise(sig);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), sig);
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"out.md"});
  EXPECT_EQ(read_file((dir / "out.md").string()), "old table");
  fs::remove_all(dir);
}

TEST(PendingOutputs, SigintRemovesTemporaries) { expect_signal_cleans_up(SIGINT); }
TEST(PendingOutputs, SigtermRemovesTemporaries) { expect_signal_cleans_up(SIGTERM); }

}  // namespace
}  // namespace dfmpc
