#include "onnx/validate_graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "runtime/ops/op_registry.h"

namespace dfmpc {
namespace {

constexpr int kMany = std::numeric_limits<int>::max();
// Window sizes, strides, dilations, pads and groups above this are not a CNN; bounding them
// keeps the output-size arithmetic of conv_geom / pool_geom far from int64 overflow.
constexpr int64_t kMaxWindow = 65536;

enum class Out { f32, same, arith, i64, cast, fill };  // how a node's outputs get their type

struct OpRule {
  int min_in, max_in, min_out, max_out;
  std::vector<int> float_in;  // inputs that must be FP32 (-1: all of them)
  std::vector<int> int_in;    // inputs that must be integer (shapes, indices, axes)
  Out out;
};

// Input counts follow the ONNX schemas for opsets 7-18; where an opset moved an attribute to
// an input (Pad 11, Slice 10, Squeeze / Unsqueeze 13, Clip 11) the rule below opset `since`
// differs (see rule_for()).
const std::map<std::string, OpRule>& rules() {
  static const std::map<std::string, OpRule> r = {
      {"Conv", {2, 3, 1, 1, {-1}, {}, Out::f32}},
      {"BatchNormalization", {5, 5, 1, 5, {-1}, {}, Out::f32}},
      {"Relu", {1, 1, 1, 1, {0}, {}, Out::f32}},
      {"Clip", {1, 3, 1, 1, {0}, {}, Out::f32}},
      {"Add", {2, 2, 1, 1, {}, {}, Out::arith}},
      {"Sub", {2, 2, 1, 1, {}, {}, Out::arith}},
      {"Mul", {2, 2, 1, 1, {}, {}, Out::arith}},
      {"Div", {2, 2, 1, 1, {}, {}, Out::arith}},
      {"Concat", {1, kMany, 1, 1, {}, {}, Out::same}},
      {"MaxPool", {1, 1, 1, 2, {0}, {}, Out::f32}},
      {"AveragePool", {1, 1, 1, 1, {0}, {}, Out::f32}},
      {"GlobalAveragePool", {1, 1, 1, 1, {0}, {}, Out::f32}},
      {"Flatten", {1, 1, 1, 1, {}, {}, Out::same}},
      {"Reshape", {2, 2, 1, 1, {}, {1}, Out::same}},
      {"Gemm", {2, 3, 1, 1, {-1}, {}, Out::f32}},
      {"MatMul", {2, 2, 1, 1, {-1}, {}, Out::f32}},
      {"Pad", {2, 4, 1, 1, {}, {1, 3}, Out::same}},
      {"Slice", {3, 5, 1, 1, {}, {1, 2, 3, 4}, Out::same}},
      {"Identity", {1, 1, 1, 1, {}, {}, Out::same}},
      {"Dropout", {1, 3, 1, 2, {0}, {}, Out::same}},
      {"Softmax", {1, 1, 1, 1, {0}, {}, Out::f32}},
      {"Transpose", {1, 1, 1, 1, {}, {}, Out::same}},
      {"Squeeze", {1, 2, 1, 1, {}, {1}, Out::same}},
      {"Unsqueeze", {1, 2, 1, 1, {}, {1}, Out::same}},
      {"Cast", {1, 1, 1, 1, {}, {}, Out::cast}},
      {"Gather", {2, 2, 1, 1, {}, {1}, Out::same}},
      {"Shape", {1, 1, 1, 1, {}, {}, Out::i64}},
      {"ConstantOfShape", {1, 1, 1, 1, {}, {0}, Out::fill}},
  };
  return r;
}

OpRule rule_for(const Node& n, int64_t opset) {
  OpRule r = rules().at(n.op);
  if (n.op == "Pad" && opset < 11) r.min_in = r.max_in = 1;
  if (n.op == "Slice" && opset < 10) r.min_in = r.max_in = 1;
  if ((n.op == "Squeeze" || n.op == "Unsqueeze") && opset < 13) r.max_in = 1;
  if (n.op == "Clip" && opset < 11) r.max_in = 1;
  return r;
}

enum class AttrType { i, f, s, ints, floats, tensor };

const char* type_name(AttrType t) {
  switch (t) {
    case AttrType::i: return "an integer";
    case AttrType::f: return "a float";
    case AttrType::s: return "a string";
    case AttrType::ints: return "a list of integers";
    case AttrType::floats: return "a list of floats";
    case AttrType::tensor: return "a tensor";
  }
  return "?";
}

AttrType expected_type(const Node& n, const std::string& a) {
  static const std::map<std::string, AttrType> common = {
      {"auto_pad", AttrType::s}, {"mode", AttrType::s}, {"dilations", AttrType::ints},
      {"kernel_shape", AttrType::ints}, {"pads", AttrType::ints}, {"strides", AttrType::ints},
      {"perm", AttrType::ints}, {"axes", AttrType::ints}, {"starts", AttrType::ints},
      {"ends", AttrType::ints}, {"epsilon", AttrType::f}, {"momentum", AttrType::f},
      {"min", AttrType::f}, {"max", AttrType::f}, {"alpha", AttrType::f}, {"beta", AttrType::f},
      {"ratio", AttrType::f}, {"value_float", AttrType::f}, {"value_floats", AttrType::floats},
      {"value_ints", AttrType::ints},
  };
  if (a == "value") return n.op == "Pad" ? AttrType::f : AttrType::tensor;
  const auto it = common.find(a);
  return it == common.end() ? AttrType::i : it->second;
}

bool has_type(const AttrValue& v, AttrType t) {
  switch (t) {
    case AttrType::i: return std::holds_alternative<int64_t>(v);
    case AttrType::f: return std::holds_alternative<float>(v) || std::holds_alternative<int64_t>(v);
    case AttrType::s: return std::holds_alternative<std::string>(v);
    case AttrType::ints: return std::holds_alternative<std::vector<int64_t>>(v);
    case AttrType::floats: return std::holds_alternative<std::vector<float>>(v);
    case AttrType::tensor: return std::holds_alternative<Tensor>(v);
  }
  return false;
}

[[noreturn]] void fail(const Node& n, const std::string& msg) { throw ModelError(n.where() + ": " + msg); }

std::string list_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t k = 0; k < v.size(); ++k) {
    if (k) s += ',';
    s += std::to_string(v[k]);
  }
  return s + "]";
}

