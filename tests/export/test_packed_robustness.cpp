// Damaged and malformed packed files (.dfmpc): every byte flip, every truncation and every
// out-of-range header field is a one-line ModelError, never a crash or a huge allocation.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>

#include "export/packed_model.h"
#include "ir/file_util.h"
#include "onnx/onnx_io.h"
#include "quant/pipeline.h"
#include "test_paths.h"
#include "tiny_model.h"

namespace dfmpc {
namespace {

QuantizedModel tiny_quantized() {
  return quantize_model(import_onnx_bytes(export_onnx_bytes(test::tiny_model()), "tiny"), QuantizeConfig{});
}

std::string packed_bytes_of(const QuantizedModel& m) {
  const auto dir = test::temp_dir("packed_robust");
  const std::string path = (dir / "q.dfmpc").string();
  write_packed_model(m, path);
  std::string bytes = read_file(path);
  std::filesystem::remove_all(dir);
  return bytes;
}

std::string read_error(const std::string& bytes) {
  try {
    read_packed_model_bytes(bytes, "model 'q.dfmpc'");
  } catch (const ModelError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}
void set_u32(std::string& s, size_t at, uint32_t v) { std::memcpy(s.data() + at, &v, 4); }

// Recomputes the CRC so that a deliberately edited header reaches the field checks.
std::string with_crc(std::string s) {
  set_u32(s, 8, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(s.data() + 12), static_cast<uInt>(s.size() - 12))));
  return s;
}

// Offset of the u32 tensor count: magic, CRC, two u32 sizes, then the skeleton.
size_t count_offset(const std::string& s) { return 20 + get_u32(s, 12); }

class PackedRobustness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { good_ = new std::string(packed_bytes_of(tiny_quantized())); }
  static void TearDownTestSuite() { delete good_; }
  static const std::string& good() { return *good_; }
  static inline std::string* good_ = nullptr;
};

TEST_F(PackedRobustness, GoodFileReads) {
  EXPECT_EQ(good().substr(0, 8), "DFMPCPK2");
  EXPECT_EQ(read_error(good()), "");
}

TEST_F(PackedRobustness, FlippedWeightCodeIsACrcError) {
  std::string bad = good();
  bad[bad.size() - 3] = static_cast<char>(bad[bad.size() - 3] ^ 0x10);  // inside the last tensor's codes
  EXPECT_NE(read_error(bad).find("damaged (CRC-32 mismatch)"), std::string::npos) << read_error(bad);
}

TEST_F(PackedRobustness, EveryByteFlipIsRejected) {
  for (size_t k = 0; k < good().size(); ++k) {
    std::string bad = good();
    bad[k] = static_cast<char>(bad[k] ^ 0x01);
    EXPECT_NE(read_error(bad), "") << "flip at " << k;
  }
}

TEST_F(PackedRobustness, TruncationAtEveryOffsetIsRejected) {
  for (size_t cut = 0; cut < good().size(); ++cut) EXPECT_NE(read_error(good().substr(0, cut)), "") << "cut at " << cut;
}

TEST_F(PackedRobustness, VersionOneFilesAskForRequantization) {
  std::string old = good();
  std::memcpy(old.data(), "DFMPCPK1", 8);
  EXPECT_NE(read_error(old).find("re-quantize"), std::string::npos) << read_error(old);
}

TEST_F(PackedRobustness, HeaderFieldsAreBoundedBeforeAllocating) {
  std::string s = good();
  set_u32(s, 16, 0xffffffffu);  // skeleton claims 4 GiB inflated
  EXPECT_NE(read_error(with_crc(s)).find("impossible"), std::string::npos) << read_error(with_crc(s));
  s = good();
  set_u32(s, 12, 0xfffffff0u);  // compressed skeleton longer than the file
  EXPECT_NE(read_error(with_crc(s)).find("truncated"), std::string::npos) << read_error(with_crc(s));
  s = good();
  set_u32(s, count_offset(s), 0xffffffffu);
  EXPECT_NE(read_error(with_crc(s)).find("claims 4294967295 tensors"), std::string::npos) << read_error(with_crc(s));
  // First tensor record: u16 name length, name, u8 bits, u8 rank, u32 dims[rank].
  s = good();
  const size_t rec = count_offset(s) + 4;
  uint16_t name_len;
  std::memcpy(&name_len, s.data() + rec, 2);
  const size_t bits_at = rec + 2 + name_len, rank_at = bits_at + 1, dims_at = rank_at + 1;
  s[bits_at] = 9;
  EXPECT_NE(read_error(with_crc(s)).find("invalid bit width 9"), std::string::npos) << read_error(with_crc(s));
  s = good();
  s[rank_at] = static_cast<char>(200);
  EXPECT_NE(read_error(with_crc(s)).find("invalid rank 200"), std::string::npos) << read_error(with_crc(s));
  s = good();
  const uint8_t rank = static_cast<uint8_t>(s[rank_at]);
  for (uint8_t d = 0; d < rank; ++d) set_u32(s, dims_at + 4 * d, 0xffffffffu);
  EXPECT_NE(read_error(with_crc(s)).find("too large"), std::string::npos) << read_error(with_crc(s));
}

TEST_F(PackedRobustness, GroupsMustMatchTheShape) {
  QuantizedModel m = tiny_quantized();
  auto& t = m.weights.begin()->second;
  ASSERT_GE(t.shape[0], 3);
  t.scale.resize(2, 1.0f);
  t.zero.resize(2, 0.0f);
  const std::string err = read_error(packed_bytes_of(m));
  EXPECT_NE(err.find("has 2 groups"), std::string::npos) << err;
}

TEST_F(PackedRobustness, StoredShapeMustFitTheGraph) {
  QuantizedModel m = tiny_quantized();
  ASSERT_TRUE(m.weights.count("w1"));
  m.weights.at("w1").shape = {4, 27, 1, 1};  // same element count, wrong input channels
  const std::string err = read_error(packed_bytes_of(m));
  EXPECT_NE(err.find("does not fit the graph"), std::string::npos) << err;
}

TEST_F(PackedRobustness, NonFiniteScaleIsRejected) {
  QuantizedModel m = tiny_quantized();
  m.weights.begin()->second.scale[0] = std::nanf("");
  const std::string err = read_error(packed_bytes_of(m));
  EXPECT_NE(err.find("non-finite scale"), std::string::npos) << err;
}

}  // namespace
}  // namespace dfmpc
