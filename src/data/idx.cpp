// IDX files (MNIST, Fashion-MNIST): big-endian magic 0x000008NN (unsigned bytes, NN dims),
// NN big-endian uint32 dimensions, then the data. Plain or gzip (detected by magic bytes).
#include <algorithm>
#include <cstdio>

#include "data/dataset.h"
#include "data/input_file.h"

namespace dfmpc {
namespace {

using data_detail::InputFile;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

struct IdxHeader {
  std::vector<int64_t> dims;
  int64_t header_bytes = 0;
  int64_t data_bytes = 0;  // product of dims
};

// Reads and checks the header of an unsigned-byte IDX file with `ndims` dimensions.
IdxHeader read_header(InputFile& f, int ndims, const char* what) {
  const uint32_t expected = 0x00000800u | static_cast<uint32_t>(ndims);
  uint8_t buf[4 * 4];
  if (f.read(buf, 4) != 4)
    throw DataError(f.path() + ": too short for an IDX header (is it an IDX " + what + " file?)");
  const uint32_t magic = be32(buf);
  if (magic != expected)
    throw DataError(f.path() + ": bad IDX magic " + hex32(magic) + ", expected " + hex32(expected) + " for " +
                    what + " (unsigned bytes, " + std::to_string(ndims) + " dims)");
  const size_t dim_bytes = static_cast<size_t>(4 * ndims);
  if (f.read(buf, dim_bytes) != dim_bytes) throw DataError(f.path() + ": truncated IDX header");
  IdxHeader h;
  h.header_bytes = 4 + static_cast<int64_t>(dim_bytes);
  h.data_bytes = 1;
  for (int i = 0; i < ndims; ++i) {
    const int64_t dim = be32(buf + 4 * i);
    if (dim == 0) throw DataError(f.path() + ": IDX dimension " + std::to_string(i) + " is 0");
    h.dims.push_back(dim);
    h.data_bytes = data_detail::checked_mul(h.data_bytes, dim, f.path() + ": IDX dimensions are too large");
  }
  // A plain file's size is known: check it holds exactly what the header claims.
  if (!f.gzipped()) {
    const int64_t expected_size = h.header_bytes + h.data_bytes;
    if (f.disk_size() < expected_size)
      throw DataError(f.path() + ": truncated: header claims " + std::to_string(expected_size) +
                      " bytes but the file has " + std::to_string(f.disk_size()));
    if (f.disk_size() > expected_size)
      throw DataError(f.path() + ": has " + std::to_string(f.disk_size()) + " bytes but its header claims " +
                      std::to_string(expected_size) + " (trailing data)");
  }
  return h;
}

// Reads `bytes` bytes of data; when `whole` (all of the data was wanted) also checks that
// nothing follows it (for gzip files, whose size is not known in advance).
std::vector<uint8_t> read_data(InputFile& f, int64_t bytes, bool whole) {
  std::vector<uint8_t> out;
  size_t got = 0;
  if (!f.gzipped()) {  // the size on disk was checked against the header
    out.resize(static_cast<size_t>(bytes));
    got = f.read(out.data(), out.size());
  } else {
    // A gzip stream's length is unknown until read: grow with the data actually there, so a
    // small file whose header claims gigabytes fails as truncated without allocating them
    // (found by fuzzing, docs/reliability.md).
    for (size_t chunk = size_t{1} << 16; got < static_cast<size_t>(bytes); chunk = std::min(chunk * 2, size_t{1} << 26)) {
      const size_t want = std::min(chunk, static_cast<size_t>(bytes) - got);
      out.resize(got + want);
      const size_t n = f.read(out.data() + got, want);
      got += n;
      if (n < want) break;
    }
  }
  if (got != static_cast<size_t>(bytes))
    throw DataError(f.path() + ": truncated: expected " + std::to_string(bytes) +
                    " bytes of data after the header, got " + std::to_string(got));
  if (whole && f.gzipped() && !f.at_end())
    throw DataError(f.path() + ": has data after the " + std::to_string(bytes) + " bytes its header claims");
  return out;
}

}  // namespace

Dataset load_idx(const std::string& images, const std::string& labels, int64_t limit) {
  InputFile fi(images);
  const IdxHeader hi = read_header(fi, 3, "images");
  InputFile fl(labels);
  const IdxHeader hl = read_header(fl, 1, "labels");
  if (hl.dims[0] != hi.dims[0])
    throw DataError("labels file " + labels + " has " + std::to_string(hl.dims[0]) +
                    " labels but images file " + images + " has " + std::to_string(hi.dims[0]) + " images");

  Dataset d;
  d.count = hi.dims[0];
  const bool whole = !(limit > 0 && limit < d.count);
  if (!whole) d.count = limit;
  d.channels = 1;
  d.height = hi.dims[1];
  d.width = hi.dims[2];
  d.pixels = read_data(fi, d.count * d.height * d.width, whole);
  const std::vector<uint8_t> raw_labels = read_data(fl, d.count, whole);
  d.labels.assign(raw_labels.begin(), raw_labels.end());
  return d;
}

}  // namespace dfmpc