void check_all(const Node& n, const char* attr, bool (*ok)(int64_t), const char* rule) {
  if (!n.has(attr)) return;
  const auto v = n.attr_ints(attr);
  for (int64_t x : v)
    if (!ok(x)) fail(n, std::string(attr) + " " + list_text(v) + " must be " + rule);
}

void check_distinct_axes(const Node& n, const std::vector<int64_t>& axes, const char* what, bool permutation) {
  const int64_t size = static_cast<int64_t>(axes.size());
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    if (permutation && (a < -size || a >= size))
      fail(n, std::string(what) + " " + list_text(axes) + " is not a permutation of 0.." + std::to_string(size - 1));
    const int64_t norm = permutation && a < 0 ? a + size : a;
    if (!seen.insert(norm).second)
      fail(n, std::string(what) + " " + list_text(axes) + " repeats axis " + std::to_string(a));
  }
}

void check_finite_attr(const Node& n, const char* attr) {
  if (n.has(attr) && !std::isfinite(n.attr_f(attr, 0.0f))) fail(n, std::string(attr) + " is not finite");
}

void check_attributes(const Node& n) {
  for (const auto& [a, v] : n.attrs) {
    const AttrType t = expected_type(n, a);
    if (!has_type(v, t)) fail(n, "attribute '" + a + "' must be " + type_name(t));
  }
  if (n.op == "Conv" || n.op == "MaxPool" || n.op == "AveragePool") {
    check_all(n, "kernel_shape", [](int64_t x) { return x > 0; }, "positive");
    check_all(n, "strides", [](int64_t x) { return x > 0; }, "positive");
    check_all(n, "dilations", [](int64_t x) { return x > 0; }, "positive");
    check_all(n, "pads", [](int64_t x) { return x >= 0; }, "non-negative");
  }
  if (n.op == "Conv" || n.op == "MaxPool" || n.op == "AveragePool")
    for (const char* attr : {"kernel_shape", "strides", "dilations", "pads"})
      check_all(n, attr, [](int64_t x) { return x <= kMaxWindow; }, "at most 65536");
  if (n.op == "Conv" && (n.attr_i("group", 1) < 1 || n.attr_i("group", 1) > kMaxWindow))
    fail(n, "group " + std::to_string(n.attr_i("group", 1)) + " must be positive (and at most 65536)");
  if (n.op == "Transpose" && n.has("perm")) check_distinct_axes(n, n.attr_ints("perm"), "perm", true);
  if ((n.op == "Squeeze" || n.op == "Unsqueeze") && n.has("axes")) check_distinct_axes(n, n.attr_ints("axes"), "axes", false);
  if (n.op == "BatchNormalization") {
    check_finite_attr(n, "epsilon");
    if (n.attr_f("epsilon", 1e-5f) < 0.0f) fail(n, "epsilon must be non-negative");
  }
  if (n.op == "Gemm") check_finite_attr(n, "alpha"), check_finite_attr(n, "beta");
  if (n.op == "ConstantOfShape" && n.has("value")) {
    const Tensor& v = n.attr_t("value");
    if (v.numel() != 1) fail(n, "value must hold exactly one element, it has shape " + shape_str(v.shape));
  }
}

