#include "ir/verifier.h"

#include <unordered_set>

#include "core/display_name.h"
#include "core/error.h"

namespace kiln::ir {

void verify(const Graph& graph, bool is_subgraph) {
  std::unordered_set<const Value*> defined;
  std::unordered_set<const Value*> owned;
  std::unordered_set<std::string> names;
  for (const auto& v : graph.values()) {
    owned.insert(v.get());
    KILN_CHECK(names.insert(v->name).second, ErrorCode::kInvalidModel, "graph '",
               display_name(graph.name), "': two values are named '", display_name(v->name), "'");
    if (v->is_constant()) defined.insert(v.get());
    // A subgraph reads outer-scope values through producer-less placeholders.
    if (is_subgraph && !v->producer && !v->is_constant()) defined.insert(v.get());
  }
  for (const Value* in : graph.inputs()) {
    KILN_CHECK(owned.count(in), ErrorCode::kInternal, "graph input '", in->name,
               "' is not owned by the graph");
    defined.insert(in);
  }
  for (const auto& node : graph.nodes()) {
    for (const Value* in : node->inputs) {
      if (!in) continue;
      KILN_CHECK(owned.count(in), ErrorCode::kInternal, node->describe(), ": input '", in->name,
                 "' belongs to another graph");
      KILN_CHECK(defined.count(in), ErrorCode::kInvalidModel, node->describe(), ": input '",
                 display_name(in->name),
                 "' is used before it is produced (graph not in topological order, or a cycle)");
    }
    for (const Value* out : node->outputs) {
      if (!out) continue;
      KILN_CHECK(out->producer == node.get(), ErrorCode::kInternal, node->describe(), ": output '",
                 out->name, "' names another producer");
      KILN_CHECK(defined.insert(out).second, ErrorCode::kInvalidModel, node->describe(),
                 ": output '", display_name(out->name), "' is produced twice");
    }
    for (const auto& [key, attr] : node->attrs) {
      if (auto* sub = std::get_if<std::shared_ptr<Graph>>(&attr)) {
        if (*sub) verify(**sub, true);
      }
    }
  }
  for (const Value* out : graph.outputs()) {
    KILN_CHECK(defined.count(out), ErrorCode::kInvalidModel, "graph output '",
               display_name(out->name), "' is never produced");
  }
}

}  // namespace kiln::ir
