// Weight quantizers and code packing on ResNet-56-sized weights (CIFAR ResNet-56: 848,944
// conv/FC weights in 57 tensors), each tensor quantized per output channel.
// Args: {scheme, bits}.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/packing/bit_packing.h"
#include "quant/quantizers/quant_scheme.h"

namespace {

using namespace dfmpc;

struct Layer {
  std::vector<int64_t> shape;
  std::vector<float> w;
};

const std::vector<Layer>& resnet56() {
  static const std::vector<Layer> layers = [] {
    std::vector<std::vector<int64_t>> shapes = {{16, 3, 3, 3}};
    for (int64_t c : {16, 32, 64})
      for (int i = 0; i < 18; ++i) shapes.push_back({c, i == 0 && c > 16 ? c / 2 : c, 3, 3});
    shapes.push_back({10, 64});
    std::mt19937 rng(1);
    std::vector<Layer> out;
    for (auto& s : shapes) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      std::normal_distribution<float> d(0.0f, 1.0f / std::sqrt(float(n / s[0])));
      Layer l{s, std::vector<float>(n)};
      for (float& v : l.w) v = d(rng);
      out.push_back(std::move(l));
    }
    return out;
  }();
  return layers;
}

void BM_quantize(benchmark::State& state) {
  const auto scheme = static_cast<QuantScheme>(state.range(0));
  QuantOptions opt;
  opt.bits = static_cast<int>(state.range(1));
  int64_t weights = 0;
  for (const Layer& l : resnet56()) weights += static_cast<int64_t>(l.w.size());
  for (auto _ : state)
    for (const Layer& l : resnet56()) {
      QuantResult r = quantize_weights(scheme, WeightView{l.w, l.shape}, opt);
      benchmark::DoNotOptimize(r.w_hat.data());
    }
  state.SetLabel(quant_scheme_traits(scheme).name);
  state.SetItemsProcessed(state.iterations() * weights);
}

void quantize_args(benchmark::internal::Benchmark* b) {
  b->Args({int64_t(QuantScheme::twn), 2});
  for (QuantScheme s : {QuantScheme::dorefa, QuantScheme::sym, QuantScheme::asym,
                        QuantScheme::omse, QuantScheme::squant})
    for (int64_t bits : {2, 4, 6, 8}) b->Args({int64_t(s), bits});
}
BENCHMARK(BM_quantize)->Apply(quantize_args)->Unit(benchmark::kMillisecond);

void BM_pack_unpack(benchmark::State& state) {
  const int bits = static_cast<int>(state.range(0));
  std::vector<uint8_t> codes(848944), packed(packed_bytes(codes.size(), bits)), back(codes.size());
  std::mt19937 rng(2);
  for (uint8_t& c : codes) c = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
  for (auto _ : state) {
    pack_codes(codes, bits, packed);
    unpack_codes(packed, bits, back);
    benchmark::DoNotOptimize(back.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(codes.size()));
}
BENCHMARK(BM_pack_unpack)->DenseRange(1, 8)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
