// Writes the fuzzers' seed corpora: small valid inputs of every reader, in each harness's
// input layout (see the fuzz_*.cpp headers). Usage: make_seeds OUT_DIR
// clang-format off
#include <cstdio>  // jpeglib.h needs size_t and FILE first
#include <jpeglib.h>
// clang-format on
#include <png.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "export/packed_model.h"
#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "tiny_model.h"

namespace fs = std::filesystem;
using Bytes = std::string;

namespace {

fs::path out_dir;

void save(const std::string& target, const std::string& name, const Bytes& b) {
  fs::create_directories(out_dir / target);
  std::ofstream(out_dir / target / name, std::ios::binary) << b;
}

Bytes gzip(const Bytes& in) {
  z_stream s{};
  if (deflateInit2(&s, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  Bytes out(deflateBound(&s, in.size()) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

void be32(Bytes& b, uint32_t v) {
  for (int k = 3; k >= 0; --k) b += static_cast<char>((v >> (8 * k)) & 0xff);
}

Bytes pattern(size_t n, int seed) {
  Bytes b(n, '\0');
  for (size_t k = 0; k < n; ++k) b[k] = static_cast<char>((k * 37 + static_cast<size_t>(seed) * 11) & 0xff);
  return b;
}

void idx_seeds() {
  Bytes images, labels;
  be32(images, 0x803), be32(images, 3), be32(images, 4), be32(images, 5);
  images += pattern(3 * 4 * 5, 1);
  be32(labels, 0x801), be32(labels, 3);
  labels += Bytes{0, 7, 9};
  auto pack = [](uint8_t limit, const Bytes& a, const Bytes& b) {
    Bytes s{static_cast<char>(limit), static_cast<char>(a.size() & 0xff), static_cast<char>(a.size() >> 8)};
    return s + a + b;
  };
  save("idx", "plain", pack(0, images, labels));
  save("idx", "plain_limit2", pack(2, images, labels));
  save("idx", "gzip", pack(0, gzip(images), gzip(labels)));
  save("idx", "gzip_images_plain_labels", pack(1, gzip(images), labels));
}

void cifar_seeds() {
  Bytes c10, c100;
  for (int r = 0; r < 3; ++r) {
    c10 += static_cast<char>(r * 3) + pattern(3072, r);
    c100 += Bytes{static_cast<char>(r * 5), static_cast<char>(r * 30)} + pattern(3072, r);
  }
  save("cifar", "cifar10", Bytes(1, '\0') + c10);
  save("cifar", "cifar10_limit2", Bytes(1, '\2') + c10);
  save("cifar", "cifar100", Bytes(1, '\0') + c100);
  save("cifar", "cifar10_gzip", Bytes(1, '\0') + gzip(c10));
}

Bytes png(int w, int h, int channels) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 2 ? PNG_FORMAT_GA : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
  const Bytes px = pattern(static_cast<size_t>(w * h * channels), channels);
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, px.data(), 0, nullptr)) std::abort();
  Bytes out(size, '\0');
  if (!png_image_write_to_memory(&img, out.data(), &size, 0, px.data(), 0, nullptr)) std::abort();
  out.resize(size);
  return out;
}

Bytes jpeg(int w, int h, int channels, bool progressive) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = channels;
  c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 80, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  const Bytes px = pattern(static_cast<size_t>(w * h * channels), 3);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = reinterpret_cast<JSAMPROW>(const_cast<char*>(px.data())) + c.next_scanline * w * channels;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  Bytes out(reinterpret_cast<char*>(buf), size);
  free(buf);
  return out;
}

void image_seeds() {
  save("image", "png_gray", Bytes(1, '\x00') + png(5, 4, 1));
  save("image", "png_ga_resize", Bytes(1, '\x13') + png(9, 7, 2));
  save("image", "png_rgb_crop", Bytes(1, '\x10') + png(7, 9, 3));
  save("image", "png_rgba_gray", Bytes(1, '\x01') + png(6, 6, 4));
  save("image", "jpeg_rgb", Bytes(1, '\x00') + jpeg(16, 12, 3, false));
  save("image", "jpeg_rgb_progressive_resize", Bytes(1, '\x24') + jpeg(12, 16, 3, true));
  save("image", "jpeg_gray", Bytes(1, '\x01') + jpeg(8, 8, 1, false));
}

void model_seeds(const std::vector<std::string>& fixtures) {
  const dfmpc::Graph tiny = dfmpc::test::tiny_model();
  save("onnx_import", "tiny.onnx", dfmpc::export_onnx_bytes(tiny));
  for (const auto& f : fixtures) {
    std::ifstream in(f, std::ios::binary);
    save("onnx_import", fs::path(f).filename().string(), Bytes((std::istreambuf_iterator<char>(in)), {}));
  }
  for (const char* bits : {"2/6", "4/8"}) {
    dfmpc::QuantizeConfig cfg;
    cfg.low_bits = bits[0] - '0';
    cfg.high_bits = bits[2] - '0';
    const auto q = dfmpc::quantize_model(dfmpc::import_onnx_bytes(dfmpc::export_onnx_bytes(tiny), "tiny"), cfg);
    const fs::path p = out_dir / "packed" / (std::string("tiny_") + bits[0] + bits[2] + ".dfmpc");
    fs::create_directories(p.parent_path());
    dfmpc::write_packed_model(q, p.string());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: make_seeds OUT_DIR [EXTRA.onnx ...]\n";
    return 2;
  }
  out_dir = argv[1];
  idx_seeds();
  cifar_seeds();
  image_seeds();
  model_seeds(std::vector<std::string>(argv + 2, argv + argc));
  return 0;
}
