// Dense packing of b-bit codes (1 <= b <= 8) as an LSB-first bit stream: code i occupies
// stream bits [i*b, (i+1)*b), stream bit k is bit (k % 8) of byte k / 8, and the unused high
// bits of the last byte are 0. So 2-bit codes sit four to a byte (code 0 in bits 0-1), 4-bit
// codes low nibble first, 6-bit codes four per three bytes. One layout for every writer and
// reader; the *_ref functions (bit at a time) define it and the fast paths are tested
// against them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace dfmpc {

// ceil(n * bits / 8).
size_t packed_bytes(size_t n, int bits);

// out.size() must be >= packed_bytes(codes.size(), bits); every code must be < 2^bits.
// Throws std::invalid_argument otherwise.
void pack_codes(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out);
std::vector<uint8_t> pack_codes(std::span<const uint8_t> codes, int bits);

// Reads codes.size() codes; packed.size() must be >= packed_bytes(codes.size(), bits).
void unpack_codes(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes);
std::vector<uint8_t> unpack_codes(std::span<const uint8_t> packed, int bits, size_t n);

void pack_codes_ref(std::span<const uint8_t> codes, int bits, std::span<uint8_t> out);
void unpack_codes_ref(std::span<const uint8_t> packed, int bits, std::span<uint8_t> codes);

}  // namespace dfmpc
