#include "onnx/opset_upgrade.h"

#include <set>

namespace dfmpc {
namespace {

// Ops whose inputs, attributes and semantics are unchanged (or only widened: new optional
// attributes with backward-compatible defaults, new types) from opset 7 to 21.
const std::set<std::string>& unchanged_ops() {
  static const std::set<std::string> ops = {
      "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "Cast", "Ceil", "Concat", "Constant",
      "ConstantOfShape", "Conv", "ConvTranspose", "DequantizeLinear", "Div", "Elu", "Equal", "Erf", "Exp",
      "Expand", "Flatten", "Floor", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater",
      "HardSigmoid", "Identity", "InstanceNormalization", "LeakyRelu", "Less", "Log", "LRN", "MatMul", "Max",
      "MaxPool", "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pow", "PRelu", "QuantizeLinear", "Reciprocal",
      "Relu", "Reshape", "Selu", "Shape", "Sigmoid", "Softplus", "Sqrt", "Sub", "Sum", "Tanh", "Tile",
      "Transpose", "Where"};
  return ops;
}

// Reduce ops whose `axes` attribute became an input at opset 18 (ReduceSum already at 13).
const std::set<std::string>& reduce_ops() {
  static const std::set<std::string> ops = {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                            "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"};
  return ops;
}

class Upgrader {
 public:
  explicit Upgrader(Graph& g) : g_(g) {
    for (const auto& [k, v] : g.initializers) used_.insert(k);
    for (const auto& in : g.inputs) used_.insert(in.name);
    for (const auto& n : g.nodes)
      for (const auto& o : n.outputs) used_.insert(o);
  }

  void run() {
    std::vector<Node> out;
    out.reserve(g_.nodes.size());
    for (Node& n : g_.nodes) convert(std::move(n), out);
    g_.nodes = std::move(out);
  }

 private:
  Graph& g_;
  std::set<std::string> used_;

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
    used_.insert(name);
    return name;
  }

  std::string add_const(const Node& n, const std::string& what, Tensor t) {
    const std::string name = fresh(n.name + "_" + what);
    g_.initializers[name] = std::move(t);
    return name;
  }

  std::string ints_input(const Node& n, const std::string& attr) {
    const std::vector<int64_t> v = n.attr_ints(attr);
    return add_const(n, attr, Tensor::from_i64({static_cast<int64_t>(v.size())}, v));
  }

  // The attribute `attr` (if present) moved to input `index`; omitted inputs before it are "".
  void attr_to_input(Node& n, const std::string& attr, size_t index, Tensor value) {
    if (n.inputs.size() <= index) n.inputs.resize(index + 1);
    n.inputs[index] = add_const(n, attr, std::move(value));
    n.attrs.erase(attr);
  }

  void ints_attr_to_input(Node& n, const std::string& attr, size_t index) {
    if (!n.has(attr)) return;
    const std::vector<int64_t> v = n.attr_ints(attr);
    attr_to_input(n, attr, index, Tensor::from_i64({static_cast<int64_t>(v.size())}, v));
  }

  [[noreturn]] void fail(const Node& n, const std::string& why) {
    throw ModelError(n.where() + " cannot be written at opset 21: " + why + " (use --weights float)");
  }

  void convert(Node n, std::vector<Node>& out) {
    const int64_t v = g_.opset;
    const std::string& op = n.op;
    if (reduce_ops().count(op)) {
      if (v < (op == "ReduceSum" ? 13 : 18)) ints_attr_to_input(n, "axes", 1);
    } else if (op == "Squeeze" || op == "Unsqueeze") {
      if (v < 13) ints_attr_to_input(n, "axes", 1);
    } else if (op == "Split") {
      convert_split(n, v);
    } else if (op == "Slice") {
      if (v < 10) convert_slice(n);
    } else if (op == "Pad") {
      if (v < 11) convert_pad(n);
    } else if (op == "Clip") {
      if (v < 11) convert_clip(n);
    } else if (op == "BatchNormalization") {
      convert_batch_norm(n, v);
    } else if (op == "Dropout") {
      if (v < 12) convert_dropout(n);
    } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
      if (v < 13) return convert_softmax(std::move(n), out);
    } else if (op == "Upsample") {
      convert_upsample(n);
    } else if (op == "Resize") {
      if (v < 11) convert_resize10(n);
    } else if (!unchanged_ops().count(op)) {
      fail(n, "dfmpc has no conversion for " + op + " from opset " + std::to_string(v));
    }
    out.push_back(std::move(n));
  }

  void convert_split(Node& n, int64_t v) {
    if (v < 13) ints_attr_to_input(n, "split", 1);
    const bool has_split = n.inputs.size() > 1 && !n.inputs[1].empty();
    // From 18 an even split must say how many parts it makes.
    if (!has_split && !n.has("num_outputs")) n.attrs["num_outputs"] = static_cast<int64_t>(n.outputs.size());
  }

