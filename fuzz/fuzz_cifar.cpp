// CIFAR-10 and CIFAR-100 binary batches (plain or gzip). Input: u8 limit, then the file.
#include "data/dataset.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t limit = data[0];
  dfmpc::fuzz::MemFile file(data + 1, size - 1);
  for (auto load : {dfmpc::load_cifar10, dfmpc::load_cifar100}) {
    try {
      const dfmpc::Dataset d = load(file.path(), limit);
      if (d.pixels.size() != static_cast<size_t>(d.count * d.image_size()) || d.labels.size() != static_cast<size_t>(d.count))
        __builtin_trap();
    } catch (const dfmpc::DataError&) {
    }
  }
  return 0;
}
