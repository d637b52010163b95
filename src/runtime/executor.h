// Runs an IR graph on batches of NCHW float images.
//
// Two modes: `reference` executes every node with its plain reference implementation (the
// ground truth in tests); the default fast mode folds BatchNormalization into the preceding
// Conv, fuses ReLU/Clip and residual Adds into it, and runs convolutions with oneDNN.
// Intermediate buffers are assigned by liveness and reused across calls.
#pragma once
#include <memory>

#include "ir/graph.h"

namespace dfmpc {

struct ExecOptions {
  bool reference = false;
  int threads = 0;  // 0 = library default (all cores)
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

  struct Impl;  // opaque

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dfmpc
