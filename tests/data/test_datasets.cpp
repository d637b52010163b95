// Loaders for CIFAR binaries, IDX files and image folders, and normalize_batch, on small
// synthetic files; plus the real Fashion-MNIST and shared CIFAR-10 files when present.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include "data/dataset.h"
#include "data_test_util.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

using test::data_error;
using test::TempDir;
using test::write_bytes;

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// ---------------------------------------------------------------------------------- CIFAR

uint8_t cifar_pixel(int64_t i, int64_t c, int64_t y, int64_t x) {
  return static_cast<uint8_t>((i * 31 + c * 7 + y * 3 + x * 5) % 256);
}
int32_t cifar100_fine(int64_t i) { return static_cast<int32_t>((i * 13) % 100); }

// n records; label_bytes 1 (CIFAR-10, label i % 10) or 2 (CIFAR-100, coarse i % 20, fine
// cifar100_fine(i)).
std::vector<uint8_t> cifar_bytes(int64_t n, int label_bytes) {
  std::vector<uint8_t> out;
  for (int64_t i = 0; i < n; ++i) {
    if (label_bytes == 1) {
      out.push_back(static_cast<uint8_t>(i % 10));
    } else {
      out.push_back(static_cast<uint8_t>(i % 20));
      out.push_back(static_cast<uint8_t>(cifar100_fine(i)));
    }
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(cifar_pixel(i, c, y, x));
  }
  return out;
}

void expect_cifar_pixels(const Dataset& d) {
  ASSERT_EQ(d.channels, 3);
  ASSERT_EQ(d.height, 32);
  ASSERT_EQ(d.width, 32);
  ASSERT_EQ(static_cast<int64_t>(d.pixels.size()), d.count * 3072);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < d.count; ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          mismatches += d.pixels[i * 3072 + c * 1024 + y * 32 + x] != cifar_pixel(i, c, y, x);
  EXPECT_EQ(mismatches, 0);
}

TEST(Cifar, ReadsPixelsAndLabels) {
  TempDir dir;
  write_bytes(dir.file("batch.bin"), cifar_bytes(12, 1));
  const Dataset d = load_cifar10(dir.file("batch.bin"));
  EXPECT_EQ(d.count, 12);
  expect_cifar_pixels(d);
  ASSERT_EQ(d.labels.size(), 12u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(d.labels[i], i % 10);
  EXPECT_EQ(d.image_size(), 3072);
}

TEST(Cifar, LimitReadsAPrefix) {
  TempDir dir;
  write_bytes(dir.file("batch.bin"), cifar_bytes(12, 1));
  const Dataset d = load_cifar10(dir.file("batch.bin"), 5);
  EXPECT_EQ(d.count, 5);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1, 2, 3, 4}));
  expect_cifar_pixels(d);
  EXPECT_EQ(load_cifar10(dir.file("batch.bin"), 100).count, 12);
  EXPECT_EQ(load_cifar10(dir.file("batch.bin"), -1).count, 12);
}

