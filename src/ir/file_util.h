// File helpers shared by every writer: nothing partial is ever left at the destination.
#pragma once
#include <functional>
#include <istream>
#include <ostream>
#include <string>

namespace dfmpc {

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
