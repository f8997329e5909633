#include "ir/printer.h"

#include <sstream>

namespace kiln::ir {

namespace {

std::string type_string(const Value& v) {
  std::string s = to_string(v.dtype);
  return v.has_shape ? s + "[" + to_string(v.shape) + "]" : s + "[?]";
}

template <typename T>
std::string join(const std::vector<T>& items) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < items.size(); ++i) out << (i ? "," : "") << items[i];
  out << ']';
  return out.str();
}

std::string attribute_string(const Attribute& attr) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      std::ostringstream o;
      o << v;
      return o.str();
    }
    std::string operator()(const std::string& v) const { return '"' + v + '"'; }
    std::string operator()(const Tensor& t) const {
      return cat("tensor<", kiln::to_string(t.dtype()), "[", kiln::to_string(t.shape()), "]>");
    }
    std::string operator()(const std::shared_ptr<Graph>& g) const {
      return cat("graph<", g ? g->name : "null", ", ", g ? g->nodes().size() : 0, " nodes>");
    }
    std::string operator()(const std::vector<int64_t>& v) const { return join(v); }
    std::string operator()(const std::vector<double>& v) const { return join(v); }
    std::string operator()(const std::vector<std::string>& v) const { return join(v); }
    std::string operator()(const std::vector<Tensor>& v) const {
      return cat("tensors<", v.size(), ">");
    }
    std::string operator()(const std::vector<std::shared_ptr<Graph>>& v) const {
      return cat("graphs<", v.size(), ">");
    }
  };
  return std::visit(Visitor{}, attr);
}

}  // namespace

std::string print(const Node& node) {
  std::ostringstream out;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    out << (i ? ", " : "") << (node.outputs[i] ? "%" + node.outputs[i]->name : "_");
  }
  out << " = " << node.op << "(";
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    out << (i ? ", " : "") << (node.inputs[i] ? node.inputs[i]->name : "_");
  }
  out << ")";
  if (!node.attrs.empty()) {
    out << " {";
    bool first = true;
    for (const auto& [key, attr] : node.attrs) {
      out << (first ? "" : ", ") << key << "=" << attribute_string(attr);
      first = false;
    }
    out << "}";
  }
  out << "  # " << node.name;
  return out.str();
}

std::string print(const Graph& graph) {
  std::ostringstream out;
  for (const Value* in : graph.inputs())
    out << "input " << in->name << ": " << type_string(*in) << "\n";
  for (const auto& v : graph.values()) {
    if (v->is_constant()) out << "const " << v->name << ": " << type_string(*v) << "\n";
  }
  for (const auto& node : graph.nodes()) {
    out << print(*node);
    for (const Value* o : node->outputs) {
      if (o && o->has_shape) out << "  -> " << type_string(*o);
    }
    out << "\n";
  }
  for (const Value* o : graph.outputs())
    out << "output " << o->name << ": " << type_string(*o) << "\n";
  return out.str();
}

}  // namespace kiln::ir
