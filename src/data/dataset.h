// Labelled image sets held as 8-bit planar CHW pixels, and their normalisation to the float
// NCHW batches a model reads: (pixel / 255 - mean[c]) / std[c].
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace dfmpc {

// Thrown for unreadable or inconsistent data; the message is one line naming the file.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Dataset {
  int64_t count = 0;
  int64_t channels = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // count * channels * height * width, image-major, CHW
  std::vector<int32_t> labels;  // count
  int64_t image_size() const { return channels * height * width; }
};

struct Normalization {
  std::vector<float> mean;  // one per channel, or one for all (empty = 0)
  std::vector<float> std;   // one per channel, or one for all (empty = 1)
};

// limit <= 0 reads everything.
Dataset load_cifar10(const std::string& path, int64_t limit = 0);
Dataset load_cifar100(const std::string& path, int64_t limit = 0);  // fine labels
// IDX (MNIST / Fashion-MNIST) images + labels, plain or .gz.
Dataset load_idx(const std::string& images, const std::string& labels, int64_t limit = 0);

struct FolderOptions {
  int64_t resize = 0;      // shorter side resized to this (bilinear) before cropping; 0 = no resize
  int64_t crop = 0;        // centre crop to crop x crop; 0 = no crop (all images must share a size)
  bool grayscale = false;  // read as 1 channel instead of RGB
};
// root/<class name>/*.{jpg,jpeg,png}; classes sorted by name get labels 0, 1, ...
// As torchvision's ImageFolder + Resize(resize) + CenterCrop(crop) on PIL images, to the
// pixel: files sorted by (directory, name), class subfolders searched recursively, other
// files skipped; JPEG/PNG chosen by content; PIL's antialiased bilinear resize. A class
// folder without images, or an image that cannot be decoded, is a DataError naming it.
Dataset load_folder(const std::string& root, const FolderOptions& opt, int64_t limit = 0);

// Writes images [first, first + n) normalised into out (n * C * H * W floats).
void normalize_batch(const Dataset& d, int64_t first, int64_t n, const Normalization& norm, float* out);

}  // namespace dfmpc
