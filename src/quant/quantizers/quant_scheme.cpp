#include "quant/quantizers/quant_scheme.h"

#include <array>
#include <stdexcept>

#include "quant/quantizers/quantizers.h"

namespace dfmpc {
namespace {

using enum QuantScheme;

// The registry. Row i must describe QuantScheme(i) (checked below).
constexpr std::array<QuantSchemeTraits, static_cast<size_t>(count)> k_schemes = {{
    {twn, "twn", 2, 2, true, true, quantize_twn, "ternary, delta = 0.7 mean|W| (TWN)"},
    {dorefa, "dorefa", 2, 8, true, true, quantize_dorefa, "DoReFa k-bit, no exact zero"},
    {sym, "sym", 2, 8, true, true, quantize_sym, "symmetric round-to-nearest, max|W| scale"},
    {asym, "asym", 2, 8, true, true, quantize_asym, "asymmetric min/max round-to-nearest"},
    {omse, "omse", 2, 8, true, true, quantize_omse, "symmetric, MSE-optimal clipping (OMSE)"},
    {squant, "squant", 2, 8, true, true, quantize_squant, "SQuant CASE flipping"},
    {ternary_mse, "ternary_mse", 2, 2, true, true, quantize_ternary_mse, "ternary, least-squares threshold and scale"},
    {dorefa_mse, "dorefa_mse", 2, 8, true, true, quantize_dorefa_mse, "DoReFa's grid, least-squares scale"},
    {squant_mse, "squant_mse", 2, 8, true, true, quantize_squant_mse, "SQuant flipping on dorefa_mse's grid"},
}};

constexpr bool table_in_enum_order() {
  for (size_t i = 0; i < k_schemes.size(); ++i)
    if (k_schemes[i].scheme != static_cast<QuantScheme>(i)) return false;
  return true;
}
static_assert(table_in_enum_order(), "k_schemes rows must follow the QuantScheme order");

void validate(const QuantSchemeTraits& t, const WeightView& w, const QuantOptions& opt) {
  const std::string who = std::string("quantize '") + t.name + "': ";
  if (w.data.empty()) throw std::invalid_argument(who + "empty weight tensor");
  int64_t numel = 1;
  for (int64_t d : w.shape) {
    if (d <= 0) throw std::invalid_argument(who + "shape has a non-positive dimension");
    numel *= d;
  }
  if (numel != w.numel())
    throw std::invalid_argument(who + "shape has " + std::to_string(numel) +
                                " elements but the data has " + std::to_string(w.numel()));
  if (opt.bits < t.min_bits || opt.bits > t.max_bits)
    throw std::invalid_argument(who + "supports " + std::to_string(t.min_bits) + ".." +
                                std::to_string(t.max_bits) + " bits, got " +
                                std::to_string(opt.bits));
  const bool per_channel = opt.granularity == Granularity::per_channel;
  if (per_channel ? !t.per_channel : !t.per_tensor)
    throw std::invalid_argument(who + (per_channel ? "no per-channel" : "no per-tensor") +
                                " variant");
}

}  // namespace

int64_t WeightView::kernel_size() const {
  int64_t k = 1;
  for (size_t i = 2; i < shape.size(); ++i) k *= shape[i];
  return k;
}

std::span<const QuantSchemeTraits> quant_schemes() { return k_schemes; }

const QuantSchemeTraits& quant_scheme_traits(QuantScheme s) {
  const auto i = static_cast<size_t>(s);
  if (i >= k_schemes.size()) throw std::invalid_argument("invalid QuantScheme value");
  return k_schemes[i];
}

std::string quant_scheme_names() {
  std::string names;
  for (const auto& t : k_schemes) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

QuantScheme quant_scheme_from_name(std::string_view name) {
  for (const auto& t : k_schemes)
    if (name == t.name) return t.scheme;
  throw std::invalid_argument("unknown quantization scheme '" + std::string(name) +
                              "' (valid: " + quant_scheme_names() + ")");
}

QuantResult quantize_weights(QuantScheme s, const WeightView& w, const QuantOptions& opt) {
  const QuantSchemeTraits& t = quant_scheme_traits(s);
  validate(t, w, opt);
  QuantResult r{t.quantize(w, opt), {}};
  r.w_hat = dequantize(r.tensor);
  return r;
}

}  // namespace dfmpc
