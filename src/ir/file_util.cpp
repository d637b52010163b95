#include "ir/file_util.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dfmpc {

// ---- temporaries a signal handler can find ---------------------------------------------------
// A signal may arrive on any thread (oneDNN's OpenMP workers, the thread pool), between any two
// instructions, so the handler may not allocate or lock: the live temporaries' paths live in a
// fixed table of slots, each claimed (0 -> 1), filled, and published (1 -> 2) by add() and
// released (-> 0) after the file is renamed or removed. A handler that races with a release
// unlinks a path that no longer exists, which is harmless.
// While commit() renames a set of outputs, a signal is deferred until the set is complete, so an
// interrupt never leaves one output of a command new and the other old. The handler publishes
// the signal before it reads the commit count and commit() counts itself in before it reads the
// signal (both sequentially consistent), so at least one of them sees the other.
namespace {
constexpr int kSlots = 64;            // far more outputs than one command has in flight
constexpr size_t kMaxPath = 4096;     // PATH_MAX: longer paths cannot be opened anyway
struct Slot {
  std::atomic<int> state{0};          // 0 free, 1 being filled, 2 live
  char path[kMaxPath];
};
Slot g_slots[kSlots];
const char* g_program = "dfmpc";
std::atomic<int> g_signal{0};      // the interrupting signal, 0 = none yet
std::atomic<int> g_committing{0};  // commit() calls renaming right now

int list_temporary(const std::string& tmp) {
  if (tmp.size() >= kMaxPath) return -1;
  for (int k = 0; k < kSlots; ++k) {
    int free_state = 0;
    if (!g_slots[k].state.compare_exchange_strong(free_state, 1)) continue;
    std::memcpy(g_slots[k].path, tmp.c_str(), tmp.size() + 1);
    g_slots[k].state.store(2, std::memory_order_release);
    return k;
  }
  return -1;  // not cleaned up on a signal, but still on exceptions
}

void unlist_temporary(int slot) {
  if (slot >= 0) g_slots[slot].state.store(0, std::memory_order_release);
}

// Only async-signal-safe calls: unlink, write, sigaction, raise.
void remove_temporaries_and_reraise(int sig) {
  for (Slot& s : g_slots)
    if (s.state.load(std::memory_order_acquire) == 2) ::unlink(s.path);
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
  char line[256];
  size_t n = 0;
  for (const char* part : {g_program, ": interrupted by ", name, "; unfinished output files removed\n"})
    for (const char* c = part; *c && n < sizeof line; ++c) line[n++] = *c;
  [[maybe_unused]] const ssize_t w = ::write(2, line, n);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

extern "C" void on_interrupt(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  if (g_committing.load() > 0) return;  // the committing thread finishes the job when it is done
  remove_temporaries_and_reraise(sig);
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void remove_outputs_on_signals(const char* program) {
  g_program = program;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESTART;  // a deferred signal returns: let the interrupted system call go on
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&sa.sa_mask, sig);  // one clean-up at a time
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

// ---- PendingOutputs --------------------------------------------------------------------------
std::string PendingOutputs::add(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw std::runtime_error("cannot write '" + path + "': it is a directory");
  static std::atomic<unsigned> counter{0};
  for (;;) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    // Exclusive creation: never truncate a file someone else owns. The slot is taken first so
    // that a signal arriving right after the file exists still finds it.
    const int slot = list_temporary(tmp);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      const int err = errno;
      unlist_temporary(slot);
      if (err == EEXIST) continue;
      throw std::runtime_error("cannot write '" + path + "': " + std::strerror(err));
    }
    ::close(fd);
    entries_.push_back({path, tmp, slot});
    return tmp;
  }
}

void PendingOutputs::drop(Entry& e) {
  std::remove(e.tmp.c_str());
  unlist_temporary(e.slot);
}

PendingOutputs::~PendingOutputs() {
  for (Entry& e : entries_) drop(e);
}

void PendingOutputs::commit() {
  auto fail = [&](size_t from, const std::string& what) {
    for (size_t k = from; k < entries_.size(); ++k) drop(entries_[k]);
    entries_.clear();
    throw std::runtime_error(what);
  };
  // Data on disk before the rename: after a crash the destination holds the old file or the
  // complete new one, never a renamed but empty one.
  for (const Entry& e : entries_) {
    const int fd = ::open(e.tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      const std::string err = errno_text();
      if (fd >= 0) ::close(fd);
      fail(0, "writing '" + e.path + "' failed: " + err);
    }
    ::close(fd);
  }
  ++g_committing;
  if (const int sig = g_signal.load()) remove_temporaries_and_reraise(sig);  // interrupted already
  for (size_t k = 0; k < entries_.size(); ++k) {
    Entry& e = entries_[k];
    if (std::rename(e.tmp.c_str(), e.path.c_str()) != 0) {
      --g_committing;
      fail(k, "cannot move output into '" + e.path + "': " + errno_text());
    }
    unlist_temporary(e.slot);
  }
  entries_.clear();
  if (--g_committing == 0)
    if (const int sig = g_signal.load()) remove_temporaries_and_reraise(sig);  // deferred during the renames
}

// ---- one-file writers ------------------------------------------------------------------------
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  PendingOutputs out;
  const std::string tmp = out.add(path);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write '" + path + "': " + errno_text());
    write(f);
    f.close();
    if (!f) throw std::runtime_error("writing '" + path + "' failed: " + errno_text());
  }
  out.commit();
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, [&](std::ostream& f) { f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

std::string read_file(const std::string& path) {
  if (std::filesystem::is_directory(path))
    throw std::runtime_error("'" + path + "' is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open '" + path + "': " + std::strerror(errno));
  std::string bytes;
  if (!read_whole(path, f, bytes)) throw std::runtime_error("reading '" + path + "' failed: " + std::strerror(errno));
  return bytes;
}

bool read_whole(const std::string& path, std::istream& f, std::string& bytes) {
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  const auto size = regular ? std::filesystem::file_size(path, ec) : 0;
  if (!regular || ec) {  // a pipe, a device ...: read to the end
    std::stringstream ss;
    ss << f.rdbuf();
    bytes = ss.str();
    return true;
  }
  bytes.resize(static_cast<size_t>(size));  // one allocation, one copy: models are large
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  return static_cast<uintmax_t>(f.gcount()) == size;
}

}  // namespace dfmpc
