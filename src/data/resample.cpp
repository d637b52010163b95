// Resize and centre crop following Pillow's Resample.c (ImagingResample with the bilinear
// filter, 8 bits per channel) and torchvision's Resize / CenterCrop, so that load_folder gives
// the pixels a PIL + torchvision pipeline gives.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/dataset.h"
#include "data/image.h"

namespace dfmpc::data_detail {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// For each output pixel: first input pixel, number of input pixels, and fixed-point weights.
struct Coefficients {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
};

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Coefficients precompute(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  Coefficients co;
  co.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  co.first.resize(static_cast<size_t>(out_size));
  co.count.resize(static_cast<size_t>(out_size));
  co.weights.assign(static_cast<size_t>(out_size * co.ksize), 0);
  std::vector<double> k(static_cast<size_t>(co.ksize));
  for (int64_t xx = 0; xx < out_size; ++xx) {
    const double center = (static_cast<double>(xx) + 0.5) * scale;
    const double ss = 1.0 / filter_scale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);  // truncation, as in C
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = triangle((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* out = co.weights.data() + xx * co.ksize;
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = (ww != 0.0 ? k[x] / ww : k[x]) * (1 << kPrecisionBits);
      out[x] = static_cast<int32_t>(w < 0 ? w - 0.5 : w + 0.5);
    }
    co.first[xx] = xmin;
    co.count[xx] = xmax;
  }
  return co;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

Image resample_horizontal(const Image& in, int64_t width) {
  const Coefficients co = precompute(in.width, width);
  const int64_t ch = in.channels;
  Image out{width, in.height, ch, {}};
  out.pixels.resize(static_cast<size_t>(width * in.height * ch));
  for (int64_t y = 0; y < in.height; ++y) {
    const uint8_t* row = in.pixels.data() + y * in.width * ch;
    uint8_t* dst = out.pixels.data() + y * width * ch;
    for (int64_t x = 0; x < width; ++x) {
      const int32_t* k = co.weights.data() + x * co.ksize;
      const uint8_t* src = row + co.first[x] * ch;
      for (int64_t c = 0; c < ch; ++c) {
        int32_t ss = 1 << (kPrecisionBits - 1);
        for (int64_t j = 0; j < co.count[x]; ++j) ss += src[j * ch + c] * k[j];
        dst[x * ch + c] = clip8(ss);
      }
    }
  }
  return out;
}

Image resample_vertical(const Image& in, int64_t height) {
  const Coefficients co = precompute(in.height, height);
  const int64_t ch = in.channels, row_len = in.width * ch;
  Image out{in.width, height, ch, {}};
  out.pixels.resize(static_cast<size_t>(row_len * height));
  std::vector<int32_t> acc(static_cast<size_t>(row_len));
  for (int64_t y = 0; y < height; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = co.weights.data() + y * co.ksize;
    for (int64_t j = 0; j < co.count[y]; ++j) {
      const uint8_t* src = in.pixels.data() + (co.first[y] + j) * row_len;
      const int32_t w = k[j];
      for (int64_t i = 0; i < row_len; ++i) acc[i] += src[i] * w;
    }
    uint8_t* dst = out.pixels.data() + y * row_len;
    for (int64_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

}  // namespace

Image resize_bilinear(const Image& in, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) throw DataError("resize to a non-positive size");
  Image out = in.width != width ? resample_horizontal(in, width) : in;
  if (in.height != height) out = resample_vertical(out, height);
  return out;
}

Image resize_shorter_side(const Image& in, int64_t size) {
  const bool portrait = in.width <= in.height;
  const int64_t shorter = portrait ? in.width : in.height;
  const int64_t longer = portrait ? in.height : in.width;
  if (shorter == size) return in;
  const int64_t new_long =
      static_cast<int64_t>(static_cast<double>(size * longer) / static_cast<double>(shorter));
  check_image_size(size, new_long, "the resized image");
  return portrait ? resize_bilinear(in, size, new_long) : resize_bilinear(in, new_long, size);
}

Image center_crop(const Image& in, int64_t size) {
  if (size > in.width || size > in.height) throw DataError("centre crop larger than the image");
  // Python's round(): halves go to the even neighbour, as nearbyint does by default.
  const int64_t top = static_cast<int64_t>(std::nearbyint((in.height - size) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((in.width - size) / 2.0));
  const int64_t ch = in.channels;
  Image out{size, size, ch, {}};
  out.pixels.resize(static_cast<size_t>(size * size * ch));
  for (int64_t y = 0; y < size; ++y)
    std::memcpy(out.pixels.data() + y * size * ch, in.pixels.data() + ((top + y) * in.width + left) * ch,
                static_cast<size_t>(size * ch));
  return out;
}

}  // namespace dfmpc::data_detail
