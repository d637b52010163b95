// Shared by the fuzz harnesses: fuzz input as a file the path-based readers can open (an
// in-memory memfd, no disk I/O), and the one rule of every harness: dfmpc's own errors
// (ModelError, DataError) are the expected outcome of bad input; anything else escapes and
// is reported by libFuzzer as a finding.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "ir/tensor.h"

namespace dfmpc::fuzz {

class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = ::memfd_create("dfmpc-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Keeps every tensor the harnesses make within libFuzzer's default 2 GB memory limit: a
// 2^24-element tensor is 64 MB, far above anything a fuzz input describes legitimately.
inline void limit_tensor_sizes() { set_max_tensor_elements(int64_t{1} << 24); }

}  // namespace dfmpc::fuzz
