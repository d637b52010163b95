// Runs an IR graph on batches of NCHW float images.
//
// Two modes: `reference` executes every node with its plain reference implementation (the
// ground truth in tests); the default fast mode folds BatchNormalization into the preceding
// Conv, fuses ReLU/Clip and residual Adds into it, and runs convolutions with oneDNN.
// Intermediate buffers are assigned by liveness and reused across calls.
//
// Low-bit execution: with `packed_weights`, the graph holds an empty placeholder initializer
// for each packed weight, and the fast mode runs the convolutions reading them straight from
// their codes (LowBitConvKernel); packed weights of anything else (Gemm, grouped convs, the
// reference mode, DFMPC_LAYOUT=plain) are dequantized to FP32 at construction.
#pragma once
#include <memory>

#include "ir/graph.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

struct ExecOptions {
  bool reference = false;
  int threads = 0;  // 0 = library default (all cores)
  std::shared_ptr<const PackedWeights> packed_weights = nullptr;  // by initializer name
};

class Executor {
 public:
  explicit Executor(const Graph& g, ExecOptions opt = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // x holds n images of input_shape() (without the batch); returns the first graph output.
  const Tensor& run(const float* x, int64_t n);
  // The model's input shape with the batch dimension first (-1 when dynamic).
  const Shape& input_shape() const;
  // Number of execution steps after fusion (for tests and `inspect`).
  size_t step_count() const;
  // Bytes of parameters the executor holds: graph constants, packed codes still in use, and
  // the copies its steps and kernels keep (kernels built so far; the constructor's warm-up
  // builds them all for the input shape).
  int64_t weight_bytes() const;
  // Convolutions running on packed low-bit codes.
  int packed_conv_count() const;

  struct Impl;  // opaque

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dfmpc
