// One image of an image folder: JPEG / PNG decoding (chosen by content) to gray or RGB, then
// the resize and centre crop load_folder applies. Input: u8 options, then the image file.
#include "data/dataset.h"
#include "data/image.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t opt = data[0];
  const int channels = (opt & 1) ? 1 : 3;
  const int64_t resize = (opt >> 1) & 7 ? ((opt >> 1) & 7) * 5 : 0;  // 0 or 5..35
  const int64_t crop = (opt >> 4) & 7 ? ((opt >> 4) & 7) * 4 : 0;     // 0 or 4..28
  using namespace dfmpc::data_detail;
  static const bool limited = (set_max_image_pixels(int64_t{1} << 20), true);
  (void)limited;
  try {
    Image img = decode_image(data + 1, size - 1, channels, "fuzz.img");
    if (img.pixels.size() != static_cast<size_t>(img.width * img.height * channels)) __builtin_trap();
    if (resize > 0) img = resize_shorter_side(img, resize);
    if (crop > 0 && crop <= img.width && crop <= img.height) img = center_crop(img, crop);
  } catch (const dfmpc::DataError&) {
  }
  return 0;
}
