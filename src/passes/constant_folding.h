// Constant folding: a node whose inputs are all constants is evaluated with its reference
// compute at build time and its outputs become constants ("Transpose(W) -> W'", the Shape
// arithmetic of static dims, Cast of weights). Outputs larger than kMaxFoldedBytes are kept as
// nodes so that the plan does not grow by more than it saves.
#pragma once

#include "passes/pass.h"

namespace kiln::passes {

inline constexpr size_t kMaxFoldedBytes = size_t(64) << 20;

std::unique_ptr<Pass> make_constant_folding();

}  // namespace kiln::passes