void check_constant_node(const Node& n) {
  if (!n.inputs.empty() || n.outputs.size() != 1 || n.outputs[0].empty())
    fail(n, "Constant must have no inputs and one output");
  if (n.attrs.size() != 1) fail(n, "Constant must have exactly one value attribute");
  const auto& [a, v] = *n.attrs.begin();
  static const std::map<std::string, AttrType> kinds = {{"value", AttrType::tensor}, {"value_float", AttrType::f},
                                                        {"value_floats", AttrType::floats}, {"value_int", AttrType::i},
                                                        {"value_ints", AttrType::ints}};
  const auto it = kinds.find(a);
  if (it == kinds.end()) fail(n, "unsupported attribute '" + a + "'");
  if (!has_type(v, it->second) || (it->second == AttrType::f && !std::holds_alternative<float>(v)))
    fail(n, "attribute '" + a + "' must be " + type_name(it->second));
}

DType constant_dtype(const Node& n) {
  const auto& [a, v] = *n.attrs.begin();
  if (a == "value") return std::get<Tensor>(v).dtype;
  return a == "value_float" || a == "value_floats" ? DType::f32 : DType::i64;
}

DType cast_target(const Node& n) {
  const int64_t to = n.attr_i("to", 1);
  if (to == 1 || to == 10 || to == 11) return DType::f32;
  if (to == 2 || to == 3 || to == 6 || to == 7 || to == 9 || to == 12 || to == 13) return DType::i64;
  fail(n, "Cast to data type " + std::to_string(to) + " is not supported");
}

const char* dtype_name(DType d) { return d == DType::f32 ? "float" : "int64"; }

bool listed(const std::vector<int>& v, size_t k) {
  return std::find(v.begin(), v.end(), -1) != v.end() || std::find(v.begin(), v.end(), static_cast<int>(k)) != v.end();
}

}  // namespace

