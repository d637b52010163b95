#include "quant/packing/bit_packing.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dfmpc {
namespace {

void check_bits(int bits) {
  if (bits < 1 || bits > 8)
    throw std::invalid_argument("bit packing: bits must be in 1..8, got " + std::to_string(bits));
}

// Codes [from, n) through a 64-bit accumulator; `out` starts at the byte holding code `from`,
// which must be byte aligned (from * bits % 8 == 0).
void pack_stream(const uint8_t* codes, size_t from, size_t n, int bits, uint8_t* out) {
  uint64_t acc = 0;
  int held = 0;
  for (size_t i = from; i < n; ++i) {
    acc |= static_cast<uint64_t>(codes[i]) << held;
    held += bits;
    for (; held >= 8; held -= 8, acc >>= 8) *out++ = static_cast<uint8_t>(acc);
  }
  if (held > 0) *out = static_cast<uint8_t>(acc);
}

void unpack_stream(const uint8_t* in, size_t from, size_t n, int bits, uint8_t* codes) {
  const uint64_t mask = (1u << bits) - 1;
  uint64_t acc = 0;
  int held = 0;
  for (size_t i = from; i < n; ++i) {
    if (held < bits) acc |= static_cast<uint64_t>(*in++) << held, held += 8;
    codes[i] = static_cast<uint8_t>(acc & mask);
    acc >>= bits, held -= bits;
  }
}

}  // namespace

size_t packed_bytes(size_t n, int bits) {
  check_bits(bits);
  return n / 8 * bits + (n % 8 * bits + 7) / 8;  // no overflow of n * bits
}

void pack_codes(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out) {
  const size_t n = codes.size(), bytes = packed_bytes(n, bits);
  if (out.size() < bytes) throw std::invalid_argument("pack_codes: output buffer too small");
  uint8_t seen = 0;
  for (uint8_t c : codes) seen |= c;
  if (bits < 8 && (seen >> bits) != 0)
    throw std::invalid_argument("pack_codes: a code does not fit in " + std::to_string(bits) +
                                " bits");
  const uint8_t* c = codes.data();
  uint8_t* o = out.data();
  size_t i = 0;
  if (bits == 8) {
    if (n > 0) std::memcpy(o, c, n);
    return;
  } else if (bits == 1 || bits == 2 || bits == 4) {
    const size_t per = 8 / bits;
    for (; i + per <= n; i += per, ++o) {
      uint8_t b = 0;
      for (size_t k = 0; k < per; ++k) b |= static_cast<uint8_t>(c[i + k] << (k * bits));
      *o = b;
    }
  } else if (bits == 6) {
    for (; i + 4 <= n; i += 4, o += 3) {
      o[0] = static_cast<uint8_t>(c[i] | c[i + 1] << 6);
      o[1] = static_cast<uint8_t>(c[i + 1] >> 2 | c[i + 2] << 4);
      o[2] = static_cast<uint8_t>(c[i + 2] >> 4 | c[i + 3] << 2);
    }
  }
  pack_stream(c, i, n, bits, o);
}

void unpack_codes(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes) {
  const size_t n = codes.size();
  if (packed.size() < packed_bytes(n, bits))
    throw std::invalid_argument("unpack_codes: packed buffer too small");
  const uint8_t* p = packed.data();
  uint8_t* c = codes.data();
  size_t i = 0;
  if (bits == 8) {
    if (n > 0) std::memcpy(c, p, n);
    return;
  } else if (bits == 1 || bits == 2 || bits == 4) {
    const size_t per = 8 / bits;
    const auto mask = static_cast<uint8_t>((1u << bits) - 1);
    for (; i + per <= n; i += per, ++p)
      for (size_t k = 0; k < per; ++k) c[i + k] = static_cast<uint8_t>(*p >> (k * bits) & mask);
  } else if (bits == 6) {
    for (; i + 4 <= n; i += 4, p += 3) {
      c[i] = p[0] & 0x3f;
      c[i + 1] = static_cast<uint8_t>((p[0] >> 6 | p[1] << 2) & 0x3f);
      c[i + 2] = static_cast<uint8_t>((p[1] >> 4 | p[2] << 4) & 0x3f);
      c[i + 3] = p[2] >> 2;
    }
  }
  unpack_stream(p, i, n, bits, c);
}

std::vector<uint8_t> pack_codes(std::span<const uint8_t> codes, int bits) {
  std::vector<uint8_t> out(packed_bytes(codes.size(), bits));
  pack_codes(codes, bits, out);
  return out;
}

std::vector<uint8_t> unpack_codes(std::span<const uint8_t> packed, int bits, size_t n) {
  std::vector<uint8_t> codes(n);
  unpack_codes(packed, bits, codes);
  return codes;
}

void pack_codes_ref(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out) {
  check_bits(bits);
  std::fill(out.begin(), out.begin() + static_cast<ptrdiff_t>(packed_bytes(codes.size(), bits)), 0);
  for (size_t i = 0; i < codes.size(); ++i)
    for (int b = 0; b < bits; ++b) {
      const size_t k = i * bits + b;
      out[k / 8] |= static_cast<uint8_t>((codes[i] >> b & 1) << (k % 8));
    }
}

void unpack_codes_ref(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes) {
  check_bits(bits);
  for (size_t i = 0; i < codes.size(); ++i) {
    uint8_t v = 0;
    for (int b = 0; b < bits; ++b) {
      const size_t k = i * bits + b;
      v |= static_cast<uint8_t>((packed[k / 8] >> (k % 8) & 1) << b);
    }
    codes[i] = v;
  }
}

}  // namespace dfmpc
