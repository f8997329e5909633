#include <chrono>

#include "core/error.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::passes {

namespace {

// Applies `pass` and removes dead code; verifies when the graph changed. Returns whether it did.
bool apply_and_check(ir::Graph& graph, Pass& pass) {
  try {
    bool changed = pass.apply(graph);
    changed = graph.remove_dead_code() > 0 || changed;
    if (changed) ir::verify(graph);
    return changed;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInternal) throw;
    fail(ErrorCode::kInternal, "after pass ", pass.name(), ": ", e.what());
  }
}

bool should_resolve(Reresolve when, bool changed, bool stale) {
  switch (when) {
    case Reresolve::kIfStale:
      return stale;
    case Reresolve::kIfChanged:
      return changed;
    case Reresolve::kNever:
      return false;
  }
  return false;
}

}  // namespace

void run_pipeline(ir::Graph& graph, const PassList& passes, PassContext& context) {
  const bool keeps_shapes = !context.points.empty();
  bool stale = false;  // the graph changed since context.points were resolved
  for (const PassEntry& entry : passes.entries()) {
    if (!entry.enabled) continue;
    const auto start = std::chrono::steady_clock::now();
    const size_t nodes_before = graph.nodes().size();
    const bool changed = apply_and_check(graph, *entry.pass);
    stale = stale || changed;
    if (keeps_shapes && should_resolve(entry.reresolve, changed, stale)) {
      context.points = context.resolve(graph);
      stale = false;
    }
    if (!context.logger) continue;
    if (std::string summary = entry.pass->summary(); !summary.empty()) {
      context.logger->log(Logger::Severity::kInfo, summary);
    }
    if (changed) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      context.logger->log(Logger::Severity::kVerbose,
                          cat("pass ", entry.pass->name(), ": ", nodes_before, " -> ",
                              graph.nodes().size(), " nodes, ", ms, " ms"));
    }
  }
  if (keeps_shapes && stale) context.points = context.resolve(graph);
}

void run_pipeline(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes) {
  for (const auto& pass : passes) apply_and_check(graph, *pass);
}

}  // namespace kiln::passes
