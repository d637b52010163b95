#include "data/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "data/dataset.h"

namespace dfmpc::data_detail {

std::string errno_text(int err) { return std::strerror(err); }

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) throw DataError(what);
  return r;
}

InputFile::InputFile(const std::string& path, bool decompress) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw DataError("cannot open " + path + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || S_ISDIR(st.st_mode)) {
    int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
    ::close(fd_);
    throw DataError("cannot open " + path + ": " + errno_text(err));
  }
  disk_size_ = static_cast<int64_t>(st.st_size);
  if (!decompress) return;
  unsigned char magic[2] = {0, 0};
  ssize_t got = ::pread(fd_, magic, 2, 0);
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gz_ = gzdopen(fd_, "rb");  // takes ownership of fd_
    if (!gz_) {
      ::close(fd_);
      throw DataError("cannot open " + path + ": gzdopen failed");
    }
    fd_ = -1;
    gzbuffer(gz_, 1 << 18);
  }
}

InputFile::~InputFile() {
  if (gz_) gzclose_r(gz_);
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read(void* dst, size_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t done = 0;
  while (done < n) {
    size_t want = n - done;
    if (want > (1u << 30)) want = 1u << 30;
    if (gz_) {
      int got = gzread(gz_, out + done, static_cast<unsigned>(want));
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(gz_, &code);
        throw DataError("cannot read " + path_ + ": " +
                        (code == Z_ERRNO ? errno_text(errno) : std::string(msg)));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    } else {
      ssize_t got = ::read(fd_, out + done, want);
      if (got < 0) {
        if (errno == EINTR) continue;
        throw DataError("cannot read " + path_ + ": " + errno_text(errno));
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
  }
  return done;
}

bool InputFile::at_end() {
  unsigned char byte;
  return read(&byte, 1) == 0;
}

std::vector<uint8_t> read_file(const std::string& path) {
  InputFile f(path, /*decompress=*/false);
  std::vector<uint8_t> data(static_cast<size_t>(f.disk_size()));
  size_t got = f.read(data.data(), data.size());
  if (got != data.size())
    throw DataError("cannot read " + path + ": file shrank while reading (" + std::to_string(got) + " of " +
                    std::to_string(data.size()) + " bytes)");
  return data;
}

}  // namespace dfmpc::data_detail
