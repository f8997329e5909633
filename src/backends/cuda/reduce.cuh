// Reductions over any set of axes (ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/
// LogSumExp), ArgMax/ArgMin, CumSum, and the global poolings that are reductions over the
// spatial dims (GlobalAveragePool, GlobalMaxPool, GlobalLpPool).
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

enum class ReduceKind : int {
  kSum,
  kMean,
  kMax,
  kMin,
  kProd,
  kSumSquare,
  kL1,
  kL2,
  kLogSum,
  kLogSumExp,
  kLp,  // (sum |x|^p)^(1/p), GlobalLpPool's
};

// y[slot] = reduction of x over the dims with reduced[d] (y holds the kept dims in order). Float
// types accumulate in double; integer types (every width, bool for Max/Min) exactly, as the
// reference. `p` is kLp's exponent.
void launch_reduce(const ir::Node& node, ReduceKind kind, DataType dtype, const void* x, void* y,
                   const Dims& shape, const std::vector<bool>& reduced, cudaStream_t stream,
                   double p = 2.0);

}  // namespace kiln::cuda
