// A graph pass: a small value with a name and apply(), run by a backend's pipeline with the
// verifier and dead-code elimination between steps. A backend's pipeline is a PassList: the
// passes in order, each with the condition under which it runs ("FP16 requested", "cuDNN
// allowed") as data, assembled once per build (backends/cpu/cpu_passes.h,
// backends/cuda/cuda_passes.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/logger.h"
#include "ops/shape_inference.h"

namespace kiln::passes {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Returns true when the graph changed.
  virtual bool apply(ir::Graph& graph) = 0;
  // What the last apply did, for the build log at Info ("attention fusion: 12 attention
  // blocks"); empty when there is nothing to say.
  virtual std::string summary() const { return {}; }
};

// What passes need beyond the graph, shared by the passes of one pipeline (they hold a
// reference to it) and kept current by run_pipeline.
struct PassContext {
  // The graph resolved at every profile point (each profile's min, opt and max, in that order);
  // empty while shapes are not resolved yet (run_pipeline then resolves nothing).
  std::vector<ops::ResolvedShapes> points;
  // Resolves the graph at every profile point again.
  std::function<std::vector<ops::ResolvedShapes>(const ir::Graph&)> resolve;
  // Where run_pipeline logs a verbose line per pass that changed the graph and the passes'
  // summaries; none when null.
  Logger* logger = nullptr;
};

// When run_pipeline resolves shapes again after a pass (only while the context holds points).
enum class Reresolve {
  kIfStale,    // the graph changed since the last resolution (by this pass or an earlier one)
  kIfChanged,  // this pass changed the graph
  kNever,      // leave it to a later pass: the next passes see the points from before this one
};

struct PassEntry {
  std::unique_ptr<Pass> pass;
  bool enabled = true;  // the condition, decided when the list is assembled
  Reresolve reresolve = Reresolve::kIfStale;
};

class PassList {
 public:
  // Appends `pass`, run only when `enabled`.
  PassList& add(std::unique_ptr<Pass> pass, bool enabled = true,
                Reresolve reresolve = Reresolve::kIfStale) {
    entries_.push_back({std::move(pass), enabled, reresolve});
    return *this;
  }
  const std::vector<PassEntry>& entries() const { return entries_; }

 private:
  std::vector<PassEntry> entries_;
};

// Runs the enabled passes in order. After each: dead-code elimination (the graph may also have
// held dead code before); then, when the pass changed the graph or dead code went, the verifier,
// shape resolution as the entry asks, and a verbose log line (pass, nodes before and after,
// milliseconds). Ends with points resolved for the final graph when `context` holds points.
// An internal error names the pass it followed.
void run_pipeline(ir::Graph& graph, const PassList& passes, PassContext& context);

// The passes in order, all enabled, without shapes or a log.
void run_pipeline(ir::Graph& graph, const std::vector<std::unique_ptr<Pass>>& passes);

}  // namespace kiln::passes
