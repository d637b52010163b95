// The resize / crop / colour steps of load_folder against values Pillow 9.4 gives
// (Image.resize(..., Image.BILINEAR), convert("L")) and torchvision's Resize / CenterCrop rules.
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "data/image.h"

namespace dfmpc::data_detail {
namespace {

// value(x, y) = (x*37 + y*53 + x*y*11) % 256 (+ c*91 for colour channel c)
Image pattern(int64_t w, int64_t h, int64_t channels) {
  Image img{w, h, channels, {}};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < channels; ++c)
        img.pixels.push_back(static_cast<uint8_t>((x * 37 + y * 53 + c * 91 + x * y * 11) % 256));
  return img;
}

std::vector<int> as_ints(const Image& img) { return {img.pixels.begin(), img.pixels.end()}; }

TEST(Resample, MatchesPillowBilinear) {
  Image down = resize_bilinear(pattern(7, 5, 1), 3, 4);
  EXPECT_EQ(down.width, 3);
  EXPECT_EQ(down.height, 4);
  EXPECT_EQ(as_ints(down), (std::vector<int>{48, 129, 167, 120, 149, 122, 161, 117, 164, 129, 125, 131}));

  EXPECT_EQ(as_ints(resize_bilinear(pattern(5, 4, 1), 9, 6)),
            (std::vector<int>{0,   12,  33,  53,  74,  95,  115, 136, 148, 27,  41,  65,  88,  112,
                              136, 159, 183, 197, 62,  79,  106, 134, 162, 166, 174, 202, 218, 97,
                              116, 148, 179, 211, 125, 62,  93,  113, 133, 154, 190, 169, 134, 99,
                              78,  113, 135, 159, 182, 221, 146, 43,  82,  121, 160, 183}));

  // Shrinking by more than 2 widens the filter (antialiasing).
  EXPECT_EQ(as_ints(resize_bilinear(pattern(40, 30, 1), 7, 5)),
            (std::vector<int>{123, 125, 130, 128, 121, 121, 128, 125, 115, 127, 133, 124,
                              132, 132, 129, 127, 127, 113, 130, 127, 126, 122, 123, 117,
                              90,  131, 130, 127, 128, 127, 123, 124, 135, 130, 126}));

  EXPECT_EQ(as_ints(resize_bilinear(pattern(7, 5, 3), 4, 3)),
            (std::vector<int>{44,  135, 167, 110, 170, 65,  164, 138, 112, 147, 93,  120,
                              134, 133, 93,  143, 105, 139, 127, 131, 104, 146, 133, 126,
                              154, 122, 148, 114, 142, 126, 127, 98,  129, 147, 109, 138}));

  const Image same = pattern(6, 4, 3);
  EXPECT_EQ(resize_bilinear(same, 6, 4).pixels, same.pixels);
}

TEST(Resample, RgbToGrayAsPillow) {
  const Image rgb = pattern(7, 5, 3);
  std::vector<uint8_t> gray(35);
  convert_channels(rgb.pixels.data(), 3, 35, gray.data(), 1);
  EXPECT_EQ(std::vector<int>(gray.begin(), gray.end()),
            (std::vector<int>{74,  111, 119, 156, 193, 80,  117, 127, 146, 194, 92,  140,
                              111, 130, 151, 60,  119, 101, 131, 190, 99,  204, 124, 117,
                              158, 78,  148, 141, 107, 111, 163, 94,  98,  150, 81}));
}

TEST(Resample, ShorterSideRule) {
  Image r = resize_shorter_side(pattern(33, 50, 1), 20);  // int(20 * 50 / 33) = 30
  EXPECT_EQ(r.width, 20);
  EXPECT_EQ(r.height, 30);
  r = resize_shorter_side(pattern(50, 33, 3), 20);
  EXPECT_EQ(r.width, 30);
  EXPECT_EQ(r.height, 20);
  EXPECT_EQ(r.channels, 3);
  r = resize_shorter_side(pattern(30, 30, 1), 45);  // enlarging
  EXPECT_EQ(r.width, 45);
  EXPECT_EQ(r.height, 45);
  const Image same = pattern(20, 31, 1);
  EXPECT_EQ(resize_shorter_side(same, 20).pixels, same.pixels);
}

TEST(Resample, CenterCropRoundsHalvesToEven) {
  // Offsets round((side - size) / 2): 7/2 = 3.5 -> 4, 5/2 = 2.5 -> 2, 1/2 = 0.5 -> 0.
  const Image img = pattern(23, 21, 1);  // width 23 - 16 = 7, height 21 - 16 = 5
  const Image c = center_crop(img, 16);
  ASSERT_EQ(c.width, 16);
  ASSERT_EQ(c.height, 16);
  EXPECT_EQ(c.pixels[0], img.pixels[2 * 23 + 4]);
  EXPECT_EQ(c.pixels[15 * 16 + 15], img.pixels[(2 + 15) * 23 + 4 + 15]);
  const Image c2 = center_crop(pattern(17, 17, 1), 16);
  EXPECT_EQ(c2.pixels[0], pattern(17, 17, 1).pixels[0]);
  EXPECT_THROW(center_crop(img, 22), DataError);
}

}  // namespace
}  // namespace dfmpc::data_detail