void validate_structure(const Graph& g, const std::string& what) {
  if (g.outputs.empty()) throw ModelError(what + ": the graph has no outputs");
  // nullopt: the type of an op this validator has no rule for (left to its implementation).
  std::map<std::string, std::optional<DType>> dtype;
  for (const auto& [name, t] : g.initializers) dtype[name] = t.dtype;
  for (const auto& in : g.inputs) {
    if (in.shape.empty()) throw ModelError(what + ": graph input '" + in.name + "' has no shape (rank 0 or unknown)");
    for (int64_t d : in.shape)
      if (d == 0 || d < -1)
        throw ModelError(what + ": graph input '" + in.name + "' has invalid dimension " + std::to_string(d));
    dtype[in.name] = DType::f32;
  }
  for (const auto& n : g.nodes) {
    if (n.op == "Constant") {
      check_constant_node(n);
    } else {
      checked_op(n);  // known op, known attributes
      if (!rules().count(n.op)) {
        for (const auto& o : n.outputs)
          if (!o.empty()) dtype[o] = std::nullopt;
        continue;
      }
      const OpRule r = rule_for(n, g.opset);
      const int ins = static_cast<int>(n.inputs.size()), outs = static_cast<int>(n.outputs.size());
      if (ins < r.min_in || ins > r.max_in)
        fail(n, "has " + std::to_string(ins) + " inputs, expected " + std::to_string(r.min_in) +
                    (r.max_in == r.min_in ? "" : r.max_in == kMany ? " or more" : " to " + std::to_string(r.max_in)));
      if (outs < r.min_out || outs > r.max_out)
        fail(n, "has " + std::to_string(outs) + " outputs, expected " + std::to_string(r.min_out) +
                    (r.max_out == r.min_out ? "" : " to " + std::to_string(r.max_out)));
      for (int k = 0; k < r.min_in; ++k)
        if (n.inputs[static_cast<size_t>(k)].empty())
          fail(n, "required input #" + std::to_string(k) + " is empty");
      check_attributes(n);
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const std::string& v = n.inputs[k];
        if (v.empty()) continue;
        const std::optional<DType> d = dtype.at(v);  // the importer checked every input is defined earlier
        if (!d) continue;
        if (listed(r.float_in, k) && *d != DType::f32)
          fail(n, "input '" + v + "' is " + dtype_name(*d) + "; " + n.op + " needs float");
        if (listed(r.int_in, k) && *d != DType::i64)
          fail(n, "input '" + v + "' is " + dtype_name(*d) + "; " + n.op + " needs int64 for input #" + std::to_string(k));
      }
      if (n.op == "Concat")
        for (const auto& v : n.inputs)
          if (!v.empty() && dtype.at(v) && dtype.at(n.inputs[0]) && dtype.at(v) != dtype.at(n.inputs[0]))
            fail(n, "inputs mix float and int64");
    }
    if (n.outputs.empty() || n.outputs[0].empty()) fail(n, "has no output");
    std::optional<DType> out = DType::f32;
    if (n.op == "Constant") out = constant_dtype(n);
    else switch (rules().at(n.op).out) {
        case Out::f32: out = DType::f32; break;
        case Out::i64: out = DType::i64; break;
        case Out::same: out = dtype.at(n.inputs[0]); break;
        case Out::cast: out = cast_target(n); break;
        case Out::fill: out = n.has("value") ? n.attr_t("value").dtype : DType::f32; break;
        case Out::arith: {
          bool any_f32 = false, any_unknown = false;
          for (const auto& v : n.inputs) {
            if (v.empty()) continue;
            any_f32 = any_f32 || dtype.at(v) == DType::f32;
            any_unknown = any_unknown || !dtype.at(v);
          }
          out = any_f32 ? std::optional<DType>(DType::f32) : any_unknown ? std::nullopt : std::optional<DType>(DType::i64);
          break;
        }
      }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const std::string& o = n.outputs[k];
      if (o.empty()) continue;
      if (dtype.count(o))
        fail(n, "output '" + o + "' is already defined (by another node, an initializer or the graph input)");
      dtype[o] = k == 0 ? out : std::optional<DType>(n.op == "MaxPool" ? DType::i64 : DType::f32);
    }
  }
}