TEST(Cifar, SizeNotAMultipleOfTheRecord) {
  TempDir dir;
  auto bytes = cifar_bytes(12, 1);
  bytes.push_back(0);
  write_bytes(dir.file("odd.bin"), bytes);
  const std::string msg = data_error([&] { load_cifar10(dir.file("odd.bin")); });
  EXPECT_NE(msg.find(dir.file("odd.bin")), std::string::npos) << msg;
  EXPECT_NE(msg.find("36877"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073"), std::string::npos) << msg;
  // A CIFAR-10 file is not a whole number of CIFAR-100 records either.
  write_bytes(dir.file("ten.bin"), cifar_bytes(12, 1));
  EXPECT_NE(data_error([&] { load_cifar100(dir.file("ten.bin")); }).find("3074"), std::string::npos);
}

TEST(Cifar, EmptyFileAndBadLabel) {
  TempDir dir;
  write_bytes(dir.file("empty.bin"), {});
  EXPECT_NE(data_error([&] { load_cifar10(dir.file("empty.bin")); }).find("no CIFAR-10 records"),
            std::string::npos);
  auto bytes = cifar_bytes(3, 1);
  bytes[3073 * 2] = 10;
  write_bytes(dir.file("label.bin"), bytes);
  const std::string msg = data_error([&] { load_cifar10(dir.file("label.bin")); });
  EXPECT_NE(msg.find("record 2 has label 10"), std::string::npos) << msg;
}

TEST(Cifar, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("nope.bin");
  EXPECT_EQ(data_error([&] { load_cifar10(path); }), "cannot open " + path + ": No such file or directory");
  EXPECT_EQ(data_error([&] { load_cifar10(dir.path().string()); }),
            "cannot open " + dir.path().string() + ": Is a directory");
}

TEST(Cifar, GzipByContent) {
  TempDir dir;
  write_gzip(dir.file("batch.bin"), cifar_bytes(7, 1));
  const Dataset d = load_cifar10(dir.file("batch.bin"));
  EXPECT_EQ(d.count, 7);
  expect_cifar_pixels(d);
  EXPECT_EQ(load_cifar10(dir.file("batch.bin"), 3).count, 3);
}

TEST(Cifar100, UsesFineLabels) {
  TempDir dir;
  write_bytes(dir.file("test.bin"), cifar_bytes(9, 2));
  const Dataset d = load_cifar100(dir.file("test.bin"));
  EXPECT_EQ(d.count, 9);
  expect_cifar_pixels(d);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(d.labels[i], cifar100_fine(i));
  const Dataset two = load_cifar100(dir.file("test.bin"), 2);
  EXPECT_EQ(two.count, 2);
  expect_cifar_pixels(two);
}

// ------------------------------------------------------------------------------------ IDX

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
uint8_t idx_pixel(int64_t i, int64_t y, int64_t x) {
  return static_cast<uint8_t>((i * 17 + y * 5 + x * 3) % 256);
}
int32_t idx_label(int64_t i) { return static_cast<int32_t>((i * 7) % 10); }

std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w) {
  std::vector<uint8_t> out;
  put_be32(out, 0x00000803);
  put_be32(out, n);
  put_be32(out, h);
  put_be32(out, w);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) out.push_back(idx_pixel(i, y, x));
  return out;
}
std::vector<uint8_t> idx_labels(uint32_t n) {
  std::vector<uint8_t> out;
  put_be32(out, 0x00000801);
  put_be32(out, n);
  for (uint32_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(idx_label(i)));
  return out;
}

void expect_idx(const Dataset& d, int64_t n, int64_t h, int64_t w) {
  ASSERT_EQ(d.count, n);
  ASSERT_EQ(d.channels, 1);
  ASSERT_EQ(d.height, h);
  ASSERT_EQ(d.width, w);
  ASSERT_EQ(static_cast<int64_t>(d.pixels.size()), n * h * w);
  ASSERT_EQ(static_cast<int64_t>(d.labels.size()), n);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(d.labels[i], idx_label(i));
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        ASSERT_EQ(d.pixels[(i * h + y) * w + x], idx_pixel(i, y, x)) << i << " " << y << " " << x;
  }
}

TEST(Idx, Plain) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(6, 4, 5));
  write_bytes(dir.file("lbl"), idx_labels(6));
  expect_idx(load_idx(dir.file("img"), dir.file("lbl")), 6, 4, 5);
  expect_idx(load_idx(dir.file("img"), dir.file("lbl"), 2), 2, 4, 5);
  expect_idx(load_idx(dir.file("img"), dir.file("lbl"), 60), 6, 4, 5);
}

TEST(Idx, GzipDetectedByContentNotName) {
  TempDir dir;
  write_gzip(dir.file("images.idx"), idx_images(6, 4, 5));  // gzip without .gz
  write_bytes(dir.file("labels.gz"), idx_labels(6));        // plain with .gz
  expect_idx(load_idx(dir.file("images.idx"), dir.file("labels.gz")), 6, 4, 5);
  expect_idx(load_idx(dir.file("images.idx"), dir.file("labels.gz"), 3), 3, 4, 5);
  write_gzip(dir.file("labels2.gz"), idx_labels(6));
  expect_idx(load_idx(dir.file("images.idx"), dir.file("labels2.gz")), 6, 4, 5);
}

