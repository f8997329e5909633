#include "ir/graph.h"

#include <unordered_set>

#include "core/error.h"

namespace kiln::ir {

std::string to_string(const Shape& shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += 'x';
    if (shape[i].is_static()) {
      out += std::to_string(shape[i].value);
    } else {
      out += shape[i].symbol.empty() ? "?" : shape[i].symbol;
    }
  }
  return out.empty() ? "scalar" : out;
}

Dims to_dims(const Shape& shape) {
  Dims dims;
  dims.reserve(shape.size());
  for (const Dim& d : shape) dims.push_back(d.value);
  return dims;
}

Shape from_dims(const Dims& dims) {
  Shape shape;
  shape.reserve(dims.size());
  for (int64_t d : dims) shape.push_back(d >= 0 ? Dim::fixed(d) : Dim{});
  return shape;
}

std::string Graph::unique_name(const std::string& base) const {
  if (!by_name_.count(base)) return base;
  for (size_t i = 1;; ++i) {
    std::string candidate = cat(base, "_", i);
    if (!by_name_.count(candidate)) return candidate;
  }
}

Value* Graph::add_value(std::string name, DataType dtype, Shape shape, bool has_shape) {
  auto value = std::make_unique<Value>();
  value->name = unique_name(name);
  value->dtype = dtype;
  value->shape = std::move(shape);
  value->has_shape = has_shape;
  Value* raw = value.get();
  by_name_[raw->name] = raw;
  values_.push_back(std::move(value));
  return raw;
}

Value* Graph::add_input(std::string name, DataType dtype, Shape shape) {
  KILN_CHECK(!by_name_.count(name), ErrorCode::kInvalidModel, "graph input '", name,
             "' is defined twice");
  Value* v = add_value(std::move(name), dtype, std::move(shape));
  inputs_.push_back(v);
  return v;
}

void Graph::promote_to_input(Value* value) {
  KILN_CHECK(value != nullptr && find_value(value->name) == value && value->producer == nullptr &&
                 !value->is_constant(),
             ErrorCode::kInternal, "only a producer-less, non-constant value of the graph can ",
             "become a graph input");
  for (const Value* in : inputs_) {
    KILN_CHECK(in != value, ErrorCode::kInternal, "value '", value->name,
               "' is a graph input already");
  }
  inputs_.push_back(value);
}

Value* Graph::add_constant(std::string name, Tensor tensor) {
  Value* v = add_value(std::move(name), tensor.dtype(), from_dims(tensor.shape()));
  v->constant = std::move(tensor);
  return v;
}

