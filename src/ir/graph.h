// The model IR every part of dfmpc works on. Only src/onnx/ converts to and from protobuf.
// Values are named; a node reads and writes values by name; constants live in
// `initializers`. Nodes are kept in topological order.
#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "ir/tensor.h"

namespace dfmpc {

// Thrown for anything wrong with a model (unsupported op, bad attribute, shape mismatch).
// The message is one line naming the problem and the node.
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, Tensor>;

struct Node {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, AttrValue> attrs;

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t attr_i(const std::string& a, int64_t def) const;
  float attr_f(const std::string& a, float def) const;
  std::string attr_s(const std::string& a, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& a, std::vector<int64_t> def = {}) const;
  const Tensor& attr_t(const std::string& a) const;
  std::string where() const { return "node '" + name + "' (" + op + ")"; }
};

struct ValueInfo {
  std::string name;
  Shape shape;  // -1 for a dynamic dimension (e.g. the batch)
};

struct Graph {
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;
  std::vector<ValueInfo> inputs;   // real inputs only (initializers excluded)
  std::vector<ValueInfo> outputs;
  int64_t opset = 13;
  std::string producer;

  bool is_const(const std::string& v) const { return initializers.count(v) != 0; }
  const Tensor& constant(const std::string& v) const;
  Tensor& constant(const std::string& v);
  // Index of the node producing `v`, or -1 (graph input / initializer).
  int producer_of(const std::string& v) const;
  // Indices of the nodes reading `v`.
  std::vector<int> consumers_of(const std::string& v) const;
  bool is_graph_output(const std::string& v) const;
  // Drops initializers nobody reads and nodes whose outputs nobody needs.
  void prune();
  // Number of FP32 parameters held in initializers read by `node`.
  int64_t param_count(const Node& node) const;
};

}  // namespace dfmpc
