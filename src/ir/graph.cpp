#include "ir/graph.h"

#include <set>

namespace dfmpc {

namespace {
template <class T>
const T* get_attr(const Node& n, const std::string& a) {
  auto it = n.attrs.find(a);
  if (it == n.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second);
  if (!v) throw ModelError("attribute '" + a + "' of " + n.where() + " has an unexpected type");
  return v;
}
}  // namespace

int64_t Node::attr_i(const std::string& a, int64_t def) const {
  const int64_t* v = get_attr<int64_t>(*this, a);
  return v ? *v : def;
}

float Node::attr_f(const std::string& a, float def) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return def;
  if (auto* f = std::get_if<float>(&it->second)) return *f;
  if (auto* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  throw ModelError("attribute '" + a + "' of " + where() + " is not a float");
}

std::string Node::attr_s(const std::string& a, const std::string& def) const {
  const std::string* v = get_attr<std::string>(*this, a);
  return v ? *v : def;
}

std::vector<int64_t> Node::attr_ints(const std::string& a, std::vector<int64_t> def) const {
  const auto* v = get_attr<std::vector<int64_t>>(*this, a);
  return v ? *v : def;
}

const Tensor& Node::attr_t(const std::string& a) const {
  const Tensor* v = get_attr<Tensor>(*this, a);
  if (!v) throw ModelError(where() + " lacks tensor attribute '" + a + "'");
  return *v;
}

const Tensor& Graph::constant(const std::string& v) const {
  auto it = initializers.find(v);
  if (it == initializers.end()) throw ModelError("value '" + v + "' is not a constant");
  return it->second;
}

Tensor& Graph::constant(const std::string& v) {
  auto it = initializers.find(v);
  if (it == initializers.end()) throw ModelError("value '" + v + "' is not a constant");
  return it->second;
}

int Graph::producer_of(const std::string& v) const {
  for (size_t k = 0; k < nodes.size(); ++k)
    for (const auto& o : nodes[k].outputs)
      if (o == v) return static_cast<int>(k);
  return -1;
}

std::vector<int> Graph::consumers_of(const std::string& v) const {
  std::vector<int> out;
  for (size_t k = 0; k < nodes.size(); ++k)
    for (const auto& in : nodes[k].inputs)
      if (in == v) {
        out.push_back(static_cast<int>(k));
        break;
      }
  return out;
}

bool Graph::is_graph_output(const std::string& v) const {
  for (const auto& o : outputs)
    if (o.name == v) return true;
  return false;
}

void Graph::prune() {
  std::set<std::string> needed;
  for (const auto& o : outputs) needed.insert(o.name);
  std::vector<Node> kept;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    bool used = false;
    for (const auto& o : it->outputs) used = used || needed.count(o);
    if (!used) continue;
    for (const auto& in : it->inputs) needed.insert(in);
    kept.push_back(std::move(*it));
  }
  nodes.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
  for (auto it = initializers.begin(); it != initializers.end();)
    it = needed.count(it->first) ? std::next(it) : initializers.erase(it);
}

int64_t Graph::param_count(const Node& node) const {
  int64_t n = 0;
  for (const auto& in : node.inputs)
    if (is_const(in) && constant(in).is_f32()) n += constant(in).numel();
  return n;
}

}  // namespace dfmpc
