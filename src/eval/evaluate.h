// Top-1 / top-5 accuracy of a model on a labelled dataset, batched.
#pragma once
#include <functional>
#include <memory>

#include "data/dataset.h"
#include "ir/graph.h"
#include "runtime/packed_weights.h"

namespace dfmpc {

struct EvalOptions {
  int64_t batch = 100;
  int threads = 0;
  bool reference = false;  // run every op with its reference implementation
  Normalization norm;
  // Low-bit execution (ExecOptions::packed_weights): the model's placeholders' packed codes.
  std::shared_ptr<const PackedWeights> packed_weights = nullptr;
  // Called after every batch with (images done, images total).
  std::function<void(int64_t, int64_t)> progress;
};

struct EvalResult {
  int64_t images = 0;
  int64_t top1_correct = 0;
  int64_t top5_correct = 0;
  double seconds = 0;  // inference time, excluding data loading
  int64_t weight_bytes = 0;  // parameters held by the executor (Executor::weight_bytes)
  int packed_convs = 0;      // convolutions run from packed low-bit codes
  double top1() const { return images ? 100.0 * static_cast<double>(top1_correct) / static_cast<double>(images) : 0.0; }
  double top5() const { return images ? 100.0 * static_cast<double>(top5_correct) / static_cast<double>(images) : 0.0; }
  double images_per_second() const { return seconds > 0 ? static_cast<double>(images) / seconds : 0.0; }
};

// Throws ModelError when the model's input shape does not match the data's images.
EvalResult evaluate(const Graph& model, const Dataset& data, const EvalOptions& opt);

// Logits of the first n images (for reference comparisons), row-major [n, classes].
std::vector<float> infer_logits(const Graph& model, const Dataset& data, int64_t n,
                                const EvalOptions& opt);

}  // namespace dfmpc
