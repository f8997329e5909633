#include "core/error.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::passes {

void run_pipeline(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes) {
  for (const auto& pass : passes) {
    try {
      pass->apply(graph);
      graph.remove_dead_code();
      ir::verify(graph);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kInternal) throw;
      fail(ErrorCode::kInternal, "after pass ", pass->name(), ": ", e.what());
    }
  }
}

}  // namespace kiln::passes
