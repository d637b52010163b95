// The quantize pipeline: pairing plan -> bit plan -> weight quantizers -> statistics repair
// -> DF-MPC compensation. Data-free: it reads the model and nothing else.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/quantizers/quant_scheme.h"
#include "quant/stats/repair.h"

namespace dfmpc {

enum class Method { none, dfmpc, rtn, omse, squant, dfq };
Method method_from_name(const std::string& name);  // throws std::invalid_argument
const char* method_name(Method m);

struct QuantizeConfig {
  Method method = Method::dfmpc;
  int low_bits = 2, high_bits = 6;  // pair layers; equal for a uniform bit width
  int edge_bits = 8;                // every weight layer outside a pair
  std::optional<Granularity> granularity;  // unset: default_granularity(method)
  // Weight grid of every quantized layer: "auto" (the method's own, default_quantizer()),
  // "paper" (TWN at 2 bits, DoReFa above), "mse" (dorefa_mse at every width),
  // or one scheme name of the registry (quant_scheme.h) for every layer.
  std::string quantizer = "auto";
  // Fold BN, cross-layer equalisation and high-bias absorption before quantizing (DFQ's
  // function-preserving preparation); unset: only for --method dfq.
  std::optional<bool> equalize;
  bool asymmetric = false;  // rtn: asymmetric min/max grid instead of symmetric
  double lambda1 = 0.5, lambda2 = 0.0;
  // BN statistics of the quantized model (repair.h); unset: default_stats_mode(method).
  std::optional<StatsRepair> stats;
  // dfmpc: fold the Eq. 27 coefficients c_j (false: pairing + statistics only); unset:
  // kDefaultCompensation.
  std::optional<bool> compensate;
};

struct LayerReport {
  std::string node, weight, role, scheme;  // role: low | high | edge
  int bits = 0;
  int64_t params = 0;
  int64_t groups = 0;
  double scale_min = 0, scale_max = 0;
  double rel_error = 0;                  // ||W^ - W|| / ||W||
  double c_min = 0, c_mean = 0, c_max = 0;  // compensation of a low layer's channels
  std::vector<double> c;                     // per channel
  std::string partner;                       // the high layer a low layer is paired with
  bool compensated = false;
};

struct QuantizeReport {
  std::vector<LayerReport> layers;
  int pairs = 0;
  double seconds = 0;
  int64_t fp32_bytes = 0;       // every parameter as FP32
  int64_t quantized_bytes = 0;  // weights at their bit widths + scales + other params as FP32
};

struct QuantizedModel {
  Graph graph;  // dequantized float weights, exactly on their grids
  std::map<std::string, QuantizedTensor> weights;  // by initializer name
  QuantizeReport report;
};

// The statistics mode a method uses unless told otherwise (docs/decisions.md section 6);
// bn_model: the model keeps BatchNormalization nodes (false: BN folded into the convs).
StatsRepair default_stats_mode(Method m, bool bn_model = true);
// The weight grid and scale granularity a method uses unless told otherwise
// (docs/decisions.md section 3).
std::string default_quantizer(Method m);
Granularity default_granularity(Method m);
// Whether dfmpc folds Eq. 27's c by default (docs/decisions.md section 6).
constexpr bool kDefaultCompensation = false;

// The weight format a layer of `bits` gets under cfg.quantizer (the aliases paper / mse / rtn
// or a registry name; not "auto"). Throws std::invalid_argument on an unknown name.
QuantScheme scheme_for(const QuantizeConfig& cfg, int bits);
// Throws std::invalid_argument naming the problem when cfg.quantizer is unknown or cannot
// produce one of cfg's bit widths; "auto" always passes.
void check_quantizer(const QuantizeConfig& cfg);

// cfg with every "auto" / unset field replaced by the method's default for this model.
QuantizeConfig resolve_defaults(QuantizeConfig cfg, const Graph& model);

QuantizedModel quantize_model(const Graph& fp, const QuantizeConfig& cfg);

// Bytes of a quantized tensor at its true bit width plus its per-group scale and zero.
int64_t quantized_tensor_bytes(const QuantizedTensor& t);

}  // namespace dfmpc
