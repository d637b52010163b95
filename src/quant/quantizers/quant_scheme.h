// Weight quantization schemes and their registry: one trait table indexed by QuantScheme
// (ggml style). Adding a scheme = one enum value (appended, never reused), one table row in
// quant_scheme.cpp and its quantize function in quantizers.h.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quant/quantizers/quantized_tensor.h"

namespace dfmpc {

enum class QuantScheme : uint8_t {
  twn = 0,     // ternary weight networks (2 bit)
  dorefa = 1,  // DoReFa k-bit, Eq. 6 of the DF-MPC paper
  sym = 2,     // symmetric round-to-nearest, max|W| scale
  asym = 3,    // asymmetric min/max round-to-nearest
  omse = 4,    // symmetric grid, MSE-optimal clipping scale
  squant = 5,  // SQuant flipping (element, kernel, channel)
  ternary_mse = 6,  // ternary with the least-squares threshold and scale
  dorefa_mse = 7,   // DoReFa's grid with the least-squares scale
  squant_mse = 8,   // SQuant flipping on dorefa_mse's grid
  count,       // append new schemes above this line
};

enum class Granularity : uint8_t { per_tensor, per_channel };
enum class SquantGrid : uint8_t { asym, sym, dorefa_mse };

struct QuantOptions {
  int bits = 4;
  Granularity granularity = Granularity::per_channel;
  SquantGrid squant_grid = SquantGrid::asym;  // squant: SQuant's own min/max grid, sym's or dorefa_mse's
  bool squant_kernel = true;                  // squant: kernel stage (off = ablation)
  bool squant_channel = true;                 // squant: channel stage (off = ablation)
};

// A weight tensor as the quantizers see it: axis 0 = output channels; a kernel = the product
// of the dims after axis 1 (kh*kw for OIHW, 1 for Gemm [out, in]). Rank 0 counts as [1].
struct WeightView {
  std::span<const float> data;
  std::span<const int64_t> shape;

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t out_channels() const { return shape.empty() ? 1 : shape[0]; }
  int64_t channel_size() const { return numel() / out_channels(); }
  int64_t kernel_size() const;
};

// Contract: w is validated (non-empty, shape matches) and opt.bits / granularity are within
// the scheme's traits; returns codes, scales and zeros. Pure: no state, deterministic.
using QuantizeFn = QuantizedTensor (*)(const WeightView& w, const QuantOptions& opt);

struct QuantSchemeTraits {
  QuantScheme scheme;
  const char* name;  // CLI name
  int min_bits;
  int max_bits;
  bool per_tensor;
  bool per_channel;
  QuantizeFn quantize;
  const char* summary;
};

std::span<const QuantSchemeTraits> quant_schemes();
const QuantSchemeTraits& quant_scheme_traits(QuantScheme s);
// Throws std::invalid_argument naming the valid schemes.
QuantScheme quant_scheme_from_name(std::string_view name);
std::string quant_scheme_names();  // "twn, dorefa, ..."

struct QuantResult {
  QuantizedTensor tensor;
  std::vector<float> w_hat;  // dequantize(tensor), same layout as the input
};

// Validates w and opt against the scheme's traits (std::invalid_argument on mismatch), then
// quantizes and dequantizes.
QuantResult quantize_weights(QuantScheme s, const WeightView& w, const QuantOptions& opt);

}  // namespace dfmpc
