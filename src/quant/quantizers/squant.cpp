// SQuant (Guo et al., ICLR 2022): rounding that keeps the absolute sum of errors small per
// element, per kernel and per output channel (CASE), by flipping a few round-to-nearest codes.
// Works in code units: u = w/scale + zero is the unrounded code, e = q - u the error.
// O(N log k) for k-element kernels: per kernel, n + 1 max passes for n = round(|E_K|) < 4
// flips, else one partial sort; per channel one nth_element over its kernels' candidates.
#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <vector>

#include "quant/quantizers/quant_common.h"
#include "quant/quantizers/quantizers.h"

namespace dfmpc {
namespace {

using namespace quant_detail;

// Moves the n largest of the (distinct) keys to the front, in any order. n is usually a few
// out of hundreds: one pass with a min-heap of the best n so far, whose rare updates beat
// nth_element's unpredictable partition branches.
void select_largest(std::vector<uint64_t>& keys, size_t n) {
  if (n == 0) return;
  if (n * 16 >= keys.size()) {
    std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(n - 1), keys.end(), std::greater<>());
    return;
  }
  const auto heap_end = keys.begin() + static_cast<std::ptrdiff_t>(n);
  std::make_heap(keys.begin(), heap_end, std::greater<>());  // keys[0]: the smallest of the best n
  for (size_t i = n; i < keys.size(); ++i)
    if (keys[i] > keys[0]) {
      std::pop_heap(keys.begin(), heap_end, std::greater<>());
      std::swap(keys[n - 1], keys[i]);
      std::push_heap(keys.begin(), heap_end, std::greater<>());
    }
}

struct Candidate {
  int32_t index;   // within the channel
  int8_t dir;      // +1 flips the code up, -1 down
  float priority;  // |current error|: a higher one costs less to flip
};

struct Channel {
  std::span<const float> u;  // unrounded codes
  std::vector<float> e;      // current errors q - u
  std::vector<int> q;
  int max_code = 0;
  std::vector<int32_t> order;
  std::vector<Candidate> cands;
  std::vector<double> kernel_sums;

  void flip(int32_t j, int dir) {
    q[j] += dir;
    e[j] = static_cast<float>(q[j]) - u[j];
  }
  // Flipping j in direction dir moves its error across 0 and keeps the code in range.
  bool can_flip(int32_t j, int dir) const {
    const auto d = static_cast<float>(dir);
    return (e[j] * d < 0.0f) & (u[j] * d < (dir > 0 ? static_cast<float>(max_code) : 0.0f));
  }
  bool higher(int32_t a, int32_t b) const {  // priority order, ties by index
    const float pa = std::fabs(e[a]), pb = std::fabs(e[b]);
    return pa != pb ? pa > pb : a < b;
  }
  // Candidate key: |e| (non-negative float bits order like the floats) above the inverted
  // index, so an integer max picks the highest priority and, on ties, the lowest index;
  // 0 = not a candidate. Integer max reductions vectorize and do not branch.
  std::vector<uint64_t> keys;
  void fill_keys(int32_t begin, int32_t end, int dir) {
    keys.resize(static_cast<size_t>(end - begin));
    for (int32_t j = begin; j < end; ++j) {
      const uint64_t p = std::bit_cast<uint32_t>(std::fabs(e[j]));
      keys[j - begin] = can_flip(j, dir) ? p << 32 | static_cast<uint32_t>(~j) : 0;
    }
  }
  int32_t take_best(int32_t begin) {  // -1 if no candidate is left
    uint64_t best = 0;
    for (uint64_t k : keys) best = std::max(best, k);
    if (best == 0) return -1;
    const auto j = static_cast<int32_t>(~static_cast<uint32_t>(best));
    keys[j - begin] = 0;
    return j;
  }

  // K stage on [begin, end): flip round(|E_K|) best candidates against E_K, then record the
  // kernel's one channel-stage candidate. Flipped elements stop being candidates (their error
  // changes sign), so a few max passes replace sorting while n is small.
  void flip_kernel(int32_t begin, int32_t end, double ek) {
    // E_K == 0: nothing to fix, and "overshoot" would point before the first flip (the
    // reference code's order[-1]); such a kernel offers no channel candidate.
    if (ek == 0.0) return;
    const int dir = ek < 0.0 ? 1 : -1;
    const auto want = static_cast<size_t>(std::llround(std::fabs(ek)));
    const bool sort = want >= 4;  // many flips: sort the candidates once instead
    size_t n = 0;
    int32_t last = -1;
    if (!sort) {
      fill_keys(begin, end, dir);
      for (int32_t j; n < want && (j = take_best(begin)) >= 0; ++n) flip(j, dir), last = j;
    } else {
      order.clear();
      for (int32_t j = begin; j < end; ++j)
        if (can_flip(j, dir)) order.push_back(j);
      n = std::min(want, order.size());
      std::partial_sort(order.begin(), order.begin() + std::min(n + 1, order.size()),
                        order.end(), [this](int32_t a, int32_t b) { return higher(a, b); });
      for (size_t i = 0; i < n; ++i) flip(order[i], dir), last = order[i];
    }
    if (n > 0 && static_cast<double>(n) >= std::fabs(ek)) {  // overshoot: may flip back
      cands.push_back({last, static_cast<int8_t>(-dir), std::fabs(e[last])});
      return;
    }
    // Undershoot: the next best in the same direction, if any is left.
    const int32_t next = !sort ? take_best(begin) : (n < order.size() ? order[n] : -1);
    if (next >= 0) cands.push_back({next, static_cast<int8_t>(dir), std::fabs(e[next])});
  }