TEST(Idx, TruncatedFiles) {
  TempDir dir;
  auto images = idx_images(6, 4, 5);
  images.pop_back();
  write_bytes(dir.file("img"), images);
  write_bytes(dir.file("lbl"), idx_labels(6));
  std::string msg = data_error([&] { load_idx(dir.file("img"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("img")), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  // gzip stream whose content is short
  write_gzip(dir.file("img.gz"), images);
  msg = data_error([&] { load_idx(dir.file("img.gz"), dir.file("lbl")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  // gzip file cut in the middle of the compressed stream
  std::vector<uint8_t> big;
  {
    write_gzip(dir.file("full.gz"), idx_images(200, 28, 28));
    std::ifstream in(dir.file("full.gz"), std::ios::binary);
    big.assign(std::istreambuf_iterator<char>(in), {});
  }
  big.resize(big.size() / 2);
  write_bytes(dir.file("cut.gz"), big);
  write_bytes(dir.file("lbl200"), idx_labels(200));
  msg = data_error([&] { load_idx(dir.file("cut.gz"), dir.file("lbl200")); });
  EXPECT_NE(msg.find(dir.file("cut.gz")), std::string::npos) << msg;

  // header cut short
  write_bytes(dir.file("short"), {0, 0, 8, 3, 0, 0});
  msg = data_error([&] { load_idx(dir.file("short"), dir.file("lbl")); });
  EXPECT_NE(msg.find("truncated IDX header"), std::string::npos) << msg;

  // trailing bytes
  auto labels = idx_labels(6);
  labels.push_back(1);
  write_bytes(dir.file("img_ok"), idx_images(6, 4, 5));
  write_bytes(dir.file("lbl_long"), labels);
  msg = data_error([&] { load_idx(dir.file("img_ok"), dir.file("lbl_long")); });
  EXPECT_NE(msg.find(dir.file("lbl_long")), std::string::npos) << msg;
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(3, 2, 2));
  write_bytes(dir.file("lbl"), idx_labels(3));
  std::string msg = data_error([&] { load_idx(dir.file("lbl"), dir.file("img")); });
  EXPECT_NE(msg.find(dir.file("lbl")), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad IDX magic 0x00000801, expected 0x00000803"), std::string::npos) << msg;
  auto float_labels = idx_labels(3);
  float_labels[2] = 0x0d;  // float data
  write_bytes(dir.file("flt"), float_labels);
  msg = data_error([&] { load_idx(dir.file("img"), dir.file("flt")); });
  EXPECT_NE(msg.find("0x00000d01"), std::string::npos) << msg;
}

TEST(Idx, CountMismatch) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(3, 2, 2));
  write_bytes(dir.file("lbl"), idx_labels(2));
  EXPECT_EQ(data_error([&] { load_idx(dir.file("img"), dir.file("lbl")); }),
            "labels file " + dir.file("lbl") + " has 2 labels but images file " + dir.file("img") +
                " has 3 images");
}

TEST(Idx, MissingFile) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(3, 2, 2));
  EXPECT_EQ(data_error([&] { load_idx(dir.file("img"), dir.file("none")); }),
            "cannot open " + dir.file("none") + ": No such file or directory");
  EXPECT_EQ(data_error([&] { load_idx(dir.file("none"), dir.file("img")); }),
            "cannot open " + dir.file("none") + ": No such file or directory");
}

// --------------------------------------------------------------------------------- Folder

struct Rgb {
  uint8_t r, g, b;
};
uint8_t luma(Rgb c) {  // PIL's convert("L")
  return static_cast<uint8_t>((c.r * 19595 + c.g * 38470 + c.b * 7471 + 0x8000) >> 16);
}

void write_png(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& hwc) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  ASSERT_NE(png_image_write_to_file(&img, path.c_str(), 0, hwc.data(), 0, nullptr), 0)
      << path << ": " << img.message;
}

void write_jpeg(const std::string& path, int w, int h, const std::vector<uint8_t>& rgb, int quality = 95) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + cinfo.next_scanline * w * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  write_bytes(path, std::vector<uint8_t>(buf, buf + size));
  free(buf);
}

std::vector<uint8_t> uniform(int w, int h, Rgb c) {
  std::vector<uint8_t> out;
  for (int i = 0; i < w * h; ++i) out.insert(out.end(), {c.r, c.g, c.b});
  return out;
}

constexpr Rgb kGreen{10, 200, 30}, kOrange{200, 100, 50};

