// The attributes that decide how Cast/CastLike write their target, shared by the CPU op
// (src/ops/cast.cpp) and the CUDA kernel (src/backends/cuda/cast.cu).
#pragma once

#include "core/narrow_types.h"
#include "ir/graph.h"

namespace kiln::ops {

// Throws kiln::Error(kInvalidModel) naming the node when round_mode is not up, down or nearest.
E8M0Rounding e8m0_rounding_of(const ir::Node& node);

}  // namespace kiln::ops
