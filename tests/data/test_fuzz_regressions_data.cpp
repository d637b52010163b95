// Inputs the image fuzzer (fuzz/fuzz_image.cpp) found, kept in tests/fixtures/fuzz/image/ in
// the harness's layout (one option byte, then the file), and the guards around stb_image.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"
#include "data/image.h"
#include "test_paths.h"

namespace dfmpc {
namespace {

using data_detail::decode_image;

std::vector<uint8_t> slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

std::string decode_error(const std::vector<uint8_t>& file, int channels = 3) {
  try {
    decode_image(file.data(), file.size(), channels, "x.png");
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(FuzzRegressionsData, ImageFindingsFailCleanly) {
  const auto dir = test::fixtures_dir() / "fuzz" / "image";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    const auto input = slurp(e.path());
    ASSERT_FALSE(input.empty());
    decode_error(std::vector<uint8_t>(input.begin() + 1, input.end()), (input[0] & 1) ? 1 : 3);
  }
  EXPECT_GT(files, 0);
}

// fuzz_idx layout: u8 limit, u16 length of the images file, images file, labels file.
TEST(FuzzRegressionsData, IdxFindingsFailCleanly) {
  const auto dir = test::fixtures_dir() / "fuzz" / "idx";
  const auto tmp = test::temp_dir("fuzz_idx");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    const auto in = slurp(e.path());
    ASSERT_GE(in.size(), 3u);
    const size_t split = std::min<size_t>(in.size() - 3, in[1] | size_t{in[2]} << 8);
    std::ofstream(tmp / "images", std::ios::binary).write(reinterpret_cast<const char*>(in.data() + 3), static_cast<std::streamsize>(split));
    std::ofstream(tmp / "labels", std::ios::binary)
        .write(reinterpret_cast<const char*>(in.data() + 3 + split), static_cast<std::streamsize>(in.size() - 3 - split));
    try {
      load_idx((tmp / "images").string(), (tmp / "labels").string(), in[0]);
    } catch (const DataError& err) {
      EXPECT_EQ(std::string(err.what()).find('\n'), std::string::npos);
    }
  }
  std::filesystem::remove_all(tmp);
  EXPECT_GT(files, 0);
}

TEST(FuzzRegressionsData, DeclaredSizeIsCheckedBeforeDecoding) {
  const auto input = slurp(test::fixtures_dir() / "fuzz" / "image" / "png_declares_7x15073289");
  const std::string err = decode_error(std::vector<uint8_t>(input.begin() + 1, input.end()));
  EXPECT_NE(err.find("image is 7x15073289, more than the 67108864 pixels"), std::string::npos) << err;
}

std::vector<uint8_t> png_of(int w, int h, const std::vector<uint8_t>& rgb) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  png_image_write_to_memory(&img, nullptr, &size, 0, rgb.data(), 0, nullptr);
  std::vector<uint8_t> out(size);
  EXPECT_NE(png_image_write_to_memory(&img, out.data(), &size, 0, rgb.data(), 0, nullptr), 0);
  out.resize(size);
  return out;
}

TEST(FuzzRegressionsData, EmptyIdatChunksAreDroppedNotDecoded) {
  std::vector<uint8_t> rgb(5 * 4 * 3);
  for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<uint8_t>(k * 7);
  const auto png = png_of(5, 4, rgb);
  // After the signature (8) and IHDR (25): a zero-length IDAT with its CRC.
  const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>("IDAT"), 4));
  std::vector<uint8_t> chunk = {0, 0, 0, 0, 'I', 'D', 'A', 'T', static_cast<uint8_t>(crc >> 24),
                                static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
  std::vector<uint8_t> with_empty = png;
  with_empty.insert(with_empty.begin() + 33, chunk.begin(), chunk.end());
  const auto a = decode_image(png.data(), png.size(), 3, "a.png");
  const auto b = decode_image(with_empty.data(), with_empty.size(), 3, "b.png");
  EXPECT_EQ(a.pixels, rgb);
  EXPECT_EQ(b.pixels, rgb);
}

TEST(FuzzRegressionsData, ResizeTargetIsBounded) {
  data_detail::Image tall;
  tall.width = 1, tall.height = 40000, tall.channels = 1;
  tall.pixels.assign(40000, 0);
  EXPECT_THROW(data_detail::resize_shorter_side(tall, 2000), DataError);  // 2000 x 80,000,000
}

}  // namespace
}  // namespace dfmpc