// root/cat/a.png (40x30 uniform green), root/cat/b.jpg (30x50 uniform orange),
// root/cat/readme.txt, root/dog/c.PNG (36x36 gradient), root/notes.txt
void write_tree(const TempDir& dir) {
  write_png(dir.file("root/cat/a.png"), 40, 30, 3, uniform(40, 30, kGreen));
  write_jpeg(dir.file("root/cat/b.jpg"), 30, 50, uniform(30, 50, kOrange));
  write_bytes(dir.file("root/cat/readme.txt"), {'h', 'i'});
  std::vector<uint8_t> grad;
  for (int y = 0; y < 36; ++y)
    for (int x = 0; x < 36; ++x)
      grad.insert(grad.end(), {static_cast<uint8_t>(x * 7), static_cast<uint8_t>(y * 7), 128});
  write_png(dir.file("root/dog/c.PNG"), 36, 36, 3, grad);
  write_bytes(dir.file("root/notes.txt"), {'x'});
}

// Max |pixel - colour| over image i of an RGB dataset.
int max_deviation(const Dataset& d, int64_t i, Rgb colour) {
  const uint8_t want[3] = {colour.r, colour.g, colour.b};
  const int64_t plane = d.height * d.width;
  int worst = 0;
  for (int c = 0; c < 3; ++c)
    for (int64_t k = 0; k < plane; ++k)
      worst = std::max(worst, std::abs(d.pixels[i * d.image_size() + c * plane + k] - want[c]));
  return worst;
}

TEST(Folder, TwoClassesResizeAndCrop) {
  TempDir dir;
  write_tree(dir);
  FolderOptions opt;
  opt.resize = 16;
  opt.crop = 12;
  const Dataset d = load_folder(dir.file("root"), opt);
  ASSERT_EQ(d.count, 3);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.height, 12);
  EXPECT_EQ(d.width, 12);
  EXPECT_EQ(d.pixels.size(), 3u * 3 * 12 * 12);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 0, 1}));
  EXPECT_EQ(max_deviation(d, 0, kGreen), 0);   // PNG: exact
  EXPECT_LE(max_deviation(d, 1, kOrange), 2);  // JPEG: within rounding
  // The gradient keeps its direction: red grows along x, green along y, blue stays 128.
  const int64_t base = 2 * d.image_size();
  EXPECT_LT(d.pixels[base + 0], d.pixels[base + 11]);
  EXPECT_LT(d.pixels[base + 144], d.pixels[base + 144 + 11 * 12]);
  EXPECT_EQ(d.pixels[base + 288 + 5 * 12 + 7], 128);
}

TEST(Folder, Grayscale) {
  TempDir dir;
  write_tree(dir);
  FolderOptions opt;
  opt.resize = 10;
  opt.crop = 10;
  opt.grayscale = true;
  const Dataset d = load_folder(dir.file("root"), opt);
  ASSERT_EQ(d.count, 3);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.image_size(), 100);
  for (int k = 0; k < 100; ++k) EXPECT_EQ(d.pixels[k], luma(kGreen));
  for (int k = 0; k < 100; ++k) EXPECT_NEAR(d.pixels[100 + k], luma(kOrange), 2);
}

TEST(Folder, LimitTakesTheFirstImages) {
  TempDir dir;
  write_tree(dir);
  FolderOptions opt;
  opt.resize = 8;
  opt.crop = 8;
  const Dataset d = load_folder(dir.file("root"), opt, 2);
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(d.pixels.size(), 2u * 3 * 8 * 8);
}

TEST(Folder, NoResizeKeepsPixelsExactly) {
  TempDir dir;
  std::vector<uint8_t> a, b;
  for (int i = 0; i < 6 * 4; ++i) {
    a.insert(a.end(),
             {static_cast<uint8_t>(i), static_cast<uint8_t>(100 + i), static_cast<uint8_t>(200 + i)});
    b.push_back(static_cast<uint8_t>(3 * i));
  }
  write_png(dir.file("root/x/0.png"), 6, 4, 3, a);
  write_png(dir.file("root/y/sub/1.png"), 6, 4, 1, b);  // nested, gray source
  const Dataset d = load_folder(dir.file("root"), FolderOptions{});
  ASSERT_EQ(d.count, 2);
  EXPECT_EQ(d.height, 4);
  EXPECT_EQ(d.width, 6);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{0, 1}));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 24; ++i) {
      EXPECT_EQ(d.pixels[c * 24 + i], a[i * 3 + c]);
      EXPECT_EQ(d.pixels[72 + c * 24 + i], b[i]);  // gray replicated to RGB
    }
}

