// Elementwise kernels: binary ops with numpy broadcasting (arithmetic, Pow, Max/Min,
// comparisons, logical ops, PRelu), unary math and activations, Where and Cast. Float16 and
// bfloat16 are storage types: every float op computes in float32; integer ops compute in
// int64 and wrap to the storage type as the CPU reference does.
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

enum class UnaryOp : int {
  kRelu, kSigmoid, kTanh, kErf, kExp, kLog, kSqrt, kReciprocal, kNeg, kAbs, kSign, kFloor, kCeil,
  kRound, kSin, kCos, kGelu, kGeluTanh, kLeakyRelu, kElu, kSelu, kHardSigmoid, kHardSwish,
  kSoftplus, kSoftsign, kMish, kClip, kThresholdedRelu, kNot, kIdentity,
};

// Parameters of the activations that have them (alpha, beta, gamma; clip bounds).
struct UnaryParams {
  float alpha = 0;
  float beta = 0;
  float gamma = 0;
  bool has_min = false;
  bool has_max = false;
};

// y = op(x) over n elements of `dtype` (float32/float16/bfloat16; int32/int64 for Relu, Neg,
// Abs, Sign and Identity; bool for Not and Identity).
void launch_unary(const ir::Node& node, UnaryOp op, const UnaryParams& params, DataType dtype,
                  const void* x, void* y, int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda
