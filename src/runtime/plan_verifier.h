// What the runtime checks of a plan it loads, beyond what the reader checks while parsing
// (plan_reader.cpp: bounds of every count, length, index, offset and enum). A checksum only
// catches accidents: a file crafted with a recomputed checksum must fail here with a clear
// kiln::Error (kInvalidPlan) naming the field, never make a run write outside its buffers.
// src/plan/plan_format.md ("What the runtime verifies") lists the checks.
#pragma once

#include <string>

#include "ir/node.h"
#include "plan/plan.h"

namespace kiln::detail {

// Largest tensor a plan may describe (256 TiB): extents whose byte size passes this, or
// overflows, at any profile point are rejected, so that nothing downstream overflows.
inline constexpr uint64_t kMaxPlanTensorBytes = uint64_t(1) << 48;

// Throws kiln::Error(kInvalidPlan) at the first thing of `plan` that a run could not trust:
// unknown ops or tactics, node arities, graph structure, profiles that do not match the
// inputs, stored types and shapes that differ from what the ops infer at the profile points,
// and a memory plan whose blocks do not hold what the nodes write.
void verify_loaded_plan(const plan::PlanContents& plan);

}  // namespace kiln::detail

#ifdef KILN_HAVE_CUDA
namespace kiln::cuda {
// For CUDA targets (defined in backends/cuda/plan_tactics.cu): "" when `tactic` is a tactic
// the CUDA executor can run `node` with (with `has_params`: one that takes algorithm
// parameters), else what is wrong.
std::string check_loaded_tactic(const ir::Node& node, const std::string& tactic, bool has_params);
}  // namespace kiln::cuda
#endif