namespace {

// The constant FP32 tensor feeding input k of n: must exist (an initializer after folding).
const Tensor& constant_input(const Graph& g, const Node& n, size_t k, const char* role) {
  const std::string& v = n.inputs[k];
  if (!g.is_const(v)) fail(n, std::string(role) + " '" + v + "' must be a constant initializer");
  const Tensor& t = g.constant(v);
  if (!t.is_f32()) fail(n, std::string(role) + " '" + v + "' is int64; it must be float");
  return t;
}

bool is_placeholder(const Tensor& t) { return t.is_f32() && t.shape == Shape{0}; }

void check_finite(const Node& n, const std::string& name, const Tensor& t, const char* role) {
  for (size_t k = 0; k < t.f.size(); ++k)
    if (!std::isfinite(t.f[k]))
      fail(n, std::string(role) + " '" + name + "' holds " + (std::isnan(t.f[k]) ? "NaN" : "Inf") + " at element " +
                  std::to_string(k));
}

void check_rank(const Node& n, const std::string& name, const Tensor& t, size_t rank, const char* role) {
  if (t.shape.size() != rank)
    fail(n, std::string(role) + " '" + name + "' must have rank " + std::to_string(rank) + ", got shape " + shape_str(t.shape));
}

void check_conv(const Graph& g, const Node& n) {
  const Tensor& w = constant_input(g, n, 1, "weight");
  if (!is_placeholder(w)) {
    check_rank(n, n.inputs[1], w, 4, "weight");
    check_finite(n, n.inputs[1], w, "weight");
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& b = constant_input(g, n, 2, "bias");
    check_rank(n, n.inputs[2], b, 1, "bias");
    if (!is_placeholder(w) && b.numel() != w.dim(0))
      fail(n, "bias '" + n.inputs[2] + "' has " + std::to_string(b.numel()) + " values for " + std::to_string(w.dim(0)) +
                  " output channels");
    check_finite(n, n.inputs[2], b, "bias");
  }
}

void check_gemm(const Graph& g, const Node& n) {
  const Tensor& w = constant_input(g, n, 1, "weight");
  if (!is_placeholder(w)) {
    check_rank(n, n.inputs[1], w, 2, "weight");
    check_finite(n, n.inputs[1], w, "weight");
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Tensor& c = constant_input(g, n, 2, "bias");
    if (c.shape.size() > 2 || c.numel() == 0) fail(n, "bias '" + n.inputs[2] + "' has invalid shape " + shape_str(c.shape));
    check_finite(n, n.inputs[2], c, "bias");
  }
}

void check_batch_norm(const Graph& g, const Node& n) {
  static const char* roles[] = {"", "scale", "bias", "mean", "variance"};
  int64_t channels = -1;
  for (size_t k = 1; k < 5; ++k) {
    const Tensor& t = constant_input(g, n, k, roles[k]);
    check_rank(n, n.inputs[k], t, 1, roles[k]);
    if (channels >= 0 && t.numel() != channels)
      fail(n, std::string(roles[k]) + " '" + n.inputs[k] + "' has " + std::to_string(t.numel()) + " values, scale has " +
                  std::to_string(channels));
    channels = t.numel();
    check_finite(n, n.inputs[k], t, roles[k]);
    if (k == 4)
      for (size_t c = 0; c < t.f.size(); ++c)
        if (t.f[c] < 0.0f) fail(n, "variance '" + n.inputs[k] + "' is negative (" + std::to_string(t.f[c]) + ") in channel " + std::to_string(c));
  }
}

void check_reshape_target(const Node& n, const std::vector<int64_t>& target) {
  int minus_one = 0;
  bool zero = false;
  for (int64_t d : target) {
    if (d < -1) fail(n, "Reshape target " + list_text(target) + " has entry " + std::to_string(d) + " (below -1)");
    minus_one += d == -1;
    zero = zero || d == 0;
  }
  if (minus_one > 1) fail(n, "Reshape target " + list_text(target) + " has more than one -1");
  if (minus_one && zero && n.attr_i("allowzero", 0) != 0)
    fail(n, "Reshape target " + list_text(target) + " combines -1 with a literal 0 (allowzero)");
}

}  // namespace

void validate_values(const Graph& g, const std::string& /*what*/) {
  for (const auto& n : g.nodes) {
    if (n.op == "Conv") check_conv(g, n);
    else if (n.op == "Gemm") check_gemm(g, n);
    else if (n.op == "BatchNormalization") check_batch_norm(g, n);
    else if (n.op == "MatMul" && g.is_const(n.inputs[1])) check_finite(n, n.inputs[1], g.constant(n.inputs[1]), "weight");
    else if (n.op == "Reshape" && g.is_const(n.inputs[1])) check_reshape_target(n, g.constant(n.inputs[1]).as_i64());
    else if (n.op == "Clip")
      for (size_t k = 1; k < n.inputs.size(); ++k)
        if (!n.inputs[k].empty() && g.is_const(n.inputs[k]) && g.constant(n.inputs[k]).numel() != 1)
          fail(n, "bound '" + n.inputs[k] + "' must hold one value, it has shape " + shape_str(g.constant(n.inputs[k]).shape));
  }
}

}  // namespace dfmpc
