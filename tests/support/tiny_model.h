// A tiny, valid CNN built in code (conv -> BN -> ReLU -> conv -> ReLU -> global pool ->
// Reshape -> Gemm on [N,3,8,8] input): the starting point of the malformed-model tests, which
// break one thing in it, and of the fuzzers' seed corpus. Header-only; needs only src/ir.
#pragma once
#include <cmath>

#include "ir/graph.h"

namespace dfmpc::test {

inline std::vector<float> ramp(int64_t n, float scale, float offset = 0.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[static_cast<size_t>(k)] = offset + scale * std::sin(0.7f * static_cast<float>(k) + 0.3f);
  return v;
}

inline Graph tiny_model() {
  Graph g;
  g.opset = 13;
  g.inputs.push_back({"x", {-1, 3, 8, 8}});
  g.outputs.push_back({"y", {-1, 10}});
  g.initializers["w1"] = Tensor::from_f32({4, 3, 3, 3}, ramp(108, 0.3f));
  g.initializers["b1"] = Tensor::from_f32({4}, ramp(4, 0.1f));
  g.initializers["bn_scale"] = Tensor::from_f32({4}, ramp(4, 0.2f, 1.0f));
  g.initializers["bn_bias"] = Tensor::from_f32({4}, ramp(4, 0.1f));
  g.initializers["bn_mean"] = Tensor::from_f32({4}, ramp(4, 0.05f));
  g.initializers["bn_var"] = Tensor::from_f32({4}, ramp(4, 0.3f, 1.0f));
  g.initializers["w2"] = Tensor::from_f32({4, 4, 3, 3}, ramp(144, 0.2f));
  g.initializers["flat"] = Tensor::from_i64({2}, {0, -1});
  g.initializers["wfc"] = Tensor::from_f32({10, 4}, ramp(40, 0.5f));
  g.initializers["bfc"] = Tensor::from_f32({10}, ramp(10, 0.1f));
  auto node = [&](std::string name, std::string op, std::vector<std::string> in, std::string out) {
    Node n;
    n.name = std::move(name);
    n.op = std::move(op);
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    g.nodes.push_back(std::move(n));
    return &g.nodes.back();
  };
  node("conv1", "Conv", {"x", "w1", "b1"}, "a")->attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  node("bn1", "BatchNormalization", {"a", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, "b");
  node("relu1", "Relu", {"b"}, "c");
  node("conv2", "Conv", {"c", "w2"}, "d")->attrs["pads"] = std::vector<int64_t>{1, 1, 1, 1};
  node("relu2", "Relu", {"d"}, "e");
  node("pool", "GlobalAveragePool", {"e"}, "f");
  node("flatten", "Reshape", {"f", "flat"}, "h");
  node("fc", "Gemm", {"h", "wfc", "bfc"}, "y")->attrs["transB"] = int64_t{1};
  return g;
}

}  // namespace dfmpc::test
