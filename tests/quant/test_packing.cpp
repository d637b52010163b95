// Dense b-bit code packing: layout, sizes and bit-identical round trips.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <vector>

#include "quant/packing/bit_packing.h"

namespace dfmpc {
namespace {

std::vector<uint8_t> random_codes(size_t n, int bits, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(0, (1 << bits) - 1);
  std::vector<uint8_t> c(n);
  for (uint8_t& v : c) v = static_cast<uint8_t>(d(rng));
  return c;
}

TEST(Packing, PackedBytes) {
  EXPECT_EQ(packed_bytes(0, 2), 0u);
  EXPECT_EQ(packed_bytes(1, 1), 1u);
  EXPECT_EQ(packed_bytes(9, 1), 2u);
  EXPECT_EQ(packed_bytes(4, 2), 1u);
  EXPECT_EQ(packed_bytes(5, 2), 2u);
  EXPECT_EQ(packed_bytes(4, 6), 3u);
  EXPECT_EQ(packed_bytes(5, 6), 4u);
  EXPECT_EQ(packed_bytes(3, 3), 2u);
  EXPECT_EQ(packed_bytes(850000, 2), 212500u);
  EXPECT_EQ(packed_bytes(850001, 6), 637501u);
  for (int bits = 1; bits <= 8; ++bits)
    for (size_t n = 0; n < 100; ++n) EXPECT_EQ(packed_bytes(n, bits), (n * bits + 7) / 8);
  EXPECT_THROW(packed_bytes(4, 0), std::invalid_argument);
  EXPECT_THROW(packed_bytes(4, 9), std::invalid_argument);
}

TEST(Packing, DocumentedLayout) {
  // 2 bit: four to a byte, code 0 in the low bits.
  EXPECT_EQ(pack_codes(std::vector<uint8_t>{1, 2, 3, 0, 2}, 2),
            (std::vector<uint8_t>{0b00'11'10'01, 0b10}));
  // 4 bit: low nibble first.
  EXPECT_EQ(pack_codes(std::vector<uint8_t>{0xa, 0x5, 0xf}, 4), (std::vector<uint8_t>{0x5a, 0x0f}));
  // 6 bit: four per three bytes, LSB first across byte boundaries.
  EXPECT_EQ(pack_codes(std::vector<uint8_t>{0x3f, 0x00, 0x3f, 0x00}, 6),
            (std::vector<uint8_t>{0x3f, 0xf0, 0x03}));
}

// XNNPACK style: every width at lengths around every block boundary, against the reference.
TEST(Packing, MatchesReferenceAndRoundTrips) {
  for (int bits = 1; bits <= 8; ++bits)
    for (size_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17, 23, 24, 25, 63, 64, 65,
                     127, 1001, 4099}) {
      const std::vector<uint8_t> codes = random_codes(n, bits, static_cast<uint32_t>(n * 8 + bits));
      const std::vector<uint8_t> packed = pack_codes(codes, bits);
      ASSERT_EQ(packed.size(), packed_bytes(n, bits));
      std::vector<uint8_t> ref(packed.size(), 0xff);
      pack_codes_ref(codes, bits, ref);
      ASSERT_EQ(packed, ref) << "bits " << bits << " n " << n;
      ASSERT_EQ(unpack_codes(packed, bits, n), codes) << "bits " << bits << " n " << n;
      std::vector<uint8_t> back(n);
      unpack_codes_ref(packed, bits, back);
      ASSERT_EQ(back, codes) << "bits " << bits << " n " << n;
      if (n * bits % 8 != 0) {  // unused high bits of the last byte are zero
        EXPECT_EQ(packed.back() >> (n * bits % 8), 0) << "bits " << bits << " n " << n;
      }
    }
}

TEST(Packing, ExtremeCodes) {
  for (int bits = 1; bits <= 8; ++bits) {
    const std::vector<uint8_t> ones(37, static_cast<uint8_t>((1 << bits) - 1)), zeros(37, 0);
    EXPECT_EQ(unpack_codes(pack_codes(ones, bits), bits, 37), ones);
    EXPECT_EQ(unpack_codes(pack_codes(zeros, bits), bits, 37), zeros);
  }
}

TEST(Packing, RejectsBadInput) {
  const std::vector<uint8_t> codes = {0, 1, 4};
  EXPECT_THROW(pack_codes(codes, 2), std::invalid_argument);  // 4 needs 3 bits
  std::vector<uint8_t> small(1);
  EXPECT_THROW(pack_codes(codes, 3, small), std::invalid_argument);
  std::vector<uint8_t> out(3);
  EXPECT_THROW(unpack_codes(small, 6, out), std::invalid_argument);
}

}  // namespace
}  // namespace dfmpc
