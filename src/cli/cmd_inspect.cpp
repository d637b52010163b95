// dfmpc inspect MODEL: layers, shapes, parameter counts and the compensable chains.
#include <fmt/format.h>

#include "cli/cli_common.h"
#include "cli/model_loader.h"
#include "passes/pairing.h"
#include "passes/strip_qdq.h"
#include "runtime/shape_inference.h"

namespace dfmpc::cli {

void print_pairing(const Graph& g) {
  const PairingPlan plan = find_pairs(g);
  fmt::print("\nDF-MPC pairs (conv -> BN -> ReLU -> conv; low bits, then high bits): {}\n", plan.pairs.size());
  for (const auto& p : plan.pairs)
    fmt::print("  low  {:<40} -> {}{}ReLU -> high {}\n", g.nodes[p.low].name,
               p.bn >= 0 ? g.nodes[p.bn].op : std::string("bias"), " -> ", g.nodes[p.high].name);
  fmt::print("edge layers (--edge-bits): {}\n", plan.edge_layers.size());
  for (size_t k = 0; k < plan.edge_layers.size(); ++k)
    fmt::print("  {:<45} {}\n", g.nodes[plan.edge_layers[k]].name, plan.edge_reasons[k]);
}

namespace {
void run_inspect(const std::string& path) {
  const Graph g = load_model(path);
  const auto shapes = infer_shapes(g, 1);
  int64_t total = 0;
  fmt::print("{:<44} {:<20} {:<18} {:>10}\n", "node", "op", "output (N=1)", "params");
  for (const auto& n : g.nodes) {
    const int64_t p = g.param_count(n);
    total += p;
    const auto it = shapes.find(n.outputs.at(0));
    fmt::print("{:<44} {:<20} {:<18} {:>10}\n", n.name, n.op, it == shapes.end() ? "?" : shape_str(it->second), p);
  }
  fmt::print("{} nodes, {} parameters ({:.3f} MB as FP32)\n", g.nodes.size(), total,
             static_cast<double>(total) * 4 / 1e6);
  Graph weights_only = g;  // what `quantize` works on
  if (const int pairs = strip_activation_qdq(weights_only))
    fmt::print("{} QuantizeLinear/DequantizeLinear pairs on activations (quantize drops them; pairs below without them)\n",
               pairs);
  print_pairing(weights_only);
}
}  // namespace

void register_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "List layers, shapes, parameter counts and conv->BN->ReLU->conv chains");
  cmd->add_option("model", *path, "Model (.onnx)")->required();
  cmd->callback([path] { run_inspect(*path); });
}

}  // namespace dfmpc::cli
