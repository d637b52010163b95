// The operator table: every ONNX operator dfmpc understands, with its reference
// implementation and the attributes it accepts. Adding an operator = one row in
// op_registry.cpp plus its function.
#pragma once
#include <span>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace dfmpc {

// Inputs: nullptr for an omitted optional input. Outputs are resized by the op; their
// storage is reused between calls, so steady-state runs do not allocate.
using OpFn = void (*)(const Node& node, int64_t opset, std::span<const Tensor* const> in,
                      std::span<Tensor* const> out);

struct OpDef {
  std::string_view name;
  OpFn run;
  std::vector<std::string_view> attrs;  // attributes the implementation honours
};

const OpDef* find_op(std::string_view op);
// Throws ModelError naming the node when the op or one of its attributes is unsupported.
const OpDef& checked_op(const Node& node);
std::vector<std::string_view> supported_ops();

}  // namespace dfmpc
