// Range's types and output length, shared by the CPU op (src/ops/shape_ops.cpp) and the CUDA
// kernel (src/backends/cuda/range.cu), which computes the length when the operands arrive at
// run time.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

// The types Range makes: float32/64, float16, bfloat16, int16/32/64.
bool is_range_type(DataType t);

// max(ceil((limit - start) / delta), 0) for scalar start, limit and delta, exact for integers.
// Throws kiln::Error(kInvalidModel) naming `node` for a zero delta or non-finite float operands.
int64_t range_length(const ir::Node& node, const Tensor& start, const Tensor& limit,
                     const Tensor& delta);

}  // namespace kiln::ops