  // C stage: flip round(|E_C|) best candidates (capped at their number) against E_C. The
  // selection runs on integer keys (priority above the inverted index, as in fill_keys);
  // the appends are branch-free (candidate directions are random, a branch mispredicts).
  // Without a K stage every element that can flip against E_C is a candidate.
  void flip_channel(bool kernel_stage) {
    const double ec = sum(e);
    if (ec == 0.0) return;
    const int dir = ec < 0.0 ? 1 : -1;
    size_t count = 0;
    if (kernel_stage) {
      keys.resize(cands.size());
      for (const Candidate& c : cands) {
        keys[count] = uint64_t{std::bit_cast<uint32_t>(c.priority)} << 32 | static_cast<uint32_t>(~c.index);
        count += c.dir == dir;
      }
    } else {
      keys.resize(e.size());
      for (int32_t j = 0; j < static_cast<int32_t>(e.size()); ++j) {
        keys[count] = uint64_t{std::bit_cast<uint32_t>(std::fabs(e[j]))} << 32 | static_cast<uint32_t>(~j);
        count += can_flip(j, dir);
      }
    }
    keys.resize(count);
    const size_t n = std::min(static_cast<size_t>(std::llround(std::fabs(ec))), keys.size());
    if (n == 0) return;
    select_largest(keys, n);
    for (size_t i = 0; i < n; ++i) flip(static_cast<int32_t>(~static_cast<uint32_t>(keys[i])), dir);
  }

  void run(int64_t kernel_size, bool kernel_stage, bool channel_stage) {
    const auto size = static_cast<int32_t>(u.size());
    const auto top = static_cast<float>(max_code);
    q.resize(u.size());
    e.resize(u.size());
    for (int32_t j = 0; j < size; ++j) {
      const float r = std::clamp(round_code(u[j]), 0.0f, top);
      q[j] = static_cast<int>(r);
      e[j] = r - u[j];
    }
    cands.clear();
    const bool kernels = kernel_stage && kernel_size > 1;
    if (kernels) {
      const auto k = static_cast<int32_t>(kernel_size);
      kernel_sums.resize(static_cast<size_t>(size / k));
      for (int32_t i = 0; i < size / k; ++i) {  // all sums first: no branches between them
        double s = 0.0;
        for (int32_t j = i * k; j < (i + 1) * k; ++j) s += e[j];
        kernel_sums[i] = s;
      }
      for (int32_t i = 0; i < size / k; ++i) flip_kernel(i * k, (i + 1) * k, kernel_sums[i]);
    }
    if (channel_stage) flip_channel(kernels);
  }
};

// Per-group grid: SQuant's min/max grid (range not widened to 0, integer zero point) or sym.
void set_grid(std::span<const float> x, const QuantOptions& opt, float& scale, float& zero) {
  if (opt.squant_grid == SquantGrid::sym) {
    const int levels = sym_levels(opt.bits);
    scale = abs_max(x) / static_cast<float>(levels);
    zero = static_cast<float>(levels);
  } else if (opt.squant_grid == SquantGrid::dorefa_mse) {
    scale = dorefa_mse_scale(x, opt.bits);
    zero = 0.5f * static_cast<float>((1 << opt.bits) - 1);
  } else {
    const Range r = min_max(x);
    const AffineGrid g = affine_grid(r.lo, r.hi, opt.bits);
    scale = g.scale, zero = g.zero;
  }
}

}  // namespace

QuantizedTensor quantize_squant(const WeightView& w, const QuantOptions& opt) {
  QuantizedTensor t = make_quantized(w, opt.bits, opt.granularity);
  for (int64_t g = 0; g < t.n_groups(); ++g)
    set_grid(group_values(w, t, g), opt, t.scale[g], t.zero[g]);

  const int64_t channels = w.out_channels(), size = w.channel_size();
  const int max_code = opt.squant_grid == SquantGrid::sym ? 2 * sym_levels(opt.bits)
                                                           : t.max_code();
  std::vector<float> u(size);
  Channel ch;
  ch.max_code = max_code;
  for (int64_t c = 0; c < channels; ++c) {
    const int64_t g = t.n_groups() == 1 ? 0 : c;
    const float s = t.scale[g], z = t.zero[g];
    const float* x = w.data.data() + c * size;
    for (int64_t j = 0; j < size; ++j) u[j] = s == 0.0f ? z : x[j] / s + z;
    ch.u = u;
    ch.run(w.kernel_size(), opt.squant_kernel, opt.squant_channel);
    uint8_t* q = t.q.data() + c * size;
    for (int64_t j = 0; j < size; ++j) q[j] = static_cast<uint8_t>(ch.q[j]);
  }
  return t;
}

QuantizedTensor quantize_squant_mse(const WeightView& w, const QuantOptions& opt) {
  QuantOptions o = opt;
  o.squant_grid = SquantGrid::dorefa_mse;
  return quantize_squant(w, o);
}

}  // namespace dfmpc