TEST(Folder, SizesMustAgreeWithoutCrop) {
  TempDir dir;
  write_tree(dir);
  std::string msg = data_error([&] { load_folder(dir.file("root"), FolderOptions{}); });
  EXPECT_NE(msg.find("b.jpg"), std::string::npos) << msg;
  FolderOptions opt;
  opt.crop = 32;  // larger than a.png's 30 rows
  msg = data_error([&] { load_folder(dir.file("root"), opt); });
  EXPECT_NE(msg.find("a.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("smaller than the 32x32 crop"), std::string::npos) << msg;
}

TEST(Folder, UndecodableImagesAreNamed) {
  TempDir dir;
  write_tree(dir);
  write_bytes(dir.file("root/dog/broken.jpg"), {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3});
  std::string msg = data_error([&] { load_folder(dir.file("root"), FolderOptions{16, 8, false}); });
  EXPECT_NE(msg.find("cannot decode " + dir.file("root/dog/broken.jpg")), std::string::npos) << msg;
  std::filesystem::remove(dir.file("root/dog/broken.jpg"));

  write_bytes(dir.file("root/dog/text.png"), {'n', 'o', 't', ' ', 'p', 'n', 'g'});
  msg = data_error([&] { load_folder(dir.file("root"), FolderOptions{16, 8, false}); });
  EXPECT_NE(msg.find("text.png: not a JPEG or PNG file"), std::string::npos) << msg;
  std::filesystem::remove(dir.file("root/dog/text.png"));

  // A truncated JPEG and PNG are errors, not grey fill.
  std::ifstream in(dir.file("root/cat/b.jpg"), std::ios::binary);
  std::vector<uint8_t> jpg(std::istreambuf_iterator<char>(in), {});
  jpg.resize(jpg.size() * 2 / 3);
  write_bytes(dir.file("root/dog/cut.jpg"), jpg);
  msg = data_error([&] { load_folder(dir.file("root"), FolderOptions{16, 8, false}); });
  EXPECT_NE(msg.find("cut.jpg"), std::string::npos) << msg;
  std::filesystem::remove(dir.file("root/dog/cut.jpg"));

  std::ifstream pin(dir.file("root/cat/a.png"), std::ios::binary);
  std::vector<uint8_t> png(std::istreambuf_iterator<char>(pin), {});
  png.resize(png.size() / 2);
  write_bytes(dir.file("root/dog/cut.png"), png);
  msg = data_error([&] { load_folder(dir.file("root"), FolderOptions{16, 8, false}); });
  EXPECT_NE(msg.find("cut.png"), std::string::npos) << msg;
}

TEST(Folder, EmptyOrMissing) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("root"));
  write_bytes(dir.file("root/file.png"), {1});
  EXPECT_NE(data_error([&] { load_folder(dir.file("root"), {}); }).find("no class subdirectories"),
            std::string::npos);
  std::filesystem::create_directories(dir.file("root/empty"));
  write_bytes(dir.file("root/empty/readme.md"), {1});
  std::string msg = data_error([&] { load_folder(dir.file("root"), {}); });
  EXPECT_NE(msg.find("empty: no .jpg, .jpeg or .png images"), std::string::npos) << msg;
  EXPECT_EQ(data_error([&] { load_folder(dir.file("nope"), {}); }),
            "cannot open " + dir.file("nope") + ": No such file or directory");
}

// ------------------------------------------------------------------------------ Normalize

Dataset two_channel_set() {
  Dataset d;
  d.count = 3;
  d.channels = 2;
  d.height = 2;
  d.width = 3;
  for (int i = 0; i < 3 * 12; ++i) d.pixels.push_back(static_cast<uint8_t>(i * 7 + 1));
  d.pixels[5] = 0;
  d.pixels[6] = 255;
  d.labels = {0, 1, 2};
  return d;
}

TEST(Normalize, PerChannelMeanAndStd) {
  const Dataset d = two_channel_set();
  const Normalization norm{{0.5f, 0.25f}, {0.5f, 2.0f}};
  std::vector<float> out(2 * 12, -99.0f);
  normalize_batch(d, 1, 2, norm, out.data());
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 6; ++k) {
        const float p = d.pixels[(1 + i) * 12 + c * 6 + k];
        EXPECT_FLOAT_EQ(out[i * 12 + c * 6 + k], (p / 255.0f - norm.mean[c]) / norm.std[c]);
      }
  std::vector<float> first(12);
  normalize_batch(d, 0, 1, norm, first.data());
  EXPECT_FLOAT_EQ(first[5], -1.0f);               // pixel 0, channel 0: (0 - 0.5) / 0.5
  EXPECT_FLOAT_EQ(first[6], (1.0f - 0.25f) / 2);  // pixel 255, channel 1
}

