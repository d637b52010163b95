// dfmpc bench: accuracy sweeps in the paper's table form (method, W-bit, size, top-1, time),
// written as markdown. Data is loaded once and every configuration is evaluated in-process.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>

#include "cli/cli_common.h"
#include "cli/model_loader.h"
#include "eval/evaluate.h"
#include "ir/file_util.h"
#include "quant/pipeline.h"

namespace dfmpc::cli {

namespace {

struct Row {
  std::string label;  // what the row shows
  QuantizeConfig cfg;
  bool fp32 = false;
};

QuantizeConfig make(Method m, int low, int high, const std::string& stats, std::optional<Granularity> g = Granularity::per_tensor,
                    bool compensate = true) {
  QuantizeConfig c;
  c.compensate = compensate;
  c.method = m;
  c.low_bits = low;
  c.high_bits = high;
  c.stats = stats;
  c.granularity = g;
  if (m == Method::none || m == Method::dfmpc) c.quantizer = "paper";  // the paper's TWN / DoReFa
  return c;
}

QuantizeConfig dfmpc_default(int low, int high) {
  QuantizeConfig c;
  c.low_bits = low;
  c.high_bits = high;
  return resolve_defaults(c);
}

std::vector<Row> suite_rows(const std::string& suite) {
  std::vector<Row> rows;
  const std::vector<std::pair<int, int>> mp = {{2, 6}, {3, 6}, {4, 6}, {6, 6}};
  if (suite == "demo") {
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : {std::pair{2, 6}, std::pair{3, 6}, std::pair{6, 6}}) {
      rows.push_back({"Original", make(Method::none, lo, hi, "keep")});
      rows.push_back({"DF-MPC literal (Eq. 27)", make(Method::dfmpc, lo, hi, "keep")});
      rows.push_back({"dfmpc default", dfmpc_default(lo, hi)});
    }
  } else if (suite == "crosscheck") {
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : mp) {
      rows.push_back({"Original", make(Method::none, lo, hi, "keep")});
      rows.push_back({"DF-MPC literal", make(Method::dfmpc, lo, hi, "keep")});
    }
  } else if (suite == "ablation") {
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : mp) {
      rows.push_back({"Original", make(Method::none, lo, hi, "keep")});
      rows.push_back({"DF-MPC literal", make(Method::dfmpc, lo, hi, "keep")});
      rows.push_back({"+ mean repair", make(Method::none, lo, hi, "mean")});
      rows.push_back({"+ variance repair", make(Method::none, lo, hi, "ratio")});
      rows.push_back({"+ c with repaired stats", make(Method::dfmpc, lo, hi, "ratio")});
      rows.push_back({"+ c, fitted covariance stats", make(Method::dfmpc, lo, hi, "fitted")});
      rows.push_back({"fitted covariance stats, no c", make(Method::none, lo, hi, "fitted")});
      rows.push_back({"default dfmpc (ratio, no c)", dfmpc_default(lo, hi)});
    }
  } else if (suite == "methods") {
    rows.push_back({"FP32", {}, true});
    for (int b : {8, 6, 4}) {
      for (Granularity g : {Granularity::per_tensor, Granularity::per_channel}) {
        const std::string gs = g == Granularity::per_tensor ? " per-tensor" : " per-channel";
        rows.push_back({"rtn" + gs, make(Method::rtn, b, b, "keep", g)});
        rows.push_back({"omse" + gs, make(Method::omse, b, b, "keep", g)});
      }
      rows.push_back({"squant per-channel", make(Method::squant, b, b, "keep", Granularity::per_channel)});
      rows.push_back({"dfq per-tensor", make(Method::dfq, b, b, default_stats_mode(Method::dfq))});
      rows.push_back({"dfmpc", dfmpc_default(b, b)});
    }
    for (auto [lo, hi] : {std::pair{2, 6}, std::pair{3, 6}}) {
      rows.push_back({"Original", make(Method::none, lo, hi, "keep")});
      rows.push_back({"rtn per-channel", make(Method::rtn, lo, hi, "keep", Granularity::per_channel)});
      rows.push_back({"squant per-channel", make(Method::squant, lo, hi, "keep", Granularity::per_channel)});
      rows.push_back({"dfmpc", dfmpc_default(lo, hi)});
    }
  } else {
    throw CLI::ValidationError("--suite", "unknown suite '" + suite + "' (demo, crosscheck, ablation, methods)");
  }
  return rows;
}

