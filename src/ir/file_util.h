// File helpers shared by every writer: nothing partial is ever left at the destination.
#pragma once
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace dfmpc {

// Output files that appear at their destinations complete and together, or not at all.
// add() gives each destination a temporary file beside it (same directory, so the final
// rename is atomic); commit() renames them all into place. Until then an existing file at a
// destination is left untouched, and the temporaries are removed when the set is destroyed
// (an exception unwinding) or the process is interrupted (remove_outputs_on_signals()).
// Every file dfmpc writes goes through this class (write_file_atomic below uses it too).
class PendingOutputs {
 public:
  PendingOutputs() = default;
  PendingOutputs(const PendingOutputs&) = delete;
  PendingOutputs& operator=(const PendingOutputs&) = delete;
  ~PendingOutputs();

  // Reserves `path` and returns the temporary file to write it to. The temporary is created
  // (empty) now, so a missing directory or a read-only place fails before any work is done.
  // Throws std::runtime_error naming `path`.
  std::string add(const std::string& path);
  // Flushes every temporary to disk and renames it onto its destination. Throws naming the
  // destination when one cannot be moved (the temporaries not yet moved are removed).
  void commit();

 private:
  struct Entry {
    std::string path, tmp;
    int slot;  // in the signal-time clean-up list, -1 if not listed
  };
  void drop(Entry& e);
  std::vector<Entry> entries_;
};

// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the temporaries of every live
// PendingOutputs, print "<program>: interrupted by SIGINT ..." (one line) on stderr, and then
// end the process by the same signal (so the exit status says it was interrupted).
void remove_outputs_on_signals(const char* program);

// Writes bytes to `path` through a temporary file in the same directory, renamed into place
// when complete. Throws std::runtime_error naming the path on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);
// The same with the contents written by `write` (which may throw: nothing is left behind).
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write);

std::string read_file(const std::string& path);  // throws std::runtime_error naming the path
// The contents of `f`, freshly opened on `path`, into `bytes` (a regular file with one
// allocation of its size); false on a read error.
bool read_whole(const std::string& path, std::istream& f, std::string& bytes);

}  // namespace dfmpc