Value* Graph::find_value(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

void Graph::rename_value(Value* value, const std::string& name) {
  by_name_.erase(value->name);
  value->name = name;
  by_name_[name] = value;
}

Node* Graph::add_node(std::string op, std::string name, std::vector<Value*> inputs,
                      const std::vector<std::string>& output_names, Attributes attrs) {
  return insert_node(nodes_.end(), std::move(op), std::move(name), std::move(inputs), output_names,
                     std::move(attrs));
}

Node* Graph::insert_node(std::list<std::unique_ptr<Node>>::iterator position, std::string op,
                         std::string name, std::vector<Value*> inputs,
                         const std::vector<std::string>& output_names, Attributes attrs) {
  auto node = std::make_unique<Node>();
  node->op = std::move(op);
  node->name = std::move(name);
  node->inputs = std::move(inputs);
  node->attrs = std::move(attrs);
  for (const std::string& out : output_names) {
    if (out.empty()) {  // an omitted optional output
      node->outputs.push_back(nullptr);
      continue;
    }
    Value* v = add_value(out, DataType::kFloat32, {}, false);
    v->producer = node.get();
    node->outputs.push_back(v);
  }
  Node* raw = node.get();
  nodes_.insert(position, std::move(node));
  return raw;
}

void Graph::replace_all_uses(Value* from, Value* to) {
  for (auto& node : nodes_) {
    for (Value*& in : node->inputs) {
      if (in == from) in = to;
    }
  }
  for (Value*& out : outputs_) {
    if (out == from) out = to;
  }
}

std::vector<Node*> Graph::users(const Value* value) const {
  std::vector<Node*> result;
  for (const auto& node : nodes_) {
    for (const Value* in : node->inputs) {
      if (in == value) {
        result.push_back(node.get());
        break;
      }
    }
  }
  return result;
}

void Graph::erase_node(Node* node) {
  for (auto it = nodes_.begin(); it != nodes_.end(); ++it) {
    if (it->get() == node) {
      for (Value* out : node->outputs) {
        if (out) out->producer = nullptr;
      }
      nodes_.erase(it);
      return;
    }
  }
}

namespace {
// Names of outer-scope values a subgraph reads (they keep producers alive).
void collect_outer_reads(const Graph& g, std::unordered_set<std::string>& names) {
  for (const auto& node : g.nodes()) {
    for (const Value* in : node->inputs) {
      if (in) names.insert(in->name);
    }
    for (const auto& [key, attr] : node->attrs) {
      if (auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) {
        if (*sub) collect_outer_reads(**sub, names);
      } else if (auto* subs = std::get_if<std::vector<std::shared_ptr<Graph>>>(&attr)) {
        for (const auto& s : *subs) {
          if (s) collect_outer_reads(*s, names);
        }
      }
    }
  }
  for (const Value* out : g.outputs()) names.insert(out->name);
}
}  // namespace

size_t Graph::remove_dead_code() {
  std::unordered_set<const Value*> live(outputs_.begin(), outputs_.end());
  size_t removed = 0;
  // Walk backwards: a node is live if any output is live; then its inputs are live.
  for (auto it = nodes_.rbegin(); it != nodes_.rend();) {
    Node* node = it->get();
    bool is_live = false;
    for (const Value* out : node->outputs) {
      if (out && live.count(out)) is_live = true;
    }
    if (is_live) {
      for (const Value* in : node->inputs) {
        if (in) live.insert(in);
      }
      // Its unused outputs (a Loop's final value nobody reads) stay: the node still writes them.
      for (const Value* out : node->outputs) {
        if (out) live.insert(out);
      }
      std::unordered_set<std::string> outer;
      for (const auto& [key, attr] : node->attrs) {
        if (auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) {
          if (*sub) collect_outer_reads(**sub, outer);
        } else if (auto* subs = std::get_if<std::vector<std::shared_ptr<Graph>>>(&attr)) {
          for (const auto& s : *subs) {
            if (s) collect_outer_reads(*s, outer);
          }
        }
      }
      for (const std::string& name : outer) {
        if (Value* v = find_value(name)) live.insert(v);
      }
      ++it;
    } else {
      for (Value* out : node->outputs) {
        if (out) out->producer = nullptr;
      }
      it = decltype(it)(nodes_.erase(std::next(it).base()));
      ++removed;
    }
  }
  for (const Value* in : inputs_) live.insert(in);
  // Drop values nothing refers to.
  std::vector<std::unique_ptr<Value>> kept;
  for (auto& v : values_) {
    if (live.count(v.get())) {
      kept.push_back(std::move(v));
    } else {
      by_name_.erase(v->name);
    }
  }
  values_ = std::move(kept);
  return removed;
}

std::unique_ptr<Graph> Graph::clone() const {
  auto copy = std::make_unique<Graph>();
  copy->name = name;
  std::unordered_map<const Value*, Value*> map;
  for (const auto& v : values_) {
    Value* nv = copy->add_value(v->name, v->dtype, v->shape, v->has_shape);
    nv->constant = v->constant;
    map[v.get()] = nv;
  }
  for (const Value* in : inputs_) copy->inputs_.push_back(map.at(in));
  for (const Value* out : outputs_) copy->outputs_.push_back(map.at(out));
  for (const auto& node : nodes_) {
    auto n = std::make_unique<Node>();
    n->op = node->op;
    n->name = node->name;
    n->attrs = node->attrs;
    // Subgraphs are deep-copied so that passes on the copy never touch the original.
    for (auto& [key, attr] : n->attrs) {
      if (auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) {
        if (*sub) *sub = std::shared_ptr<Graph>((*sub)->clone());
      } else if (auto* subs = std::get_if<std::vector<std::shared_ptr<Graph>>>(&attr)) {
        for (auto& s : *subs) {
          if (s) s = std::shared_ptr<Graph>(s->clone());
        }
      }
    }
    for (const Value* in : node->inputs) n->inputs.push_back(in ? map.at(in) : nullptr);
    for (const Value* out : node->outputs) {
      Value* nv = out ? map.at(out) : nullptr;
      if (nv) nv->producer = n.get();
      n->outputs.push_back(nv);
    }
    copy->nodes_.push_back(std::move(n));
  }
  return copy;
}

}  // namespace kiln::ir
