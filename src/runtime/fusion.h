// Turns graph nodes into execution steps. With `fuse`, Conv [-> BatchNormalization]
// [-> Add(residual)] [-> Relu | Clip] chains become one convolution step with the BN folded
// into its weights and the rest as a fused epilogue, and QuantizeLinear -> DequantizeLinear
// pairs on activations become one fake-quantization step; every other node runs its
// reference op.
// Fused convolutions (groups 1) keep their activations in the blocked nChw8c layout, as do
// Slice / Pad / GlobalAveragePool reading them; explicit conversion steps sit where a blocked
// value meets a plain consumer (or the graph output) and the other way round.
// With `packed`, a fused Conv whose weight is a packed low-bit tensor (and an empty placeholder
// in the graph) runs LowBitConvKernel on the codes; if that kernel does not support it (groups,
// plain layout), the weight is dequantized to FP32 for that step only.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

struct ExecStep {
  std::vector<int> in, out;  // value ids; -1 marks an omitted optional input
  std::function<void(int64_t opset, std::span<const Tensor* const>, std::span<Tensor* const>)> run;
  // run() may be called concurrently on different tensors (once it has run once with the
  // same non-batch input shape). False for steps holding per-call state (oneDNN plain convs).
  bool concurrent = true;
  // Bytes of parameters the step holds itself (its weight copies, including kernel-internal
  // ones); null for steps holding none.
  std::function<int64_t()> held_bytes;
  bool low_bit = false;  // a convolution computed from packed codes
};

std::vector<ExecStep> plan_steps(const Graph& g, bool fuse,
                                 const std::function<int(const std::string&)>& id_of,
                                 const PackedWeights* packed = nullptr);

// True for the (synthetic) value names under which plan_steps keeps values in the blocked
// nChw8c layout (runtime/kernels/blocked.h); such values never leave the executor.
bool is_blocked_value(const std::string& name);

// Folds an inference BatchNormalization into conv weights [O, ...] and bias (created when
// empty): w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
void fold_bn_into_conv(std::vector<float>& w, std::vector<float>& b, int64_t c_out,
                       const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, float eps);

}  // namespace dfmpc
