// Internal to src/data: reading files whole or in pieces, with gzip detected by content.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct gzFile_s;

namespace dfmpc::data_detail {

// A file opened for reading. When `decompress` is set and the file starts with the gzip magic
// bytes 1f 8b (whatever its name), read() returns the decompressed stream.
// Errors are DataError: "cannot open X: <strerror>", "cannot read X: <reason>".
class InputFile {
 public:
  explicit InputFile(const std::string& path, bool decompress = true);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  bool gzipped() const { return gz_ != nullptr; }
  // Size on disk (the compressed size for gzip files).
  int64_t disk_size() const { return disk_size_; }
  // Reads up to n bytes; returns fewer only at the end of the data.
  size_t read(void* dst, size_t n);
  // True when no data is left (reads one byte to find out; use only at the end).
  bool at_end();

 private:
  std::string path_;
  int fd_ = -1;
  gzFile_s* gz_ = nullptr;
  int64_t disk_size_ = 0;
};

// The whole raw (not decompressed) content of a file.
std::vector<uint8_t> read_file(const std::string& path);

// strerror(err) as a string.
std::string errno_text(int err);

// a * b, throwing DataError(what) when it does not fit in int64_t.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);

}  // namespace dfmpc::data_detail
