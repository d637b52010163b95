// Image folders laid out as torchvision's ImageFolder reads them: root/<class>/.../<image>,
// classes sorted by name give labels 0, 1, ...; within a class, files sorted by (directory,
// name), subdirectories included. Only .jpg, .jpeg and .png files (any case) are read.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <utility>

#include "data/dataset.h"
#include "data/image.h"
#include "data/input_file.h"

namespace dfmpc {
namespace {

namespace fs = std::filesystem;
using data_detail::Image;

bool is_image_name(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : {".jpg", ".jpeg", ".png"}) {
    const std::string e = ext;
    if (lower.size() > e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

std::vector<std::string> class_names(const std::string& root) {
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) throw DataError("cannot open " + root + ": " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code ec2;
    if (it->is_directory(ec2)) names.push_back(it->path().filename().string());
  }
  if (ec) throw DataError("cannot read " + root + ": " + ec.message());
  if (names.empty()) throw DataError(root + ": no class subdirectories");
  std::sort(names.begin(), names.end());
  return names;
}

// Image files under dir (recursively), in (directory, file name) order.
std::vector<std::string> image_files(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    const std::string name = it->path().filename().string();
    if (is_image_name(name) && it->is_regular_file(ec2))
      found.emplace_back(it->path().parent_path().string(), name);
  }
  if (ec) throw DataError("cannot read " + dir.string() + ": " + ec.message());
  if (found.empty()) throw DataError(dir.string() + ": no .jpg, .jpeg or .png images in this class folder");
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (auto& [parent, name] : found) paths.push_back((fs::path(parent) / name).string());
  return paths;
}

std::string size_text(const Image& img) {
  return std::to_string(img.width) + "x" + std::to_string(img.height);
}

}  // namespace

Dataset load_folder(const std::string& root, const FolderOptions& opt, int64_t limit) {
  if (opt.resize < 0 || opt.crop < 0)
    throw DataError("load_folder " + root + ": resize and crop must be >= 0");
  const std::vector<std::string> classes = class_names(root);
  std::vector<std::pair<std::string, int32_t>> files;
  for (size_t c = 0; c < classes.size(); ++c)
    for (std::string& path : image_files(fs::path(root) / classes[c]))
      files.emplace_back(std::move(path), static_cast<int32_t>(c));
  if (limit > 0 && static_cast<int64_t>(files.size()) > limit) files.resize(static_cast<size_t>(limit));

  Dataset d;
  d.channels = opt.grayscale ? 1 : 3;
  for (const auto& [path, label] : files) {
    const std::vector<uint8_t> bytes = data_detail::read_file(path);
    Image img = data_detail::decode_image(bytes.data(), bytes.size(), static_cast<int>(d.channels), path);
    if (opt.resize > 0) img = data_detail::resize_shorter_side(img, opt.resize);
    if (opt.crop > 0) {
      if (opt.crop > img.width || opt.crop > img.height)
        throw DataError(path + ": image is " + size_text(img) + (opt.resize > 0 ? " after resizing" : "") +
                        ", smaller than the " + std::to_string(opt.crop) + "x" + std::to_string(opt.crop) +
                        " crop");
      img = data_detail::center_crop(img, opt.crop);
    }
    if (d.count == 0) {
      d.height = img.height;
      d.width = img.width;
      d.pixels.reserve(files.size() * static_cast<size_t>(d.image_size()));
      d.labels.reserve(files.size());
    } else if (img.height != d.height || img.width != d.width) {
      throw DataError(path + ": image is " + size_text(img) + " but the first image is " +
                      std::to_string(d.width) + "x" + std::to_string(d.height) +
                      " (use crop to give all images one size)");
    }
    // HWC -> CHW
    const int64_t plane = img.height * img.width, ch = d.channels;
    const size_t base = d.pixels.size();
    d.pixels.resize(base + static_cast<size_t>(plane * ch));
    uint8_t* dst = d.pixels.data() + base;
    for (int64_t c = 0; c < ch; ++c)
      for (int64_t i = 0; i < plane; ++i) dst[c * plane + i] = img.pixels[i * ch + c];
    d.labels.push_back(label);
    ++d.count;
  }
  return d;
}

}  // namespace dfmpc
