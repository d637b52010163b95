// File helpers shared by every writer: nothing partial is ever left at the destination.
#pragma once
#include <string>

namespace dfmpc {

// Writes bytes to `path` through a temporary file in the same directory, renamed into place
// when complete. Throws std::runtime_error naming the path on failure.
void write_file_atomic(const std::string& path, const std::string& bytes);

std::string read_file(const std::string& path);  // throws std::runtime_error naming the path

}  // namespace dfmpc
