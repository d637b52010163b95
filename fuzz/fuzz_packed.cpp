// The packed-model reader (.dfmpc): header, skeleton inflate + import, tensor records, shape
// check against the graph, then dequantization of every tensor (what `dfmpc eval OUT.dfmpc`
// loads). The harness rewrites the CRC-32 field to match the mutated bytes, so mutations reach
// the parsing behind the checksum (the checksum itself is covered by tests/export).
#include <zlib.h>

#include <cstring>
#include <string>

#include "export/packed_model.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool limited = (dfmpc::fuzz::limit_tensor_sizes(), true);
  (void)limited;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (bytes.size() >= 12) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + 12), static_cast<uInt>(bytes.size() - 12)));
    std::memcpy(bytes.data() + 8, &crc, sizeof crc);
  }
  try {
    dfmpc::read_packed_model_bytes(bytes, "fuzz.dfmpc");
  } catch (const dfmpc::ModelError&) {
  }
  return 0;
}
