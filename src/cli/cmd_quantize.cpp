// dfmpc quantize MODEL -o OUT --bits LOW/HIGH ...: data-free quantization (no data argument).
#include <fmt/format.h>

#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <limits>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/model_loader.h"
#include "export/packed_model.h"
#include "export/qdq_model.h"
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
  std::string weights = "qdq";
};

// What the user gets, in bytes.
struct SizeReport {
  int64_t onnx = 0;         // the -o file
  int64_t packed = 0;       // the .dfmpc file (written with --packed, else computed)
  bool packed_written = false;
  std::map<std::string, std::string> container;  // weight -> "INT4", ..., "FLOAT" (--weights float: FP32)
  std::vector<std::string> notes;                 // weights that stayed FP32 in a QDQ file, and why
};

int64_t file_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(n);
}

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
                           const SizeReport& sizes, const IoSeconds& io) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : m.report.layers) {
    nlohmann::json j{{"node", l.node}, {"role", l.role}, {"scheme", l.scheme}, {"bits", l.bits},
                     {"params", l.params}, {"groups", l.groups}, {"scale_min", l.scale_min},
                     {"scale_max", l.scale_max}, {"rel_error", l.rel_error},
                     {"container", sizes.container.count(l.weight) ? sizes.container.at(l.weight) : "FLOAT"}};
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
                   {"weights", f.weights},
                   {"sizes", {{"onnx_bytes", sizes.onnx}, {"packed_bytes", sizes.packed},
                              {"packed_written", sizes.packed_written},
                              {"true_width_bytes", m.report.quantized_bytes}, {"fp32_bytes", m.report.fp32_bytes}}},
                   {"layers", layers}};
  if (!sizes.notes.empty()) r["kept_fp32"] = sizes.notes;
  if (sizes.packed_written) r["packed"] = {{"file", f.packed}, {"bytes", sizes.packed}};
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
  SizeReport sizes;
  if (f.weights == "float") {
    export_onnx(m.graph, f.out);
  } else {
    for (const auto& l : write_qdq_onnx(m, f.out).layers) {
      sizes.container[l.weight] = l.container;
      if (!l.note.empty()) sizes.notes.push_back(l.note);
    }
  }
  sizes.onnx = file_bytes(f.out);
  if (!f.packed.empty()) {
    sizes.packed = write_packed_model(m, f.packed);
    sizes.packed_written = true;
  }
  io.write = seconds_since(t0);
  if (!sizes.packed_written) sizes.packed = packed_model_size(m);
  if (f.json) {
    fmt::print("{}\n", report_json(f, cfg, m, sizes, io).dump());
    return;
  }
  print_pairing(g);
  fmt::print("\n{:<42} {:<5} {:<7} {:>4} {:<6} {:>8} {:>9} {:>22}\n", "layer", "role", "scheme", "bits", "stored", "params",
             "rel.err", "c min/mean/max");
  for (const auto& l : m.report.layers)
    fmt::print("{:<42} {:<5} {:<7} {:>4} {:<6} {:>8} {:>9.4f} {:>22}\n", l.node, l.role, l.scheme, l.bits,
               sizes.container.count(l.weight) ? sizes.container.at(l.weight) : "FLOAT", l.params, l.rel_error,
               l.compensated ? fmt::format("{:.3f}/{:.3f}/{:.3f}", l.c_min, l.c_mean, l.c_max) : "");
  fmt::print("\nmethod {} (quantizer {} per {}, compensation {}) bits {}/{} edge {} stats {}: {:.3f} MB -> {:.3f} MB at true bit widths, {:.1f} ms\n",
             method_name(cfg.method), cfg.quantizer, cfg.granularity == Granularity::per_channel ? "channel" : "tensor",
             cfg.method == Method::dfmpc && *cfg.compensate ? "eq27" : "off", cfg.low_bits, cfg.high_bits, cfg.edge_bits, cfg.stats, m.report.fp32_bytes / 1e6,
             m.report.quantized_bytes / 1e6, m.report.seconds * 1e3);
  fmt::print("wrote {} ({}; load {:.1f} ms, write {:.1f} ms)\n", f.out,
             f.weights == "float" ? fmt::format("FP32 weights, opset {}", m.graph.opset) : "QDQ integer weights, opset 21",
             io.load * 1e3, io.write * 1e3);
  if (sizes.packed_written) fmt::print("wrote {}\n", f.packed);
  fmt::print("size: ONNX file {:.3f} MB | packed .dfmpc {:.3f} MB{} | true bit widths {:.3f} MB | FP32 {:.3f} MB\n",
             sizes.onnx / 1e6, sizes.packed / 1e6, sizes.packed_written ? "" : " (not written)",
             m.report.quantized_bytes / 1e6, m.report.fp32_bytes / 1e6);
  for (const auto& n : sizes.notes) fmt::print("kept FP32: {}\n", n);
}
}  // namespace

void register_quantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a model's weights without data (DF-MPC and baselines)");
  cmd->add_option("model", f->model, "Input model (.onnx)")->required();
  cmd->add_option("-o,--output", f->out, "Output ONNX file (see --weights)")->required();
  cmd->add_option("--weights", f->weights,
                 "How -o stores quantized weights: qdq = integer codes (INT4/UINT4 up to 4 bits, INT8/UINT8 up to 8, "
                 "INT16 for an 8-bit half-integer grid) -> DequantizeLinear, opset 21 (ONNX Runtime >= 1.20); "
                 "float = FP32 values exactly on their grids at the input's opset, for tools without opset 21")
      ->check(CLI::IsMember({"qdq", "float"}))
      ->capture_default_str();
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
