// dfmpc eval MODEL --data PATH ...: top-1 / top-5 accuracy and throughput.
#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "eval/evaluate.h"
#include "cli/model_loader.h"

namespace dfmpc::cli {

namespace {
struct EvalFlags {
  std::string model;
  DataFlags data;
  int64_t batch = 100;
  int threads = 0;
  bool json = false, reference = false, packed_weights = false;
};

void run_eval(const EvalFlags& f) {
  LowBitModelFile m;
  if (f.packed_weights) m = load_model_packed_weights(f.model);
  else m.graph = load_model(f.model);
  const Graph& g = m.graph;
  const Dataset d = load_data(f.data);
  EvalOptions opt;
  opt.packed_weights = std::move(m.packed_weights);
  opt.batch = f.batch;
  opt.threads = f.threads;
  opt.reference = f.reference;
  opt.norm = normalization(f.data);
  Progress bar("eval");
  opt.progress = [&](int64_t done, int64_t total) { bar(done, total); };
  const EvalResult r = evaluate(g, d, opt);
  if (f.json) {
    nlohmann::json j{{"model", f.model}, {"top1", r.top1()}, {"top5", r.top5()}, {"images", r.images},
                     {"seconds", r.seconds}, {"images_per_second", r.images_per_second()},
                     {"batch", f.batch}, {"reference", f.reference}, {"packed_weights", f.packed_weights},
                     {"packed_convs", r.packed_convs}, {"executor_weight_bytes", r.weight_bytes}};
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("model     {}\nimages    {}\ntop-1     {:.2f} %\ntop-5     {:.2f} %\nspeed     {:.0f} images/s ({:.2f} s, batch {})\n",
               f.model, r.images, r.top1(), r.top5(), r.images_per_second(), r.seconds, f.batch);
    fmt::print("weights   {:.1f} KiB held by the executor{}\n", r.weight_bytes / 1024.0,
               f.packed_weights ? fmt::format(", {} convolutions from packed codes", r.packed_convs) : "");
  }
}
}  // namespace

void register_eval(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  auto* cmd = app.add_subcommand("eval", "Measure top-1 / top-5 accuracy and images/s of a model on a dataset");
  cmd->add_option("model", f->model, "Model: .onnx or packed .dfmpc file")->required();
  add_data_flags(*cmd, f->data, true);
  cmd->add_option("--batch", f->batch, "Images per batch")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", f->threads, "Threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", f->json, "Print one JSON object on stdout");
  cmd->add_flag("--reference", f->reference, "Run the slow reference implementation of every op");
  cmd->add_flag("--packed-weights", f->packed_weights,
                "Packed .dfmpc model: run quantized convolutions from their low-bit codes (no FP32 weight copy)");
  cmd->callback([f] { run_eval(*f); });
}

}  // namespace dfmpc::cli
