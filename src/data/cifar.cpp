// CIFAR-10 / CIFAR-100 binary batches: fixed-size records of label byte(s) + 3072 pixel bytes
// (1024 R, 1024 G, 1024 B, each 32x32 row-major), which is already planar CHW.
#include <algorithm>
#include <cstring>

#include "data/dataset.h"
#include "data/input_file.h"

namespace dfmpc {
namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kImageBytes = 3 * kSide * kSide;

struct CifarLayout {
  const char* name;     // "CIFAR-10"
  int64_t label_bytes;  // label bytes before the pixels
  int64_t label_index;  // which of them is the label used
  int32_t num_classes;
  int32_t num_coarse;  // CIFAR-100 coarse classes (label byte 0), checked only; 0 = none
};

// Reads the records with one read() into what becomes Dataset::pixels, then moves each
// image over its label bytes in place.
Dataset load_cifar(const std::string& path, const CifarLayout& layout, int64_t limit) {
  using data_detail::InputFile;
  const int64_t record = layout.label_bytes + kImageBytes;
  const std::string rec_text = std::to_string(record) + "-byte " + layout.name + " record";
  InputFile file(path);

  std::vector<uint8_t> buf;
  int64_t count = 0;
  if (!file.gzipped()) {
    const int64_t size = file.disk_size();
    if (size % record != 0)
      throw DataError(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " +
                      rec_text);
    count = size / record;
    if (limit > 0 && limit < count) count = limit;
    buf.resize(static_cast<size_t>(count * record));
    size_t got = file.read(buf.data(), buf.size());
    if (got != buf.size())
      throw DataError("cannot read " + path + ": got " + std::to_string(got) + " of " +
                      std::to_string(buf.size()) + " bytes");
  } else {
    // Decompressed size unknown: read in record-aligned chunks up to the limit, growing
    // from 64 records so that a small file never allocates megabytes.
    int64_t chunk_records = 64;
    int64_t total = 0;
    for (;; chunk_records = std::min<int64_t>(chunk_records * 2, 4096)) {
      int64_t want = chunk_records * record;
      if (limit > 0) want = std::min(want, limit * record - total);
      if (want <= 0) break;
      buf.resize(static_cast<size_t>(total + want));
      size_t got = file.read(buf.data() + total, static_cast<size_t>(want));
      total += static_cast<int64_t>(got);
      if (static_cast<int64_t>(got) < want) break;
    }
    buf.resize(static_cast<size_t>(total));
    if (total % record != 0)
      throw DataError(path + ": decompressed size " + std::to_string(total) +
                      " bytes is not a multiple of the " + rec_text);
    count = total / record;
  }
  if (count == 0) throw DataError(path + ": holds no " + std::string(layout.name) + " records");

  Dataset d;
  d.count = count;
  d.channels = 3;
  d.height = kSide;
  d.width = kSide;
  d.labels.resize(static_cast<size_t>(count));
  uint8_t* p = buf.data();
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t* rec = p + i * record;
    const int32_t label = rec[layout.label_index];
    if (label >= layout.num_classes)
      throw DataError(path + ": record " + std::to_string(i) + " has label " + std::to_string(label) +
                      ", outside 0.." + std::to_string(layout.num_classes - 1) + " (not a " + layout.name +
                      " file?)");
    if (layout.num_coarse > 0 && rec[0] >= layout.num_coarse)
      throw DataError(path + ": record " + std::to_string(i) + " has coarse label " + std::to_string(rec[0]) +
                      ", outside 0.." + std::to_string(layout.num_coarse - 1) + " (not a " + layout.name +
                      " file?)");
    d.labels[static_cast<size_t>(i)] = label;
    std::memmove(p + i * kImageBytes, rec + layout.label_bytes, kImageBytes);
  }
  buf.resize(static_cast<size_t>(count * kImageBytes));
  d.pixels = std::move(buf);
  return d;
}

}  // namespace

Dataset load_cifar10(const std::string& path, int64_t limit) {
  return load_cifar(path, {"CIFAR-10", 1, 0, 10, 0}, limit);
}

Dataset load_cifar100(const std::string& path, int64_t limit) {
  return load_cifar(path, {"CIFAR-100", 2, 1, 100, 20}, limit);
}

}  // namespace dfmpc
