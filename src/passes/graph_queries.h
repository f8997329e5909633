// Small questions fusion passes ask of a graph, and the one rewrite they share.
#pragma once

#include <algorithm>
#include <list>
#include <memory>
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

// Types and shapes of a graph's values at every profile point, resolved before a pass began
// rewriting; values the pass made in place of others answer as those did.
class ValueDescs {
 public:
  explicit ValueDescs(const std::vector<ops::ResolvedShapes>& points) : points_(points) {}

  // `made` now stands for `original` (which stays alive, unused, until dead-code removal).
  void replaced(const ir::Value* made, const ir::Value* original) { origin_[made] = origin(original); }

  // Whether `v` has the same known type and shape as `like` at every profile point.
  bool same_everywhere(const ir::Value* v, const ir::Value* like) const {
    v = origin(v);
    like = origin(like);
    for (const ops::ResolvedShapes& r : points_) {
      if (!r.desc.count(v) || !r.desc.count(like) || r.is_deferred(v) || r.is_deferred(like)) return false;
      if (r.of(v).dtype != r.of(like).dtype || r.of(v).shape != r.of(like).shape) return false;
    }
    return true;
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

inline std::list<std::unique_ptr<ir::Node>>::iterator position_of(ir::Graph& graph, const ir::Node* node) {
  return std::find_if(graph.nodes().begin(), graph.nodes().end(),
                      [&](const auto& p) { return p.get() == node; });
}

// Inserts a node before `replaced` that produces `replaced`'s first output value under its name
// (so graph outputs keep their names): the old value is renamed aside and its readers moved to
// the new one. The caller erases `replaced` (and anything else it folded).
inline ir::Node* insert_replacement(ir::Graph& graph, ir::Node* replaced, std::string op, std::string name,
                                    std::vector<ir::Value*> inputs, ir::Attributes attrs) {
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();  // omitted optional inputs at the end
  ir::Value* result = replaced->outputs[0];
  const std::string result_name = result->name;
  graph.rename_value(result, graph.unique_name(result_name + "_replaced"));
  ir::Node* node = graph.insert_node(position_of(graph, replaced), std::move(op), std::move(name),
                                     std::move(inputs), {result_name}, std::move(attrs));
  graph.replace_all_uses(result, node->outputs[0]);
  return node;
}

}  // namespace kiln::passes
