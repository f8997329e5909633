#include "ir/node.h"

#include "core/display_name.h"
#include "core/error.h"
#include "ir/graph.h"

namespace kiln::ir {

const char* attribute_kind(const Attribute& attr) {
  static const char* kNames[] = {"int",  "float",  "string",  "tensor",  "graph",
                                 "ints", "floats", "strings", "tensors", "graphs"};
  return kNames[attr.index()];
}

namespace {
template <typename T>
const T& get(const Node& node, const std::string& key, const char* kind) {
  auto it = node.attrs.find(key);
  KILN_CHECK(it != node.attrs.end(), ErrorCode::kInvalidModel, node.describe(),
             ": missing required attribute '", key, "'");
  const T* v = std::get_if<T>(&it->second);
  KILN_CHECK(v != nullptr, ErrorCode::kInvalidModel, node.describe(), ": attribute '", key,
             "' should be ", kind, " but is ", attribute_kind(it->second));
  return *v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  return has_attr(key) ? attr_int(key) : fallback;
}
int64_t Node::attr_int(const std::string& key) const { return get<int64_t>(*this, key, "int"); }

double Node::attr_float(const std::string& key, double fallback) const {
  return has_attr(key) ? attr_float(key) : fallback;
}
double Node::attr_float(const std::string& key) const {
  auto it = attrs.find(key);
  if (it != attrs.end()) {
    if (auto* i = std::get_if<int64_t>(&it->second)) return double(*i);
  }
  return get<double>(*this, key, "float");
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  return has_attr(key) ? attr_string(key) : fallback;
}
std::string Node::attr_string(const std::string& key) const {
  return get<std::string>(*this, key, "string");
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  return has_attr(key) ? attr_ints(key) : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key) const {
  return get<std::vector<int64_t>>(*this, key, "ints");
}

std::vector<double> Node::attr_floats(const std::string& key, std::vector<double> fallback) const {
  return has_attr(key) ? get<std::vector<double>>(*this, key, "floats") : fallback;
}

std::vector<std::string> Node::attr_strings(const std::string& key,
                                            std::vector<std::string> fallback) const {
  return has_attr(key) ? get<std::vector<std::string>>(*this, key, "strings") : fallback;
}

const Tensor& Node::attr_tensor(const std::string& key) const {
  return get<Tensor>(*this, key, "tensor");
}

const Graph& Node::attr_graph(const std::string& key) const {
  const auto& g = get<std::shared_ptr<Graph>>(*this, key, "graph");
  KILN_CHECK(g != nullptr, ErrorCode::kInvalidModel, describe(), ": attribute '", key,
             "' holds no graph");
  return *g;
}

// Names come from model files: printed escaped and shortened (core/display_name.h).
std::string Node::describe() const { return cat(display_name(op), " '", display_name(name), "'"); }

}  // namespace kiln::ir