struct BenchFlags {
  std::vector<std::string> models;
  DataFlags data;
  std::string suite = "crosscheck", out;
  int threads = 0;
};

void run_bench(const BenchFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  const Dataset d = load_data(f.data);
  EvalOptions eo;
  eo.norm = normalization(f.data);
  eo.threads = f.threads;
  std::string md;
  const auto rows = suite_rows(f.suite);
  for (const auto& path : f.models) {
    const Graph g = load_model(path);
    const std::string name = std::filesystem::path(path).stem().string();
    md += fmt::format("\n### {}\n\n| setting | method | W-bit | size (MB) | top-1 (%) | drop | quant. time (ms) |\n|---|---|---|---|---|---|---|\n", name);
    double fp_top1 = 0;
    std::string setting;
    for (const Row& row : rows) {
      std::string line;
      try {
        if (row.fp32) {
          const EvalResult r = evaluate(g, d, eo);
          fp_top1 = r.top1();
          int64_t bytes = 0;
          for (const auto& [k, t] : g.initializers) bytes += t.is_f32() ? t.numel() * 4 : 0;
          line = fmt::format("| FP32 | FP32 | 32 | {:.3f} | {:.2f} | 0.00 | - |", bytes / 1e6, fp_top1);
        } else {
          const QuantizedModel m = quantize_model(g, row.cfg);
          const EvalResult r = evaluate(m.graph, d, eo);
          const auto& c = row.cfg;
          const std::string bits = c.low_bits == c.high_bits ? fmt::format("W{}", c.low_bits) : fmt::format("MP{}/{}", c.low_bits, c.high_bits);
          line = fmt::format("| {} | {} (stats {}) | {} | {:.3f} | {:.2f} | {:+.2f} | {:.1f} |", bits, row.label, c.stats, bits,
                             m.report.quantized_bytes / 1e6, r.top1(), r.top1() - fp_top1, m.report.seconds * 1e3);
        }
      } catch (const std::exception& e) {
        line = fmt::format("| - | {} | - | - | n/a: {} | - | - |", row.label, e.what());
      }
      md += line + "\n";
      fmt::print(stderr, "{} {}\n", name, line);
    }
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string header = fmt::format(
      "## Suite `{}` on {} images of `{}`\n\nGenerated by `dfmpc bench --suite {} --data {} --format {} ...` in {:.0f} s "
      "(weights quantized, activations FP32; edge layers {} bit; size = weights at their bit widths + "
      "per-group scale/zero + other parameters as FP32).\n",
      f.suite, d.count, f.data.data, f.suite, f.data.data, f.data.format.empty() ? "cifar10" : f.data.format, total,
      QuantizeConfig{}.edge_bits);
  if (f.out.empty()) fmt::print("{}{}", header, md);
  else write_file_atomic(f.out, header + md);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  auto* cmd = app.add_subcommand("bench", "Accuracy sweeps of quantization methods, written as markdown tables");
  cmd->add_option("models", f->models, "Models (.onnx)")->required();
  add_data_flags(*cmd, f->data, true);
  cmd->add_option("--suite", f->suite, "demo, crosscheck (paper's literal reading), ablation (statistics repair), methods (baselines)")
      ->capture_default_str();
  cmd->add_option("-o,--output", f->out, "Markdown file to write (default: stdout)");
  cmd->add_option("--threads", f->threads, "Threads (0 = all cores)");
  cmd->callback([f] { run_bench(*f); });
}

}  // namespace dfmpc::cli
