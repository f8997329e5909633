// A graph pass: a small value with a name and apply(), run by a backend's pipeline with the
// verifier and dead-code elimination between steps.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Returns true when the graph changed.
  virtual bool apply(ir::Graph& graph) = 0;
};

// Runs each pass in order, then dead-code elimination and the verifier after each one.
void run_pipeline(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes);

}  // namespace kiln::passes
