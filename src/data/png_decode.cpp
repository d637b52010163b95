// PNG decoding with stb_image, compiled here with static linkage (STB_IMAGE_STATIC) so that it
// cannot clash with another copy of stb_image elsewhere in a program.
#include <climits>
#include <memory>

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

Image decode_png(const uint8_t* data, size_t size, int channels, const std::string& name) {
  if (size > static_cast<size_t>(INT_MAX)) throw DataError("cannot decode " + name + ": file too large");
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