TEST(Normalize, BroadcastAndDefaults) {
  const Dataset d = two_channel_set();
  std::vector<float> out(3 * 12);
  normalize_batch(d, 0, 3, Normalization{{0.5f}, {0.25f}}, out.data());
  for (size_t k = 0; k < out.size(); ++k) EXPECT_FLOAT_EQ(out[k], (d.pixels[k] / 255.0f - 0.5f) / 0.25f);
  normalize_batch(d, 0, 3, Normalization{}, out.data());
  for (size_t k = 0; k < out.size(); ++k) EXPECT_FLOAT_EQ(out[k], d.pixels[k] / 255.0f);
  normalize_batch(d, 3, 0, Normalization{}, nullptr);  // empty batch at the end is fine
}

TEST(Normalize, Errors) {
  const Dataset d = two_channel_set();
  std::vector<float> out(4 * 12);
  std::string msg = data_error([&] {
    normalize_batch(d, 0, 1, Normalization{{0.1f, 0.2f, 0.3f}, {}}, out.data());
  });
  EXPECT_NE(msg.find("3 mean values for images with 2 channels"), std::string::npos) << msg;
  msg = data_error([&] { normalize_batch(d, 0, 1, Normalization{{}, {1, 2, 3}}, out.data()); });
  EXPECT_NE(msg.find("3 std values"), std::string::npos) << msg;
  msg = data_error([&] { normalize_batch(d, 2, 2, Normalization{}, out.data()); });
  EXPECT_NE(msg.find("[2, 4)"), std::string::npos) << msg;
  data_error([&] { normalize_batch(d, -1, 1, Normalization{}, out.data()); });
  data_error([&] { normalize_batch(d, 0, 1, Normalization{{}, {0.0f}}, out.data()); });
}

// ------------------------------------------------------------------------ Real data files

TEST(RealData, FashionMnistTest) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images = dir + "t10k-images-idx3-ubyte.gz", labels = dir + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images) || !std::filesystem::exists(labels))
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist): " << images;
  const Dataset d = load_idx(images, labels);
  EXPECT_EQ(d.count, 10000);
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.height, 28);
  EXPECT_EQ(d.width, 28);
  EXPECT_EQ(d.pixels.size(), 10000u * 28 * 28);
  ASSERT_EQ(d.labels.size(), 10000u);
  EXPECT_EQ(d.labels[0], 9);
  std::map<int32_t, int> per_class;
  for (int32_t l : d.labels) ++per_class[l];
  EXPECT_EQ(per_class.size(), 10u);
  for (auto [label, n] : per_class) {
    EXPECT_GE(label, 0);
    EXPECT_LE(label, 9);
    EXPECT_EQ(n, 1000) << label;
  }
  const Dataset head = load_idx(images, labels, 100);
  EXPECT_EQ(head.count, 100);
  EXPECT_TRUE(std::equal(head.pixels.begin(), head.pixels.end(), d.pixels.begin()));
}

TEST(RealData, SharedCifar10) {
  DFMPC_REQUIRE_SHARED();
  const std::string path = (test::shared_dir() / "data" / "cifar10-test-jpeg.bin").string();
  const Dataset d = load_cifar10(path);
  EXPECT_EQ(d.count, 10000);
  ASSERT_EQ(d.pixels.size(), 10000u * 3072);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(d.labels[i], i);
  std::map<int32_t, int> per_class;
  for (int32_t l : d.labels) ++per_class[l];
  for (auto [label, n] : per_class) EXPECT_EQ(n, 1000) << label;

  const Normalization norm{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  std::vector<float> out(static_cast<size_t>(d.count * d.image_size()));
  normalize_batch(d, 0, d.count, norm, out.data());
  const size_t last = out.size() - 1;
  EXPECT_FLOAT_EQ(out[0], (d.pixels[0] / 255.0f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(out[last], (d.pixels[last] / 255.0f - 0.406f) / 0.225f);

  const Dataset head = load_cifar10(path, 20);
  EXPECT_EQ(head.count, 20);
  EXPECT_TRUE(std::equal(head.pixels.begin(), head.pixels.end(), d.pixels.begin()));
}

}  // namespace
}  // namespace dfmpc
