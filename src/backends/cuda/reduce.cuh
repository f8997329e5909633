// Reductions over any set of axes (ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum) and
// the global poolings that are reductions over the spatial dims (GlobalAveragePool,
// GlobalMaxPool). Float types; accumulation in double, as the CPU reference does.
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

enum class ReduceKind : int { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSum };

// y[slot] = reduction of x over the dims with reduced[d] (y holds the kept dims in order).
void launch_reduce(const ir::Node& node, ReduceKind kind, DataType dtype, const void* x, void* y,
                   const Dims& shape, const std::vector<bool>& reduced, cudaStream_t stream);

}  // namespace kiln::cuda
