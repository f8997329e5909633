// Small questions fusion passes ask of a graph, and the one rewrite they share.
#pragma once

#include <algorithm>
#include <cmath>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"

namespace kiln::passes {

inline bool is_graph_output(const ir::Graph& graph, const ir::Value* v) {
  const auto& outs = graph.outputs();
  return std::find(outs.begin(), outs.end(), v) != outs.end();
}

// The only node reading `v` (reading it once), when `v` is not also a graph output.
inline ir::Node* sole_reader(const ir::Graph& graph, const ir::Value* v) {
  if (is_graph_output(graph, v)) return nullptr;
  std::vector<ir::Node*> readers = graph.users(v);
  if (readers.size() != 1) return nullptr;
  const auto& ins = readers[0]->inputs;
  return std::count(ins.begin(), ins.end(), v) == 1 ? readers[0] : nullptr;
}

// The readers of every value, collected once (Graph::users scans the whole graph per question),
// for matchers that ask often. A node reading a value twice is listed twice.
class Readers {
 public:
  explicit Readers(const ir::Graph& graph) : graph_(graph) {
    for (const auto& node : graph.nodes()) {
      for (const ir::Value* in : node->inputs) {
        if (in) readers_[in].push_back(node.get());
      }
    }
  }

  const std::vector<ir::Node*>& of(const ir::Value* v) const {
    static const std::vector<ir::Node*> none;
    auto it = readers_.find(v);
    return it == readers_.end() ? none : it->second;
  }

  // The producer of an intermediate a fused node replaces: `v` is read once, by one node, and
  // is not a graph output; else nullptr.
  ir::Node* private_producer(const ir::Value* v) const {
    if (!v || !v->producer || is_graph_output(graph_, v) || of(v).size() != 1) return nullptr;
    return v->producer;
  }

