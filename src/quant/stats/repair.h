// Data-free repair of the statistics a quantized model normalises with: after quantization
// every BN normalises with statistics (mu, sigma) that no longer match its input. The design
// and the formulas: docs/statistics.md; why these modes and no others: docs/decisions.md
// section 6 (measured on the Fashion-MNIST training split).
//
// q is fp with some weight tensors replaced by their quantized (dequantized float) values,
// same node names and topology. Nothing but the two graphs is read: no data.
//  - keep: nothing is changed (the paper's literal reading).
//  - mean: DFQ's analytic bias correction. For every Conv / Gemm whose weights differ,
//    mu^ = mu + sum over the valid taps of (W^ - W) E[x], with E[x] from propagate_moments()
//    on fp; written into the following BN's running mean, or, without a BN, into the bias.
//  - joint+mmse: fp and q are followed together (joint_repair.h), so every BN downstream of
//    a quantized layer gets the predicted mean and variance of its quantized input, with the
//    BN slope shrunk to the linear MMSE estimate of the FP output; BN-less layers get the
//    mean correction only (the variance scale measured worse there).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "quant/stats/moment_propagation.h"

namespace dfmpc {

enum class StatsRepair { keep, mean, joint_mmse };

// The one name table: "keep", "mean", "joint+mmse". from_name throws std::invalid_argument
// naming the valid values; names() lists them for help texts.
std::string_view stats_repair_name(StatsRepair r);
StatsRepair stats_repair_from_name(const std::string& name);
std::string stats_repair_names();

struct LayerRepair {
  std::string node;         // the quantized Conv / Gemm
  std::string target;       // the BN whose statistics were rewritten, or `node` itself
  bool folded = false;      // true: the bias instead of a BN
  int64_t channels = 0;
  // |mu^ - mu| / sigma over output channels (sigma: FP running std, or the modelled std).
  double mean_shift_mean = 0, mean_shift_max = 0;
  // sigma^2 new / old over output channels (1 = unchanged).
  double var_ratio_min = 1, var_ratio_geomean = 1, var_ratio_max = 1;
};

struct RepairReport {
  std::vector<LayerRepair> layers;
  std::string to_string() const;  // one line per layer
};

// `moments`: the graph input's per-channel moments (normalised images: mean 0, variance 1).
RepairReport repair_statistics(const Graph& fp, Graph& q, StatsRepair mode, const MomentOptions& moments = {});

}  // namespace dfmpc