  void convert_slice(Node& n) {
    if (!n.has("starts") || !n.has("ends")) fail(n, "Slice without starts / ends");
    n.inputs.resize(1);
    n.inputs.push_back(ints_input(n, "starts"));
    n.inputs.push_back(ints_input(n, "ends"));
    if (n.has("axes")) n.inputs.push_back(ints_input(n, "axes"));
    n.attrs.erase("starts");
    n.attrs.erase("ends");
    n.attrs.erase("axes");
  }

  void convert_pad(Node& n) {
    if (!n.has("pads")) fail(n, "Pad without pads");
    const float value = n.attr_f("value", 0.0f);
    ints_attr_to_input(n, "pads", 1);
    if (n.attr_s("mode", "constant") == "constant" && value != 0.0f)
      attr_to_input(n, "constant_value", 2, Tensor::from_f32({}, {value}));
    n.attrs.erase("value");
  }

  void convert_clip(Node& n) {
    // Clip-6's defaults are the float range, which is what omitted inputs mean from 11 on.
    if (n.has("min")) attr_to_input(n, "min", 1, Tensor::from_f32({}, {n.attr_f("min", 0)}));
    if (n.has("max")) attr_to_input(n, "max", 2, Tensor::from_f32({}, {n.attr_f("max", 0)}));
  }

  void convert_batch_norm(Node& n, int64_t v) {
    if (v < 9 && n.has("spatial")) {
      if (n.attr_i("spatial", 1) != 1) fail(n, "BatchNormalization with spatial=0 has no later form");
      n.attrs.erase("spatial");
    }
    if (v < 14) {
      for (size_t k = 1; k < n.outputs.size(); ++k)
        if (!n.outputs[k].empty() && !g_.consumers_of(n.outputs[k]).empty())
          fail(n, "training-mode outputs of BatchNormalization are used");
      n.outputs.resize(1);
    }
  }

  // Inference Dropout is the identity; its ratio attribute became an input at 12.
  void convert_dropout(Node& n) {
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty() && (!g_.consumers_of(n.outputs[k]).empty() || g_.is_graph_output(n.outputs[k])))
        fail(n, "its mask output is used");
    n.op = "Identity";
    n.inputs.resize(1);
    n.outputs.resize(1);
    n.attrs.clear();
  }

  // Before 13 these ops flatten the input to 2-D at `axis` (default 1) and normalise each row;
  // from 13 they normalise along the single `axis`. Flatten -> op(axis=-1) -> Reshape back is
  // exactly the old meaning; axis -1 means the same in both.
  void convert_softmax(Node n, std::vector<Node>& out) {
    const int64_t axis = n.attr_i("axis", 1);
    if (axis == -1) {
      n.attrs["axis"] = int64_t{-1};
      out.push_back(std::move(n));
      return;
    }
    const std::string x = n.inputs.at(0), y = n.outputs.at(0);
    const std::string flat = fresh(n.name + "_2d"), norm = fresh(n.name + "_2d_out"), shape = fresh(n.name + "_shape");
    out.push_back(Node{n.name + "_flatten", "Flatten", {x}, {flat}, {{"axis", axis}}});
    out.push_back(Node{n.name, n.op, {flat}, {norm}, {{"axis", int64_t{-1}}}});
    out.push_back(Node{n.name + "_input_shape", "Shape", {x}, {shape}, {}});
    out.push_back(Node{n.name + "_reshape", "Reshape", {norm, shape}, {y}, {}});
  }

  // Upsample (7-9) and Resize-10 map output to input coordinates as x_in = x_out / scale and
  // take the floor for nearest: Resize-11+'s "asymmetric" and nearest_mode "floor".
  void set_resize10_modes(Node& n) {
    n.attrs["coordinate_transformation_mode"] = std::string("asymmetric");
    if (n.attr_s("mode", "nearest") == "nearest") n.attrs["nearest_mode"] = std::string("floor");
  }

  void convert_resize10(Node& n) {
    if (n.inputs.size() != 2) fail(n, "Resize-10 needs inputs X and scales");
    n.inputs = {n.inputs[0], "", n.inputs[1]};  // roi omitted (unused by asymmetric)
    set_resize10_modes(n);
  }

  void convert_upsample(Node& n) {
    if (n.attr_s("mode", "nearest") == "bilinear") n.attrs["mode"] = std::string("linear");
    if (n.has("scales")) {  // Upsample-7
      const auto& s = std::get<std::vector<float>>(n.attrs.at("scales"));
      const std::string scales = add_const(n, "scales", Tensor::from_f32({static_cast<int64_t>(s.size())}, s));
      n.attrs.erase("scales");
      n.inputs = {n.inputs.at(0), scales};
    }
    if (n.inputs.size() != 2) fail(n, "Upsample needs inputs X and scales");
    n.op = "Resize";
    n.inputs = {n.inputs[0], "", n.inputs[1]};
    set_resize10_modes(n);
  }
};

}  // namespace

void upgrade_opset(Graph& g, int64_t target) {
  if (target != kQdqOpset) throw ModelError("opset upgrade supports target opset 21 only");
  if (g.opset > target)
    throw ModelError("the model's opset " + std::to_string(g.opset) + " is newer than " + std::to_string(target));
  if (g.opset == target) return;
  Upgrader(g).run();
  g.opset = target;
}

}  // namespace dfmpc
