// IDX images + labels (plain or gzip, chosen by content). Input: u8 limit, u16 length of the
// images file, the images file, then the labels file.
#include <cstring>

#include "data/dataset.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int64_t limit = data[0];
  size_t split = static_cast<size_t>(data[1]) | static_cast<size_t>(data[2]) << 8;
  data += 3, size -= 3;
  if (split > size) split = size;
  dfmpc::fuzz::MemFile images(data, split), labels(data + split, size - split);
  try {
    const dfmpc::Dataset d = dfmpc::load_idx(images.path(), labels.path(), limit);
    if (d.pixels.size() != static_cast<size_t>(d.count * d.image_size()) || d.labels.size() != static_cast<size_t>(d.count))
      __builtin_trap();
  } catch (const dfmpc::DataError&) {
  }
  return 0;
}
