// The DF-MPC pairing pass: finds conv pairs (l, l+1) where every output channel j of l
// reaches only input channel j of l+1, through a per-channel BatchNormalization (or the
// conv's own bias when BN was folded) and a ReLU. A per-channel scale c_j >= 0 then passes
// through unchanged, which is what the compensation needs. Layer l gets the low bit width,
// l+1 the high one; every other weight layer is an edge layer.
#pragma once
#include <string>
#include <vector>

#include "ir/graph.h"

namespace dfmpc {

struct LayerPair {
  int low = -1;   // node index of conv l
  int bn = -1;    // node index of the BN after l, or -1 when folded into l's bias
  int relu = -1;  // node index of the ReLU
  int high = -1;  // node index of conv l+1
};

struct PairingPlan {
  std::vector<LayerPair> pairs;
  std::vector<int> edge_layers;  // Conv / Gemm / MatMul nodes with constant weights not in a pair
  // Why each edge layer is not the low layer of a pair (same order as edge_layers).
  std::vector<std::string> edge_reasons;
};

PairingPlan find_pairs(const Graph& g);

// Nodes whose weights are quantized: Conv, Gemm, MatMul with a constant weight input.
bool is_weight_layer(const Graph& g, const Node& n);

}  // namespace dfmpc
