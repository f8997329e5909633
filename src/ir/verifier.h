// Structural checks of a graph: every node input is a graph input, a constant, an outer-scope
// value (in subgraphs) or the output of an EARLIER node; each value has at most one producer
// and its producer pointer agrees; graph outputs exist; names are unique. Runs after every
// pass in tests and debug builds. Throws kiln::Error(kInternal or kInvalidModel) naming the
// first offending node and value.
#pragma once

#include "ir/graph.h"

namespace kiln::ir {

void verify(const Graph& graph, bool is_subgraph = false);

}  // namespace kiln::ir
