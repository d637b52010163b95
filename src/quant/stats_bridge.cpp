#include "quant/stats_bridge.h"

#include <cmath>

#include "quant/stats/repair.h"

namespace dfmpc {
namespace {

// Folded layers come back from the repair with W' = s_o W^ per output channel: fold s_o
// into the per-channel scales so the weights stay exactly on a (per-channel) grid.
void absorb_channel_scales(QuantizedModel& m) {
  for (auto& [name, qt] : m.weights) {
    std::vector<float>& w = m.graph.constant(name).f;
    const std::vector<float> w_hat = dequantize(qt);
    if (w == w_hat) continue;
    const int64_t out = qt.shape.empty() ? 1 : qt.shape[0], per = qt.numel() / out;
    if (qt.n_groups() != out) {
      qt.scale.assign(static_cast<size_t>(out), qt.scale.at(0));
      qt.zero.assign(static_cast<size_t>(out), qt.zero.at(0));
      qt.group_size = per;
    }
    for (int64_t o = 0; o < out; ++o) {
      double num = 0, den = 0;
      for (int64_t k = o * per; k < (o + 1) * per; ++k) num += double(w[k]) * w_hat[k], den += double(w_hat[k]) * w_hat[k];
      if (den > 0) qt.scale[o] = static_cast<float>(qt.scale[o] * (num / den));
    }
    w = dequantize(qt);
  }
}

}  // namespace

void repair_bn_statistics(const Graph& fp, QuantizedModel& m, const std::string& mode) {
  repair_statistics(fp, m.graph, repair_options_from_name(mode == "mean" ? "mean_only" : mode));
  absorb_channel_scales(m);
}

}  // namespace dfmpc
