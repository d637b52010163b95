#include "cli/cli_common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace dfmpc::cli {

void add_data_flags(CLI::App& cmd, DataFlags& f, bool required) {
  auto* d = cmd.add_option("--data", f.data, "Images: CIFAR binary file, IDX images file or folder tree");
  if (required) d->required();
  cmd.add_option("--format", f.format, "Data format")
      ->check(CLI::IsMember({"cifar10", "cifar100", "idx", "folder"}))
      ->default_str("cifar10");
  cmd.add_option("--labels", f.labels, "IDX labels file (with --format idx)");
  cmd.add_option("--mean", f.mean, "Per-channel mean of pixels in [0,1], e.g. 0.485,0.456,0.406")->delimiter(',');
  cmd.add_option("--std", f.std, "Per-channel std, e.g. 0.229,0.224,0.225")->delimiter(',');
  cmd.add_option("--limit", f.limit, "Use only the first N images (0 = all)")->check(CLI::NonNegativeNumber);
  cmd.add_option("--resize", f.resize, "Folder format: resize the shorter side to N")->check(CLI::NonNegativeNumber);
  cmd.add_option("--crop", f.crop, "Folder format: centre crop N x N")->check(CLI::NonNegativeNumber);
  cmd.add_flag("--grayscale", f.grayscale, "Folder format: read images as one channel");
}

Dataset load_data(const DataFlags& f) {
  const std::string fmt = f.format.empty() ? "cifar10" : f.format;
  if (fmt == "idx") {
    if (f.labels.empty()) throw DataError("--format idx needs --labels LABELS_FILE");
    return load_idx(f.data, f.labels, f.limit);
  }
  if (!f.labels.empty()) throw DataError("--labels is only used with --format idx");
  if (fmt == "cifar10") return load_cifar10(f.data, f.limit);
  if (fmt == "cifar100") return load_cifar100(f.data, f.limit);
  return load_folder(f.data, FolderOptions{f.resize, f.crop, f.grayscale}, f.limit);
}

Normalization normalization(const DataFlags& f) { return Normalization{f.mean, f.std}; }

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(2) != 0), start_(now_s()) {}

void Progress::operator()(int64_t done, int64_t total) {
  if (!tty_ || total <= 0) return;
  const double frac = static_cast<double>(done) / static_cast<double>(total);
  const double el = now_s() - start_;
  const double eta = frac > 0 ? el * (1 - frac) / frac : 0;
  const int width = 30, filled = static_cast<int>(frac * width);
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %lld/%lld ETA %.1fs ", label_.c_str(), filled,
               "##############################", width - filled, "", static_cast<int>(frac * 100),
               static_cast<long long>(done), static_cast<long long>(total), eta);
  drawn_ = true;
}

Progress::~Progress() {
  if (drawn_) std::fprintf(stderr, "\r%*s\r", 79, "");
}

}  // namespace dfmpc::cli
