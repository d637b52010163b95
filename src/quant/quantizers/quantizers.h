// The quantize functions behind the QuantScheme table (see quant_scheme.h for the contract).
// Call them through quantize_weights() unless the inputs are already validated.
#pragma once
#include "quant/quantizers/quant_scheme.h"

namespace dfmpc {

// TWN: delta = 0.7 mean|W|, alpha = mean|W| over |W| > delta; codes {0,1,2}, zero 1.
QuantizedTensor quantize_twn(const WeightView& w, const QuantOptions& opt);
// DoReFa (Eq. 6): max|W| * (2 round((2^k-1)(W/(2 max|W|) + 1/2)) / (2^k-1) - 1);
// code = the rounded integer, scale = 2 max|W| / (2^k-1), zero = (2^k-1)/2.
QuantizedTensor quantize_dorefa(const WeightView& w, const QuantOptions& opt);
// Symmetric restricted range: levels -L..L, L = 2^(k-1)-1, scale = max|W|/L, zero = L.
QuantizedTensor quantize_sym(const WeightView& w, const QuantOptions& opt);
// Asymmetric: range [min(lo,0), max(hi,0)], scale = range/(2^k-1), zero = round(-min/scale).
QuantizedTensor quantize_asym(const WeightView& w, const QuantOptions& opt);
// OMSE: the sym grid with the scale that minimises ||W - W^||^2.
QuantizedTensor quantize_omse(const WeightView& w, const QuantOptions& opt);
// SQuant: CASE flipping on the SQuant min/max grid (or the sym grid), per output channel.
QuantizedTensor quantize_squant(const WeightView& w, const QuantOptions& opt);
// Ternary {-alpha, 0, alpha} with the threshold and alpha minimising ||W - W^||^2 (exact).
QuantizedTensor quantize_ternary_mse(const WeightView& w, const QuantOptions& opt);
// DoReFa's 2^k-level grid (no exact zero) with the scale minimising ||W - W^||^2.
QuantizedTensor quantize_dorefa_mse(const WeightView& w, const QuantOptions& opt);
// SQuant's flipping on dorefa_mse's grid (least-squares scale, no exact zero).
QuantizedTensor quantize_squant_mse(const WeightView& w, const QuantOptions& opt);

}  // namespace dfmpc
