// MatMul and Gemm through cuBLASLt: row-major operands (handled as the transposed
// column-major product), batched with strides, broadcast batch dims folded into the rows
// where possible and looped otherwise. Float32 computes in float32 (or TF32 when the builder
// flag kTF32 is set); float16/bfloat16 in float32; float64 in float64 (no epilogues). Descriptors
// and the chosen algorithm are cached per node and shape in the execution context.
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// What cuBLASLt applies while writing the product (after the bias, when there is one).
enum class GemmActivation { kNone, kRelu, kGeluTanh };

// One row-major product D = act(alpha * op(A) * op(B) + beta * C + bias), `batch` times with
// the given element strides between consecutive matrices. op(A) is [m, k], op(B) is [k, n];
// C is D itself unless `c` points elsewhere (laid out as D); bias holds n values.
struct GemmCall {
  DataType dtype = DataType::kFloat32;
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_d = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  void* d = nullptr;
  float alpha = 1.0f, beta = 0.0f;
  const void* c = nullptr;     // nullptr: C is D
  const void* bias = nullptr;  // nullptr: no bias
  GemmActivation activation = GemmActivation::kNone;
};

void launch_gemm(RunContext& rc, const GemmCall& call);

}  // namespace kiln::cuda
