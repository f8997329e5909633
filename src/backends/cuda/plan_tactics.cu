// The runtime's check of a loaded plan's CUDA tactics (runtime/plan_verifier.h).
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_kernel.h"
#include "runtime/plan_verifier.h"

namespace kiln::cuda {

std::string check_loaded_tactic(const ir::Node& node, const std::string& tactic, bool has_params) {
  if (tactic == kShapeTimeTactic || tactic == kRuntimeSelectTactic || tactic == kViewAliasTactic) {
    if (has_params) return cat("tactic '", tactic, "' takes no algorithm parameters");
    return "";
  }
  const CudaKernel* k = CudaKernelRegistry::instance().find(node.op, tactic);
  if (k == nullptr)
    return cat("tactic '", tactic, "' is not a CUDA kernel of ", node.op, " in this kiln");
  if (has_params && !k->tunable) {
    return cat("CUDA tactic '", tactic, "' takes no algorithm parameters, but the plan gives some");
  }
  return "";
}

}  // namespace kiln::cuda
