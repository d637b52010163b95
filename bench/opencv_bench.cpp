// OpenCV DNN speed (and optional accuracy) of an ONNX CIFAR model, for bench/run_speed.sh.
// Standalone: built by bench/run_speed.sh with
//   g++ -O2 -std=c++17 bench/opencv_bench.cpp $(pkg-config --cflags --libs opencv4)
// Usage: opencv_bench MODEL --batch B --threads N --seconds S [--data CIFAR.bin] [--limit N]
//   Without --limit: times net.forward() on one fixed batch for about S seconds after 2 warm-up
//   runs (real normalised images when --data is given), and prints one JSON line.
//   With --data and --limit N: also reports top-1 over the first N images (batches of B).
// Exit status 3 with {"error": "..."} on stdout when OpenCV cannot import or run the model.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr int kSide = 32, kPlane = kSide * kSide, kImage = 3 * kPlane, kRecord = 1 + kImage;
const float kMean[3] = {0.485f, 0.456f, 0.406f};
const float kStd[3] = {0.229f, 0.224f, 0.225f};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Reads up to `limit` CIFAR-10 records; fills labels and normalised NCHW floats.
int load_cifar(const std::string& path, int limit, std::vector<int>& labels, std::vector<float>& x) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return -1;
  std::vector<unsigned char> rec(kRecord);
  float table[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) table[c][v] = (static_cast<float>(v) / 255.0f - kMean[c]) / kStd[c];
  int n = 0;
  while (n < limit && f.read(reinterpret_cast<char*>(rec.data()), kRecord)) {
    labels.push_back(rec[0]);
    for (int c = 0; c < 3; ++c)
      for (int k = 0; k < kPlane; ++k) x.push_back(table[c][rec[1 + c * kPlane + k]]);
    ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, data;
  int batch = 1, threads = 2, limit = 0;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--batch") batch = std::atoi(next().c_str());
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--seconds") seconds = std::atof(next().c_str());
    else if (a == "--data") data = next();
    else if (a == "--limit") limit = std::atoi(next().c_str());
    else if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "unknown option %s\n", a.c_str()); return 2; }
    else model = a;
  }
  if (model.empty() || batch < 1) {
    std::fprintf(stderr, "usage: opencv_bench MODEL --batch B --threads N --seconds S [--data FILE] [--limit N]\n");
    return 2;
  }
  cv::setNumThreads(threads);
  const std::string head = std::string("{\"engine\":\"opencv-dnn\",\"version\":\"") + CV_VERSION +
                           "\",\"model\":\"" + json_escape(model) + "\",\"batch\":" + std::to_string(batch) +
                           ",\"threads\":" + std::to_string(threads);
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(model);
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  } catch (const cv::Exception& e) {
    std::cout << head << ",\"stage\":\"readNetFromONNX\",\"error\":\"" << json_escape(e.what()) << "\"}\n";
    return 3;
  }

  std::vector<int> labels;
  std::vector<float> images;
  const int want = std::max(batch, limit);
  if (!data.empty()) {
    if (load_cifar(data, want, labels, images) < batch) {
      std::fprintf(stderr, "%s: cannot read %d images\n", data.c_str(), want);
      return 2;
    }
  } else {
    images.resize(static_cast<size_t>(batch) * kImage);
    unsigned s = 12345;
    for (float& v : images) { s = s * 1103515245u + 12345u; v = static_cast<float>(s) / 4294967296.0f * 4 - 2; }
  }

  try {
    if (limit > 0 && !data.empty()) {  // accuracy over the first `limit` images
      const int n_img = static_cast<int>(labels.size());
      int top1 = 0;
      for (int first = 0; first < n_img; first += batch) {
        const int n = std::min(batch, n_img - first);
        int shape[4] = {n, 3, kSide, kSide};
        cv::Mat blob(4, shape, CV_32F, images.data() + static_cast<size_t>(first) * kImage);
        net.setInput(blob);
        cv::Mat out = net.forward().reshape(1, n);
        for (int i = 0; i < n; ++i) {
          cv::Point mx;
          cv::minMaxLoc(out.row(i), nullptr, nullptr, nullptr, &mx);
          top1 += mx.x == labels[first + i];
        }
      }
      std::cout << head << ",\"images\":" << n_img << ",\"top1\":" << 100.0 * top1 / n_img << "}\n";
      return 0;
    }
    int shape[4] = {batch, 3, kSide, kSide};
    cv::Mat blob(4, shape, CV_32F, images.data());
    for (int i = 0; i < 2; ++i) { net.setInput(blob); net.forward(); }
    double spent = 0;
    long runs = 0;
    const double cpu0 = cpu_seconds();
    while (spent < seconds || runs < 2) {
      const auto t0 = std::chrono::steady_clock::now();
      net.setInput(blob);
      cv::Mat out = net.forward();
      spent += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++runs;
    }
    const double cpu = cpu_seconds() - cpu0;
    std::printf("%s,\"runs\":%ld,\"images\":%ld,\"seconds\":%.6f,\"images_per_second\":%.3f,"
                "\"cpu_seconds\":%.4f,\"peak_rss_mb\":%.1f}\n",
                head.c_str(), runs, runs * batch, spent, runs * batch / spent, cpu, peak_rss_mb());
  } catch (const cv::Exception& e) {
    std::cout << head << ",\"stage\":\"forward\",\"error\":\"" << json_escape(e.what()) << "\"}\n";
    return 3;
  }
  return 0;
}
