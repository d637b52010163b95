// uint8 CHW images -> float NCHW, (pixel / 255 - mean[c]) / std[c], through a 256-entry table
// per channel. The table holds exactly what the float formula gives (as torchvision's
// ToTensor + Normalize compute it), so the output does not depend on the shortcut.
#include <string>

#include "data/dataset.h"

namespace dfmpc {
namespace {

// The per-channel value of a mean or std list: one per channel, one for all, or `fallback`.
std::vector<float> per_channel(const std::vector<float>& v, int64_t channels, float fallback,
                               const char* what) {
  if (v.empty()) return std::vector<float>(static_cast<size_t>(channels), fallback);
  if (v.size() == 1) return std::vector<float>(static_cast<size_t>(channels), v[0]);
  if (static_cast<int64_t>(v.size()) == channels) return v;
  throw DataError(std::string("normalization has ") + std::to_string(v.size()) + " " + what +
                  " values for images with " + std::to_string(channels) + " channels (give 1 or " +
                  std::to_string(channels) + ")");
}

}  // namespace

void normalize_batch(const Dataset& d, int64_t first, int64_t n, const Normalization& norm, float* out) {
  if (first < 0 || n < 0 || first > d.count || n > d.count - first)
    throw DataError("normalize_batch: images [" + std::to_string(first) + ", " + std::to_string(first + n) +
                    ") are outside the dataset's " + std::to_string(d.count) + " images");
  const int64_t image = d.image_size();
  if (static_cast<int64_t>(d.pixels.size()) < d.count * image)
    throw DataError("normalize_batch: dataset holds " + std::to_string(d.pixels.size()) +
                    " pixel bytes, fewer than its " + std::to_string(d.count) + " images need");
  const int64_t channels = d.channels;
  const std::vector<float> mean = per_channel(norm.mean, channels, 0.0f, "mean");
  const std::vector<float> stdev = per_channel(norm.std, channels, 1.0f, "std");

  std::vector<float> table(static_cast<size_t>(channels) * 256);
  for (int64_t c = 0; c < channels; ++c) {
    if (stdev[c] == 0.0f)
      throw DataError("normalization std for channel " + std::to_string(c) + " is " +
                      std::to_string(stdev[c]));
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v) / 255.0f;
      table[c * 256 + v] = (x - mean[c]) / stdev[c];
    }
  }

  if (n == 0) return;
  const int64_t plane = d.height * d.width;
  const uint8_t* src = d.pixels.data() + first * image;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* t = table.data() + c * 256;
      for (int64_t k = 0; k < plane; ++k) out[k] = t[src[k]];
      src += plane;
      out += plane;
    }
  }
}

}  // namespace dfmpc