 private:
  const ir::Graph& graph_;
  std::unordered_map<const ir::Value*, std::vector<ir::Node*>> readers_;
};

// The producer of `v` when it has `op` and `v`'s only reader is `reader` (inside a pattern);
// else nullptr.
inline ir::Node* producer_read_only_by(const ir::Graph& graph, const ir::Value* v, const char* op,
                                       const ir::Node* reader) {
  if (!v || !v->producer || v->producer->op != op) return nullptr;
  if (sole_reader(graph, v) != reader) return nullptr;
  return v->producer;
}

// Binary node `n`'s operand other than `known`, when `known` is one of its two inputs.
inline ir::Value* other_operand(const ir::Node* n, const ir::Value* known) {
  if (n->inputs.size() != 2) return nullptr;
  if (n->inputs[0] == known) return n->inputs[1];
  if (n->inputs[1] == known) return n->inputs[0];
  return nullptr;
}

// float32, float16 or bfloat16: the types fused kernels compute in.
inline bool is_compute_float(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

// The value of a one-element constant of a compute float type (a scale, a mask's fill).
inline std::optional<double> scalar_constant(const ir::Value* v) {
  if (!v || !v->is_constant() || v->constant->numel() != 1 ||
      !is_compute_float(v->constant->dtype())) {
    return std::nullopt;
  }
  return v->constant->as_double(0);
}
inline bool scalar_constant_is(const ir::Value* v, double expected) {
  const auto c = scalar_constant(v);
  return c && *c == expected;
}
inline bool scalar_constant_at_most(const ir::Value* v, double limit) {
  const auto c = scalar_constant(v);
  return c && *c <= limit;
}

// A one-element float or integer constant within 1e-4 (relative) of `value`: exporters print
// these rounded.
inline bool is_scalar_near(const ir::Value* v, double value) {
  if (!v || !v->is_constant() || v->constant->numel() != 1) return false;
  if (!is_floating_point(v->constant->dtype()) && !is_integer(v->constant->dtype())) return false;
  return std::abs(v->constant->as_double(0) - value) <= 1e-4 * std::abs(value);
}

// Binary `n` with one operand a scalar near `value`: the other operand, else nullptr.
inline ir::Value* operand_times_scalar(const ir::Node* n, double value) {
  if (!n || n->inputs.size() != 2) return nullptr;
  if (is_scalar_near(n->inputs[1], value)) return n->inputs[0];
  if (is_scalar_near(n->inputs[0], value)) return n->inputs[1];
  return nullptr;
}

// Types and shapes of a graph's values at every profile point, resolved before a pass began
// rewriting; values the pass made in place of others answer as those did.
class ValueDescs {
 public:
  explicit ValueDescs(const std::vector<ops::ResolvedShapes>& points) : points_(points) {}

  // `made` now stands for `original` (which stays alive, unused, until dead-code removal).
  void replaced(const ir::Value* made, const ir::Value* original) {
    origin_[made] = origin(original);
  }

  // Whether `v` has the same known type and shape as `like` at every profile point.
  bool same_everywhere(const ir::Value* v, const ir::Value* like) const {
    v = origin(v);
    like = origin(like);
    for (const ops::ResolvedShapes& r : points_) {
      if (!r.desc.count(v) || !r.desc.count(like) || r.is_deferred(v) || r.is_deferred(like))
        return false;
      if (r.of(v).dtype != r.of(like).dtype || r.of(v).shape != r.of(like).shape) return false;
    }
    return true;
  }

  // `v`'s extents at every profile point; nullopt where any is unknown or deferred, or without
  // points.
  std::optional<std::vector<Dims>> extents(const ir::Value* v) const {
    if (!v) return std::nullopt;
    v = origin(v);
    std::vector<Dims> out;
    for (const ops::ResolvedShapes& r : points_) {
      if (r.is_deferred(v) || !r.desc.count(v)) return std::nullopt;
      out.push_back(r.desc.at(v).shape);
    }
    if (out.empty()) return std::nullopt;
    return out;
  }

  // `v`'s type at the first profile point, when known.
  std::optional<DataType> dtype(const ir::Value* v) const {
    if (!v || points_.empty()) return std::nullopt;
    v = origin(v);
    if (!points_[0].desc.count(v)) return std::nullopt;
    return points_[0].desc.at(v).dtype;
  }

  // Whether `a` and `b` have the same known extents at every profile point.
  bool same_extents(const ir::Value* a, const ir::Value* b) const {
    const auto ea = extents(a), eb = extents(b);
    return ea && eb && *ea == *eb;
  }

  // The value `v` stands for in the resolved points (itself unless the pass made it).
  const ir::Value* origin(const ir::Value* v) const {
    auto it = origin_.find(v);
    return it == origin_.end() ? v : it->second;
  }

 private:
  const std::vector<ops::ResolvedShapes>& points_;
  std::unordered_map<const ir::Value*, const ir::Value*> origin_;
};

inline std::list<std::unique_ptr<ir::Node>>::iterator position_of(ir::Graph& graph,
                                                                  const ir::Node* node) {
  return std::find_if(graph.nodes().begin(), graph.nodes().end(),
                      [&](const auto& p) { return p.get() == node; });
}

// Inserts a node before `replaced` that produces `replaced`'s first output value under its name
// (so graph outputs keep their names): the old value is renamed aside and its readers moved to
// the new one. The caller erases `replaced` (and anything else it folded).
inline ir::Node* insert_replacement(ir::Graph& graph, ir::Node* replaced, std::string op,
                                    std::string name, std::vector<ir::Value*> inputs,
                                    ir::Attributes attrs) {
  while (!inputs.empty() && !inputs.back())
    inputs.pop_back();  // omitted optional inputs at the end
  ir::Value* result = replaced->outputs[0];
  const std::string result_name = result->name;
  graph.rename_value(result, graph.unique_name(result_name + "_replaced"));
  ir::Node* node = graph.insert_node(position_of(graph, replaced), std::move(op), std::move(name),
                                     std::move(inputs), {result_name}, std::move(attrs));
  graph.replace_all_uses(result, node->outputs[0]);
  return node;
}

}  // namespace kiln::passes
