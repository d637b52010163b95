#include "eval/evaluate.h"

#include <algorithm>
#include <chrono>

#include "runtime/executor.h"

namespace dfmpc {
namespace {

void check_input(const Executor& ex, const Dataset& data) {
  const Shape& s = ex.input_shape();
  const Shape want{data.channels, data.height, data.width};
  if (s.size() != 4 || Shape(s.begin() + 1, s.end()) != want)
    throw ModelError("model input shape " + shape_str(s) + " does not match the data's images " +
                     shape_str(want) + " (C,H,W)");
}

// Runs the model over [0, limit) in batches, calling sink(first_image, logits [n, classes]).
template <class Sink>
double run_batches(const Graph& model, const Dataset& data, int64_t limit, const EvalOptions& opt, Sink sink,
                   EvalResult* r = nullptr) {
  Executor ex(model, ExecOptions{opt.reference, opt.threads, opt.packed_weights});
  if (r) r->weight_bytes = ex.weight_bytes(), r->packed_convs = ex.packed_conv_count();
  check_input(ex, data);
  const int64_t batch = std::max<int64_t>(1, opt.batch);
  std::vector<float> input(static_cast<size_t>(batch * data.image_size()));
  double seconds = 0;
  for (int64_t first = 0; first < limit; first += batch) {
    const int64_t n = std::min(batch, limit - first);
    normalize_batch(data, first, n, opt.norm, input.data());
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor& logits = ex.run(input.data(), n);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (logits.shape.size() != 2 || logits.shape[0] != n)
      throw ModelError("model output has shape " + shape_str(logits.shape) + ", expected [" +
                       std::to_string(n) + ", classes]");
    sink(first, logits);
    if (opt.progress) opt.progress(first + n, limit);
  }
  return seconds;
}

}  // namespace

EvalResult evaluate(const Graph& model, const Dataset& data, const EvalOptions& opt) {
  EvalResult r;
  r.images = data.count;
  r.seconds = run_batches(model, data, data.count, opt, [&](int64_t first, const Tensor& logits) {
    const int64_t classes = logits.shape[1];
    for (int64_t i = 0; i < logits.shape[0]; ++i) {
      const float* row = logits.f.data() + i * classes;
      const int32_t label = data.labels[first + i];
      if (label < 0 || label >= classes)
        throw ModelError("label " + std::to_string(label) + " of image " + std::to_string(first + i) +
                         " is outside the model's " + std::to_string(classes) + " classes");
      // Rank of the true class: how many classes score strictly higher (ties favour the label
      // only when it comes first, as argmax does).
      int64_t rank = 0;
      for (int64_t c = 0; c < classes; ++c)
        if (row[c] > row[label] || (row[c] == row[label] && c < label)) ++rank;
      r.top1_correct += rank == 0;
      r.top5_correct += rank < 5;
    }
  }, &r);
  return r;
}

std::vector<float> infer_logits(const Graph& model, const Dataset& data, int64_t n, const EvalOptions& opt) {
  n = std::min(n, data.count);
  std::vector<float> out;
  run_batches(model, data, n, opt, [&](int64_t, const Tensor& logits) {
    out.insert(out.end(), logits.f.begin(), logits.f.end());
  });
  return out;
}

}  // namespace dfmpc
