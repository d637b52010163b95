// Internal to src/data: decoded images and the resize / crop steps of load_folder, written to
// give the pixels PIL and torchvision give (Image.open().convert(), Resize(int) with bilinear
// filtering, CenterCrop).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dfmpc::data_detail {

// Interleaved (HWC) 8-bit pixels.
struct Image {
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels
};

// Decodes a JPEG (libjpeg) or PNG (stb_image) held in memory, chosen by its magic bytes, to
// `channels` = 1 (grayscale) or 3 (RGB). Alpha is dropped; colour becomes gray as PIL's
// convert("L") does. Throws DataError "cannot decode <name>: <reason>".
Image decode_image(const uint8_t* data, size_t size, int channels, const std::string& name);
Image decode_jpeg(const uint8_t* data, size_t size, int channels, const std::string& name);
Image decode_png(const uint8_t* data, size_t size, int channels, const std::string& name);

// The largest image (width * height, before or after resizing) load_folder decodes: 2^26
// pixels (8192 x 8192). Checked from the file's header before any pixel is allocated, so a
// 100-byte file declaring a 7 x 15,000,000 PNG is an error, not 300 MB and 20 s of work.
// Fuzz harnesses lower it.
int64_t max_image_pixels();
void set_max_image_pixels(int64_t n);
// Throws DataError "<name>: image is WxH, more than the N pixels dfmpc decodes" when over.
void check_image_size(int64_t width, int64_t height, const std::string& name);

// Converts `src_channels` interleaved channels per pixel (1 gray, 2 gray+alpha, 3 RGB,
// 4 RGBA) to 1 or 3, writing `count` pixels to dst.
void convert_channels(const uint8_t* src, int src_channels, size_t count, uint8_t* dst, int dst_channels);

// Bilinear resampling as PIL's Image.resize(..., BILINEAR): a triangle filter widened by the
// scale factor when shrinking (antialiased), 22-bit fixed-point weights, horizontal pass first.
Image resize_bilinear(const Image& in, int64_t width, int64_t height);
// torchvision Resize(size): the shorter side becomes `size`, the longer one
// int(size * long / short); unchanged when the shorter side already is `size`.
Image resize_shorter_side(const Image& in, int64_t size);
// torchvision CenterCrop(size) for size <= both sides: offsets round((side - size) / 2),
// halves rounded to even as Python does.
Image center_crop(const Image& in, int64_t size);

}  // namespace dfmpc::data_detail
