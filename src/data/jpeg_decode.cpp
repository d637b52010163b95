// JPEG decoding with libjpeg(-turbo), as PIL does: default (ISLOW) IDCT and fancy upsampling,
// colour JPEGs decoded to RGB before any conversion to gray.
#include <csetjmp>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "data/dataset.h"
#include "data/image.h"

namespace dfmpc::data_detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings about corrupt data are ignored, as PIL ignores them, except running out of data:
// a truncated file is an error.
void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

// libjpeg reports errors by longjmp back here; these frames hold no C++ objects, so nothing
// is skipped. Each returns false (message in err->message) on failure.
bool read_header(jpeg_decompress_struct* cinfo, ErrorManager* err, const uint8_t* data, size_t size) {
  if (setjmp(err->jump)) return false;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;
      break;
    default:
      cinfo->out_color_space = JCS_RGB;
      break;
  }
  jpeg_calc_output_dimensions(cinfo);
  return true;
}

bool read_pixels(jpeg_decompress_struct* cinfo, ErrorManager* err, uint8_t* dst, size_t stride) {
  if (setjmp(err->jump)) return false;
  jpeg_start_decompress(cinfo);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = dst + cinfo->output_scanline * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

struct Decompressor {
  jpeg_decompress_struct cinfo{};  // jpeg_destroy_decompress is a no-op while still zeroed
  ErrorManager err{};
  ~Decompressor() { jpeg_destroy_decompress(&cinfo); }
};

uint8_t mul_div_255(int a, int b) {
  const int t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

// PIL's CMYK -> RGB (Adobe CMYK JPEGs store inverted values).
void cmyk_to_rgb(const uint8_t* src, size_t count, bool inverted, uint8_t* dst) {
  for (size_t i = 0; i < count; ++i, src += 4, dst += 3) {
    const int c = inverted ? 255 - src[0] : src[0], m = inverted ? 255 - src[1] : src[1],
              y = inverted ? 255 - src[2] : src[2], k = inverted ? 255 - src[3] : src[3];
    const int nk = 255 - k;
    dst[0] = static_cast<uint8_t>(nk - mul_div_255(c, nk));
    dst[1] = static_cast<uint8_t>(nk - mul_div_255(m, nk));
    dst[2] = static_cast<uint8_t>(nk - mul_div_255(y, nk));
  }
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, int channels, const std::string& name) {
  Decompressor d;
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = on_error;
  d.err.pub.emit_message = on_message;
  if (!read_header(&d.cinfo, &d.err, data, size))
    throw DataError("cannot decode " + name + ": " + d.err.message);

  const int64_t width = d.cinfo.output_width, height = d.cinfo.output_height;
  check_image_size(width, height, name);
  const int comps = d.cinfo.output_components;
  const size_t count = static_cast<size_t>(width * height);
  std::vector<uint8_t> raw(count * static_cast<size_t>(comps));
  if (!read_pixels(&d.cinfo, &d.err, raw.data(), static_cast<size_t>(width) * comps))
    throw DataError("cannot decode " + name + ": " + d.err.message);

  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  if (comps == channels) {
    img.pixels = std::move(raw);
    return img;
  }
  img.pixels.resize(count * static_cast<size_t>(channels));
  if (comps == 4) {
    std::vector<uint8_t> rgb(count * 3);
    cmyk_to_rgb(raw.data(), count, d.cinfo.saw_Adobe_marker != 0, rgb.data());
    convert_channels(rgb.data(), 3, count, img.pixels.data(), channels);
  } else {
    convert_channels(raw.data(), comps, count, img.pixels.data(), channels);
  }
  return img;
}

}  // namespace dfmpc::data_detail
