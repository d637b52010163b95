#include "ir/file_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace dfmpc {

void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
    write(f);
    f.flush();
    if (!f) throw std::runtime_error("writing '" + path + "' failed: " + std::strerror(errno));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot move output into '" + path + "': " + std::strerror(err));
  }
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
