// Views: nodes whose output holds exactly the bytes of their first input under another shape
// (Reshape, Flatten, Squeeze, Unsqueeze, Identity). In GPU engines such an output shares its
// input's memory instead of being copied: the memory planner gives it no buffer of its own
// (its source stays alive as long as the view is read), and the executor runs nothing for it.
#pragma once

#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"

namespace kiln::builder {

// Each aliased view output -> the value it is a view of (itself possibly a view). Views whose
// output is a graph output (the caller's buffer), known at shape time, or data-dependent at
// any profile point keep their copy.
std::unordered_map<const ir::Value*, const ir::Value*> find_view_aliases(
    const ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points);

}  // namespace kiln::builder
