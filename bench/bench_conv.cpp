// conv2d_ref vs ConvKernel (oneDNN) on ResNet-56-like 3x3 layers (CIFAR sizes).
// Args: {channels, spatial, batch}. Stage 1: 16ch 32x32, stage 2: 32ch 16x16, stage 3: 64ch 8x8.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "runtime/kernels/conv.h"

namespace {

using namespace dfmpc;

struct Layer {
  ConvGeom g;
  Epilogue ep;
  std::vector<float> w, b, x, res, y;
  int64_t n;
  Layer(int64_t c, int64_t hw, int64_t batch) : n(batch) {
    g.c_in = g.c_out = c, g.h = g.w = hw, g.kh = g.kw = 3;
    g.pad_t = g.pad_l = g.pad_b = g.pad_r = 1;
    ep.act = Activation::relu, ep.add_residual = true;  // second conv of a basic block
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> d(-1, 1);
    auto fill = [&](std::vector<float>& v, int64_t count) {
      v.resize(count);
      for (auto& e : v) e = d(rng);
    };
    fill(w, g.weight_numel());
    fill(b, c);
    fill(x, n * c * hw * hw);
    fill(res, n * c * hw * hw);
    y.resize(n * c * hw * hw);
  }
  double flops() const { return 2.0 * n * g.c_out * g.out_h() * g.out_w() * g.c_in * 9; }
};

void BM_ConvRef(benchmark::State& st) {
  Layer L(st.range(0), st.range(1), st.range(2));
  for (auto _ : st) {
    conv2d_ref(L.g, L.n, L.x.data(), L.w.data(), L.b.data(), L.res.data(), L.ep, L.y.data());
    benchmark::DoNotOptimize(L.y.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(L.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ConvDnnl(benchmark::State& st) {
  Layer L(st.range(0), st.range(1), st.range(2));
  set_num_threads(int(st.range(3)));
  ConvKernel k(L.g, L.w.data(), L.b.data(), L.ep);
  k.run(L.n, L.x.data(), L.res.data(), L.y.data());  // warm-up: primitive for this batch
  for (auto _ : st) {
    k.run(L.n, L.x.data(), L.res.data(), L.y.data());
    benchmark::DoNotOptimize(L.y.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(L.flops() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  set_num_threads(0);
}

void RefArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "hw", "n"});
  for (int64_t n : {1, 32})
    for (auto [c, hw] : {std::pair{16, 32}, {32, 16}, {64, 8}}) b->Args({c, hw, n});
}
void DnnlArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"c", "hw", "n", "threads"});
  for (int64_t threads : {1, 0})  // 0 = library default (all cores)
    for (int64_t n : {1, 32})
      for (auto [c, hw] : {std::pair{16, 32}, {32, 16}, {64, 8}}) b->Args({c, hw, n, threads});
}

BENCHMARK(BM_ConvRef)->Apply(RefArgs)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvDnnl)->Apply(DnnlArgs)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
