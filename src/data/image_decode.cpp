// Picks the decoder by content and converts channel layouts the way PIL's convert() does.
#include <atomic>
#include <cstring>

#include "data/dataset.h"
#include "data/image.h"

namespace dfmpc::data_detail {

namespace {
std::atomic<int64_t> g_max_pixels{int64_t{1} << 26};
}

int64_t max_image_pixels() { return g_max_pixels.load(std::memory_order_relaxed); }
void set_max_image_pixels(int64_t n) { g_max_pixels.store(n, std::memory_order_relaxed); }

void check_image_size(int64_t width, int64_t height, const std::string& name) {
  if (width <= 0 || height <= 0 || width > max_image_pixels() / height)
    throw DataError("cannot decode " + name + ": image is " + std::to_string(width) + "x" + std::to_string(height) +
                    ", more than the " + std::to_string(max_image_pixels()) + " pixels dfmpc decodes");
}

void convert_channels(const uint8_t* src, int src_channels, size_t count, uint8_t* dst, int dst_channels) {
  if (src_channels == dst_channels) {
    std::memcpy(dst, src, count * static_cast<size_t>(src_channels));
    return;
  }
  const size_t step = static_cast<size_t>(src_channels);
  if (src_channels <= 2) {  // gray (+ alpha): keep the gray value
    for (size_t i = 0; i < count; ++i, src += step) {
      for (int c = 0; c < dst_channels; ++c) *dst++ = src[0];
    }
  } else if (dst_channels == 3) {  // RGBA -> RGB: drop alpha
    for (size_t i = 0; i < count; ++i, src += step, dst += 3) {
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
  } else {  // RGB(A) -> L, ITU-R 601-2 luma as PIL's rgb2l
    for (size_t i = 0; i < count; ++i, src += step) {
      *dst++ = static_cast<uint8_t>((src[0] * 19595 + src[1] * 38470 + src[2] * 7471 + 0x8000) >> 16);
    }
  }
}

Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return decode_jpeg(data, size, channels, name);
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return decode_png(data, size, channels, name);
  throw DataError("cannot decode " + name + ": not a JPEG or PNG file");
}

}  // namespace dfmpc::data_detail
