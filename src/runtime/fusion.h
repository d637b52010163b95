// Turns graph nodes into execution steps. With `fuse`, Conv [-> BatchNormalization]
// [-> Add(residual)] [-> Relu | Clip] chains become one oneDNN convolution with the BN folded
// into its weights and the rest as post-ops; every other node runs its reference op.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace dfmpc {

struct ExecStep {
  std::vector<int> in, out;  // value ids; -1 marks an omitted optional input
  std::function<void(int64_t opset, std::span<const Tensor* const>, std::span<Tensor* const>)> run;
};

std::vector<ExecStep> plan_steps(const Graph& g, bool fuse,
                                 const std::function<int(const std::string&)>& id_of);

// Folds an inference BatchNormalization into conv weights [O, ...] and bias (created when
// empty): w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
void fold_bn_into_conv(std::vector<float>& w, std::vector<float>& b, int64_t c_out,
                       const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                       const Tensor& var, float eps);

}  // namespace dfmpc
