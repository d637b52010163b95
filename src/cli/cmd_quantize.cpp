// dfmpc quantize MODEL -o OUT --bits LOW/HIGH ...: data-free quantization (no data argument).
#include <fmt/format.h>

#include <malloc.h>

#include <chrono>
#include <limits>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/model_loader.h"
#include "export/packed_model.h"
#include "onnx/onnx_io.h"
#include "passes/strip_qdq.h"
#include "quant/pipeline.h"

namespace dfmpc::cli {

namespace {
struct QuantizeFlags {
  std::string model, out, packed, bits = "2/6", method = "dfmpc", stats = "auto", granularity = "auto", quantizer = "auto", compensation;
  int edge_bits = 8;
  double lambda1 = 0.5, lambda2 = 0.0;
  bool json = false, asymmetric = false;
  std::string cle = "auto";
};

void parse_bits(const std::string& s, QuantizeConfig& cfg) {
  const auto slash = s.find('/');
  try {
    size_t used = 0;
    cfg.low_bits = std::stoi(s.substr(0, slash), &used);
    if (used != (slash == std::string::npos ? s.size() : slash)) throw std::invalid_argument("");
    cfg.high_bits = slash == std::string::npos ? cfg.low_bits : std::stoi(s.substr(slash + 1), &used);
    if (slash != std::string::npos && used != s.size() - slash - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw CLI::ValidationError("--bits", "'" + s + "' is not LOW/HIGH (e.g. 2/6) or a single width (e.g. 4)");
  }
}

// Wall seconds of the steps around quantize_model() (whose own time is report.seconds).
struct IoSeconds {
  double load = 0, write = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json report_json(const QuantizeFlags& f, const QuantizeConfig& cfg, const QuantizedModel& m,
                           int64_t packed_bytes, const IoSeconds& io) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : m.report.layers) {
    nlohmann::json j{{"node", l.node}, {"role", l.role}, {"scheme", l.scheme}, {"bits", l.bits},
                     {"params", l.params}, {"groups", l.groups}, {"scale_min", l.scale_min},
                     {"scale_max", l.scale_max}, {"rel_error", l.rel_error}};
    if (l.compensated)
      j["c"] = {{"min", l.c_min}, {"mean", l.c_mean}, {"max", l.c_max}, {"values", l.c}, {"high_layer", l.partner}};
    layers.push_back(j);
  }
  nlohmann::json r{{"model", f.model}, {"output", f.out}, {"method", method_name(cfg.method)},
                   {"bits", {{"low", cfg.low_bits}, {"high", cfg.high_bits}, {"edge", cfg.edge_bits}}},
                   {"lambda1", cfg.lambda1}, {"lambda2", cfg.lambda2}, {"stats", cfg.stats},
                   {"quantizer", cfg.quantizer}, {"cle", *cfg.equalize},
                   {"granularity", cfg.granularity == Granularity::per_channel ? "channel" : "tensor"},
                   {"compensation", cfg.method == Method::dfmpc && *cfg.compensate ? "eq27" : "off"},
                   {"pairs", m.report.pairs}, {"seconds", m.report.seconds},
                   {"io_seconds", {{"load", io.load}, {"write", io.write}}},
                   {"size_mb", {{"fp32", m.report.fp32_bytes / 1e6}, {"quantized", m.report.quantized_bytes / 1e6}}},
                   {"layers", layers}};
  if (packed_bytes >= 0) r["packed"] = {{"file", f.packed}, {"bytes", packed_bytes}};
  return r;
}

// A model's tensors are allocated, freed and allocated again (import, quantize, export).
// glibc returns blocks above its mmap threshold to the kernel when they are freed, and every
// fresh page then costs a page fault (on a ResNet-50 about a third of the run): keep freed
// memory in the heap for reuse instead; the process is short-lived.
void keep_freed_memory() {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
#endif
}

void run_quantize(const QuantizeFlags& f) {
  keep_freed_memory();
  QuantizeConfig cfg;
  parse_bits(f.bits, cfg);
  cfg.method = method_from_name(f.method);
  cfg.edge_bits = f.edge_bits;
  cfg.lambda1 = f.lambda1;
  cfg.lambda2 = f.lambda2;
  cfg.stats = f.stats;
  if (!f.compensation.empty()) cfg.compensate = f.compensation == "eq27";
  if (f.granularity != "auto") cfg.granularity = f.granularity == "channel" ? Granularity::per_channel : Granularity::per_tensor;
  cfg.quantizer = f.quantizer;
  if (cfg.quantizer != "auto" && cfg.quantizer != "paper" && cfg.quantizer != "mse" && cfg.quantizer != "rtn") {
    QuantScheme scheme{};
    try {
      scheme = quant_scheme_from_name(cfg.quantizer);
    } catch (const std::invalid_argument& e) {
      throw CLI::ValidationError("--quantizer", e.what());
    }
    const auto& t = quant_scheme_traits(scheme);
    for (int b : {cfg.low_bits, cfg.high_bits, cfg.edge_bits})
      if (b < t.min_bits || b > t.max_bits)
        throw CLI::ValidationError("--quantizer", fmt::format("{} supports {}..{} bits, but --bits {} / --edge-bits {} ask for {}",
                                                             t.name, t.min_bits, t.max_bits, f.bits, cfg.edge_bits, b));
  }
  cfg.asymmetric = f.asymmetric;
  if (f.cle != "auto") cfg.equalize = f.cle == "on";
  IoSeconds io;
  auto t0 = std::chrono::steady_clock::now();
  Graph g = load_model(f.model);
  if (const int pairs = strip_activation_qdq(g))
    fmt::print(stderr, "note: {} QuantizeLinear/DequantizeLinear pairs on activations dropped (dfmpc quantizes weights only)\n", pairs);
  io.load = seconds_since(t0);
  cfg = resolve_defaults(cfg, g);
  for (int b : {cfg.low_bits, cfg.high_bits, cfg.edge_bits})
    if (b < 2 || b > 8) throw CLI::ValidationError("--bits", "bit widths must be between 2 and 8, got " + std::to_string(b));
  const QuantizedModel m = quantize_model(g, cfg);
  t0 = std::chrono::steady_clock::now();
  export_onnx(m.graph, f.out);
  int64_t packed_bytes = -1;
  if (!f.packed.empty()) packed_bytes = write_packed_model(m, f.packed);
  io.write = seconds_since(t0);
  if (f.json) {
    fmt::print("{}\n", report_json(f, cfg, m, packed_bytes, io).dump());
    return;
  }
  print_pairing(g);
  fmt::print("\n{:<42} {:<5} {:<7} {:>4} {:>8} {:>9} {:>22}\n", "layer", "role", "scheme", "bits", "params", "rel.err", "c min/mean/max");
  for (const auto& l : m.report.layers)
    fmt::print("{:<42} {:<5} {:<7} {:>4} {:>8} {:>9.4f} {:>22}\n", l.node, l.role, l.scheme, l.bits, l.params, l.rel_error,
               l.compensated ? fmt::format("{:.3f}/{:.3f}/{:.3f}", l.c_min, l.c_mean, l.c_max) : "");
  fmt::print("\nmethod {} (quantizer {} per {}, compensation {}) bits {}/{} edge {} stats {}: {:.3f} MB -> {:.3f} MB at true bit widths, {:.1f} ms\n",
             method_name(cfg.method), cfg.quantizer, cfg.granularity == Granularity::per_channel ? "channel" : "tensor",
             cfg.method == Method::dfmpc && *cfg.compensate ? "eq27" : "off", cfg.low_bits, cfg.high_bits, cfg.edge_bits, cfg.stats, m.report.fp32_bytes / 1e6,
             m.report.quantized_bytes / 1e6, m.report.seconds * 1e3);
  fmt::print("wrote {} (load {:.1f} ms, write {:.1f} ms)\n", f.out, io.load * 1e3, io.write * 1e3);
  if (packed_bytes >= 0) fmt::print("wrote {} ({} bytes)\n", f.packed, packed_bytes);
}
}  // namespace

void register_quantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a model's weights without data (DF-MPC and baselines)");
  cmd->add_option("model", f->model, "Input model (.onnx)")->required();
  cmd->add_option("-o,--output", f->out, "Output ONNX file (weights dequantized, exactly on their grids)")->required();
  cmd->add_option("--bits", f->bits, "LOW/HIGH bit widths of each pair (2/6, 3/6, ...) or one width for all")
      ->capture_default_str();
  cmd->add_option("--edge-bits", f->edge_bits, "Bits of layers outside pairs (stem, classifier, shortcuts)")
      ->capture_default_str();
  cmd->add_option("--method", f->method, "none (the paper's 'Original'), dfmpc, rtn, omse, squant, dfq")
      ->check(CLI::IsMember({"none", "dfmpc", "rtn", "omse", "squant", "dfq"}))
      ->capture_default_str();
  cmd->add_option("--lambda1", f->lambda1, "DF-MPC lambda1 (Eq. 27)")->capture_default_str();
  cmd->add_option("--lambda2", f->lambda2, "DF-MPC lambda2 (Eq. 27)")->capture_default_str();
  cmd->add_option("--stats", f->stats,
                 "BN statistics of the quantized model: keep (the paper's literal reading), mean, additive, noise, "
                 "ratio, fitted, split, joint, covariance (each optionally +mmse); auto = the method's default "
                 "(docs/decisions.md section 6)")
      ->capture_default_str();
  cmd->add_option("--compensation", f->compensation,
                 "dfmpc: eq27 folds the paper's closed-form c_j, off keeps pairing + statistics only "
                 "(default off: c lowered accuracy in every measurement, docs/decisions.md)")
      ->check(CLI::IsMember({"eq27", "off"}));
  cmd->add_option("--granularity", f->granularity,
                 "Weight scales per tensor or per output channel; auto = channel for dfmpc and squant, tensor otherwise")
      ->check(CLI::IsMember({"auto", "tensor", "channel"}))
      ->capture_default_str();
  cmd->add_option("--quantizer", f->quantizer,
                 "Weight grid: auto (the method's own), paper (TWN at 2 bits, DoReFa above), mse (least-squares "
                 "DoReFa grid at every width), rtn, or a scheme: twn, dorefa, sym, asym, omse, squant (dfmpc's default), "
                 "ternary_mse, dorefa_mse, squant_mse")
      ->capture_default_str();
  cmd->add_flag("--asymmetric", f->asymmetric, "rtn: asymmetric min/max grid");
  cmd->add_option("--cle", f->cle,
                 "Fold BN + cross-layer equalisation + high-bias absorption before quantizing (DFQ's preparation); "
                 "auto = on for dfq only")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--packed", f->packed, "Also write a packed model with codes at their true bit widths");
  cmd->add_flag("--json", f->json, "Print the report as one JSON object");
  cmd->callback([f] { run_quantize(*f); });
}

}  // namespace dfmpc::cli
