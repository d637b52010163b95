// dfmpc bench: accuracy sweeps in the paper's table form (method, W-bit, size, top-1, time),
// written as markdown. Data is loaded once and every configuration is evaluated in-process.
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include "cli/cli_common.h"
#include "cli/model_loader.h"
#include "eval/evaluate.h"
#include "ir/file_util.h"
#include "export/packed_model.h"
#include "quant/pipeline.h"

namespace dfmpc::cli {

namespace {

struct Row {
  std::string label;  // what the row shows
  QuantizeConfig cfg;
  bool fp32 = false;
};

QuantizeConfig make(Method m, int low, int high, StatsRepair stats, std::optional<Granularity> g = Granularity::per_tensor,
                    bool compensate = false) {
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

QuantizeConfig dfmpc_default(int low, int high) {  // resolved per model by quantize_model
  QuantizeConfig c;
  c.low_bits = low;
  c.high_bits = high;
  return c;
}

QuantizeConfig with(QuantizeConfig c, const std::function<void(QuantizeConfig&)>& edit) {
  edit(c);
  return c;
}

// The variance repair of the default on BN models, for the ablation's "paper quantizers"
// steps (shown on BN-folded models too, where the default is the mean repair alone).
StatsRepair default_variance_mode() { return default_stats_mode(Method::dfmpc, true); }

std::vector<Row> suite_rows(const std::string& suite) {
  std::vector<Row> rows;
  const std::vector<std::pair<int, int>> mp = {{2, 6}, {3, 6}, {4, 6}, {6, 6}};
  constexpr auto pc = Granularity::per_channel;
  if (suite == "demo") {
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : {std::pair{2, 6}, std::pair{3, 6}, std::pair{6, 6}}) {
      rows.push_back({"Original", make(Method::none, lo, hi, StatsRepair::keep)});
      rows.push_back({"DF-MPC literal (Eq. 27)", make(Method::dfmpc, lo, hi, StatsRepair::keep, Granularity::per_tensor, true)});
      rows.push_back({"dfmpc default", dfmpc_default(lo, hi)});
    }
  } else if (suite == "crosscheck") {
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : mp) {
      rows.push_back({"Original", make(Method::none, lo, hi, StatsRepair::keep)});
      rows.push_back({"DF-MPC literal", make(Method::dfmpc, lo, hi, StatsRepair::keep, Granularity::per_tensor, true)});
    }
  } else if (suite == "ablation") {
    // Each step adds one thing to the one above (docs/decisions.md section 6).
    const StatsRepair v = default_variance_mode();
    rows.push_back({"FP32", {}, true});
    for (auto [lo, hi] : mp) {
      rows.push_back({"Original", make(Method::none, lo, hi, StatsRepair::keep)});
      rows.push_back({"DF-MPC literal (Eq. 27 c)", make(Method::dfmpc, lo, hi, StatsRepair::keep, Granularity::per_tensor, true)});
      rows.push_back({"pairing + mean repair", make(Method::dfmpc, lo, hi, StatsRepair::mean)});
      rows.push_back({"+ variance repair", make(Method::dfmpc, lo, hi, v)});
      rows.push_back({"+ Eq. 27 c with repaired stats", make(Method::dfmpc, lo, hi, v, Granularity::per_tensor, true)});
      rows.push_back({"+ least-squares grid per channel", with(dfmpc_default(lo, hi), [](QuantizeConfig& c) { c.quantizer = "mse"; })});
      rows.push_back({"+ SQuant rounding per channel (default)", dfmpc_default(lo, hi)});
      rows.push_back({"default + Eq. 27 c", with(dfmpc_default(lo, hi), [](QuantizeConfig& c) { c.compensate = true; })});
    }
  } else if (suite == "methods") {
    rows.push_back({"FP32", {}, true});
    auto compositions = [&](int lo, int hi) {
      rows.push_back({"dfmpc, least-squares grid", with(dfmpc_default(lo, hi), [](QuantizeConfig& c) { c.quantizer = "mse"; })});
      rows.push_back({"dfmpc + CLE before pairing", with(dfmpc_default(lo, hi), [](QuantizeConfig& c) { c.equalize = true; })});
    };
    for (int b : {8, 6, 4}) {
      for (Granularity g : {Granularity::per_tensor, pc}) {
        const std::string gs = g == Granularity::per_tensor ? " per-tensor" : " per-channel";
        rows.push_back({"rtn" + gs, make(Method::rtn, b, b, StatsRepair::keep, g)});
        rows.push_back({"omse" + gs, make(Method::omse, b, b, StatsRepair::keep, g)});
        rows.push_back({"dfq" + gs, make(Method::dfq, b, b, default_stats_mode(Method::dfq), g)});
      }
      rows.push_back({"squant per-channel", make(Method::squant, b, b, StatsRepair::keep, pc)});
      rows.push_back({"dfmpc (default)", dfmpc_default(b, b)});
      compositions(b, b);
    }
    for (auto [lo, hi] : {std::pair{2, 6}, std::pair{3, 6}}) {
      rows.push_back({"Original (paper)", make(Method::none, lo, hi, StatsRepair::keep)});
      rows.push_back({"DF-MPC literal (paper)", make(Method::dfmpc, lo, hi, StatsRepair::keep, Granularity::per_tensor, true)});
      rows.push_back({"rtn per-channel", make(Method::rtn, lo, hi, StatsRepair::keep, pc)});
      rows.push_back({"omse per-channel", make(Method::omse, lo, hi, StatsRepair::keep, pc)});
      rows.push_back({"dfq per-channel", make(Method::dfq, lo, hi, default_stats_mode(Method::dfq), pc)});
      rows.push_back({"squant per-channel", make(Method::squant, lo, hi, StatsRepair::keep, pc)});
      rows.push_back({"dfmpc (default)", dfmpc_default(lo, hi)});
      compositions(lo, hi);
    }
  } else {
    throw CLI::ValidationError("--suite", "unknown suite '" + suite + "' (demo, crosscheck, ablation, methods)");
  }
  return rows;
}

std::string bits_label(const QuantizeConfig& c) {
  return c.low_bits == c.high_bits ? fmt::format("W{}", c.low_bits) : fmt::format("MP{}/{}", c.low_bits, c.high_bits);
}

// What a row ran, in the words of the CLI flags.
std::string config_label(const QuantizeConfig& requested, const Graph& model) {
  const QuantizeConfig c = resolve_defaults(requested, model);
  std::string s = fmt::format("{} {} {} stats {}", method_name(c.method), c.quantizer,
                              *c.granularity == Granularity::per_channel ? "channel" : "tensor", stats_repair_name(*c.stats));
  if (c.method == Method::dfmpc && *c.compensate) s += " c eq27";
  if (*c.equalize && c.method != Method::dfq) s += " cle";
  return s;
}

// Bytes of the packed .dfmpc file, written to a temporary file and removed.
int64_t packed_size(const QuantizedModel& m) {
  PendingOutputs scratch;  // never committed: removed on return, on an exception and on Ctrl-C
  return write_packed_model(m, scratch.add((std::filesystem::temp_directory_path() / "dfmpc-bench.dfmpc").string()));
}

struct BenchFlags {
  std::vector<std::string> models;
  DataFlags data;
  std::string suite = "crosscheck", out, csv;
  int threads = 0;
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

void run_bench(const BenchFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  if (!f.out.empty() && f.out == f.csv) throw CLI::ValidationError("--csv", "'" + f.csv + "' is also the -o output");
  // Reserved before the (long) run, so a bad path fails now; both appear together at the end.
  PendingOutputs outputs;
  const std::string md_tmp = f.out.empty() ? std::string() : outputs.add(f.out);
  const std::string csv_tmp = f.csv.empty() ? std::string() : outputs.add(f.csv);
  const Dataset d = load_data(f.data);
  EvalOptions eo;
  eo.norm = normalization(f.data);
  eo.threads = f.threads;
  std::string md, csv = "model,row,config,bits,packed_mb,top1,drop,quant_ms\n";
  const auto rows = suite_rows(f.suite);
  for (const auto& path : f.models) {
    const Graph g = load_model(path);
    const std::string name = std::filesystem::path(path).stem().string();
    md += fmt::format("\n### {}\n\n| W-bit | method | configuration | packed size (MB) | top-1 (%) | drop | quant. time (ms) |\n"
                      "|---|---|---|---:|---:|---:|---:|\n", name);
    double fp_top1 = 0;
    for (const Row& row : rows) {
      std::string line;
      try {
        if (row.fp32) {
          const EvalResult r = evaluate(g, d, eo);
          fp_top1 = r.top1();
          const int64_t bytes = std::filesystem::file_size(path);
          line = fmt::format("| FP32 | FP32 | ONNX file | {:.3f} | {:.2f} | 0.00 | - |", bytes / 1e6, fp_top1);
          csv += fmt::format("{},FP32,FP32,32,{:.6f},{:.2f},0,0\n", csv_field(name), bytes / 1e6, fp_top1);
        } else {
          const QuantizedModel m = quantize_model(g, row.cfg);
          const EvalResult r = evaluate(m.graph, d, eo);
          const int64_t packed = packed_size(m);
          const std::string bits = bits_label(row.cfg), what = config_label(row.cfg, g);
          line = fmt::format("| {} | {} | `{}` | {:.3f} | {:.2f} | {:+.2f} | {:.1f} |", bits, row.label, what, packed / 1e6,
                             r.top1(), r.top1() - fp_top1, m.report.seconds * 1e3);
          csv += fmt::format("{},{},{},{},{:.6f},{:.2f},{:.2f},{:.2f}\n", csv_field(name), csv_field(row.label), csv_field(what),
                             bits, packed / 1e6, r.top1(), r.top1() - fp_top1, m.report.seconds * 1e3);
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
      "(weights quantized, activations FP32; edge layers {} bit; packed size = the `.dfmpc` file `--packed` writes; "
      "configuration = `--method --quantizer --granularity --stats` and c / CLE when on).\n",
      f.suite, d.count, f.data.data, f.suite, f.data.data, f.data.format.empty() ? "cifar10" : f.data.format, total,
      QuantizeConfig{}.edge_bits);
  if (f.out.empty()) fmt::print("{}{}", header, md);
  else write_file_atomic(md_tmp, header + md);
  if (!f.csv.empty()) write_file_atomic(csv_tmp, csv);
  outputs.commit();
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
  cmd->add_option("--csv", f->csv, "Also write every row as CSV (model,row,config,bits,packed_mb,top1,drop,quant_ms)");
  cmd->add_option("--threads", f->threads, "Threads (0 = all cores)");
  cmd->callback([f] { run_bench(*f); });
}

}  // namespace dfmpc::cli
