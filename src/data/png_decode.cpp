// PNG decoding with stb_image, compiled here with static linkage (STB_IMAGE_STATIC) so that it
// cannot clash with another copy of stb_image elsewhere in a program.
#include <climits>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace dfmpc::data_detail {

namespace {

uint32_t be32(const uint8_t* p) { return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3]; }

// Guards around stb_image, which reads the header itself: the declared size is checked before
// stb allocates it, and zero-length IDAT chunks (legal, but stb then memcpy()s into a null
// buffer: undefined behaviour found by fuzzing, docs/reliability.md) are dropped from a copy.
// Returns the bytes to decode: `data` itself, or `copy` when chunks were dropped.
std::span<const uint8_t> guarded_png(const uint8_t* data, size_t size, const std::string& name, std::vector<uint8_t>& copy) {
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0)
    check_image_size(be32(data + 16), be32(data + 20), name);
  bool empty_idat = false;
  for (size_t pos = 8; pos + 12 <= size;) {
    const size_t len = be32(data + pos);
    if (len > size - pos - 12) break;  // truncated: stb reports it
    empty_idat = empty_idat || (len == 0 && std::memcmp(data + pos + 4, "IDAT", 4) == 0);
    pos += 12 + len;
  }
  if (!empty_idat) return {data, size};
  copy.assign(data, data + 8);
  size_t pos = 8;
  for (; pos + 12 <= size;) {
    const size_t len = be32(data + pos);
    if (len > size - pos - 12) break;
    if (!(len == 0 && std::memcmp(data + pos + 4, "IDAT", 4) == 0)) copy.insert(copy.end(), data + pos, data + pos + 12 + len);
    pos += 12 + len;
  }
  copy.insert(copy.end(), data + pos, data + size);
  return {copy.data(), copy.size()};
}

}  // namespace

Image decode_png(const uint8_t* data_in, size_t size_in, int channels, const std::string& name) {
  if (size_in > static_cast<size_t>(INT_MAX)) throw DataError("cannot decode " + name + ": file too large");
  std::vector<uint8_t> copy;
  const std::span<const uint8_t> bytes = guarded_png(data_in, size_in, name, copy);
  const uint8_t* data = bytes.data();
  const size_t size = bytes.size();
  int w = 0, h = 0, comps = 0;
  // 16-bit samples come back as their high byte, as PIL's RGB conversion gives.
  std::unique_ptr<stbi_uc, void (*)(void*)> raw(
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &comps, 0), stbi_image_free);
  if (!raw) throw DataError("cannot decode " + name + ": " + stbi_failure_reason());
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  const size_t count = static_cast<size_t>(w) * static_cast<size_t>(h);
  img.pixels.resize(count * static_cast<size_t>(channels));
  convert_channels(raw.get(), comps, count, img.pixels.data(), channels);
  return img;
}

}  // namespace dfmpc::data_detail
