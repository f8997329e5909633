// Range's output length, shared by the CPU op (src/ops/shape_ops.cpp) and the CUDA kernel of
// Ranges whose operands arrive at run time (src/backends/cuda/range.cu).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

// max(ceil((limit - start) / delta), 0) for scalar start, limit and delta, exact for integers.
// Throws kiln::Error(kInvalidModel) naming `node` for a zero delta or non-finite float operands.
int64_t range_length(const ir::Node& node, const Tensor& start, const Tensor& limit,
                     const Tensor& delta);

}  // namespace kiln::ops
