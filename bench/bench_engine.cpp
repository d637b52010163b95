// End-to-end FP32 inference throughput of the dfmpc engine (Executor::run, fast path) on the
// shared CIFAR-10 ResNets, to compare with bench/ort/speed.mjs (ONNX Runtime) on the same
// machine. Args: {model, batch, threads}; model 0 = resnet56 folded, 1 = resnet56 with BN,
// 2 = resnet20 folded. Counters: img/s (wall) and img/cpu-s (process CPU time, all threads:
// steadier than wall time on a loaded machine, but it also counts spin-waiting).
//
// Models come from $DFMPC_SHARED/models (default: ../shared beside the source tree). Inputs
// are deterministic pseudo-random values: the engine's speed does not depend on them.
// BM_EngineSetup times construction + first run (weight transforms, kernel creation).
#include <benchmark/benchmark.h>
#include <time.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "onnx/onnx_io.h"
#include "runtime/executor.h"

namespace {

using namespace dfmpc;

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("DFMPC_SHARED")) return env;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
}

const char* kModels[] = {"resnet56_cifar10_folded", "resnet56_cifar10_bn", "resnet20_cifar10_folded"};

const Graph* model(int64_t k) {
  static std::unique_ptr<Graph> cache[3];
  if (!cache[k]) {
    const auto p = shared_dir() / "models" / (std::string(kModels[k]) + ".onnx");
    if (!std::filesystem::exists(p)) return nullptr;
    cache[k] = std::make_unique<Graph>(import_onnx(p.string()));
  }
  return cache[k].get();
}

std::vector<float> input(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n * 3 * 32 * 32));
  uint32_t s = 12345;
  for (auto& v : x) {
    s = s * 1103515245u + 12345u;
    v = static_cast<float>(s) / 4294967296.0f * 4.0f - 2.0f;
  }
  return x;
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void BM_Engine(benchmark::State& st) {
  const Graph* g = model(st.range(0));
  if (!g) {
    st.SkipWithError("shared models not found (set DFMPC_SHARED)");
    return;
  }
  const int64_t n = st.range(1);
  Executor ex(*g, ExecOptions{false, static_cast<int>(st.range(2))});
  const auto x = input(n);
  for (int k = 0; k < 2; ++k) ex.run(x.data(), n);  // warm-up: kernels, buffers
  const double cpu0 = process_cpu_seconds();
  for (auto _ : st) benchmark::DoNotOptimize(ex.run(x.data(), n).f.data());
  const double cpu = process_cpu_seconds() - cpu0;
  const double images = double(st.iterations()) * double(n);
  st.counters["img/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  st.counters["img/cpu-s"] = images / cpu;
  st.SetLabel(kModels[st.range(0)]);
}

void BM_EngineSetup(benchmark::State& st) {
  const Graph* g = model(0);
  if (!g) {
    st.SkipWithError("shared models not found (set DFMPC_SHARED)");
    return;
  }
  const int64_t n = st.range(0);
  const auto x = input(n);
  for (auto _ : st) {
    Executor ex(*g, ExecOptions{false, 2});
    benchmark::DoNotOptimize(ex.run(x.data(), n).f.data());
  }
}

void EngineArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"model", "batch", "threads"});
  for (int64_t m : {0, 1})
    for (int64_t batch : {1, 100})
      for (int64_t threads : {1, 2}) b->Args({m, batch, threads});
  b->Args({2, 100, 2});
}

BENCHMARK(BM_Engine)->Apply(EngineArgs)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_EngineSetup)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
