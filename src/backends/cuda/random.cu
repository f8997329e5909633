// RandomUniform, RandomNormal, their Like forms and Bernoulli on the GPU, drawing the numbers
// of the CPU backend (src/ops/random.cpp): draw i of a node's stream is a pure function of the
// node's seed and i (ops/random_stream.h), so each thread computes its own. Values are made in
// double with the CPU's operations (no fused multiply-add; log, sqrt, sin and cos are CUDA's,
// within an ulp or two of the C library's) and stored as Cast stores a double: float16 and
// bfloat16 round through float32.
#include "backends/cuda/elementwise.cuh"
#include "ops/random_stream.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ void store_double(void* out, int64_t i, DataType t, double v) {
  switch (t) {
    case DataType::kFloat64:
      static_cast<double*>(out)[i] = v;
      return;
    case DataType::kFloat16:
      static_cast<half*>(out)[i] = __float2half_rn(float(v));
      return;
    case DataType::kBFloat16:
      static_cast<bfloat16*>(out)[i] = __float2bfloat16_rn(float(v));
      return;
    default:
      static_cast<float*>(out)[i] = float(v);
      return;
  }
}

__global__ void uniform_kernel(void* out, int64_t n, DataType t, uint64_t seed, double low,
                               double high) {
  const double span = high - low;
  KILN_GRID_STRIDE_LOOP(i, n) {
    store_double(out, i, t, __dadd_rn(low, __dmul_rn(span, ops::random_stream::unit(seed, i))));
  }
}

// Thread p makes the Box-Muller pair of elements 2p and 2p + 1.
__global__ void normal_kernel(void* out, int64_t n, DataType t, uint64_t seed, double mean,
                              double scale) {
  constexpr double kTwoPi = 6.283185307179586;  // 2 * pi rounded to double, as the CPU's
  KILN_GRID_STRIDE_LOOP(p, (n + 1) / 2) {
    const int64_t i = 2 * p;
    const double u1 = 1.0 - ops::random_stream::unit(seed, uint64_t(i));
    const double u2 = ops::random_stream::unit(seed, uint64_t(i) + 1);
    const double radius = sqrt(__dmul_rn(-2.0, log(u1)));
    const double angle = __dmul_rn(kTwoPi, u2);
    const double scaled = __dmul_rn(scale, radius);
    store_double(out, i, t, __dadd_rn(mean, __dmul_rn(scaled, cos(angle))));
    if (i + 1 < n) store_double(out, i + 1, t, __dadd_rn(mean, __dmul_rn(scaled, sin(angle))));
  }
}

// 1 or 0 in any non-sub-byte output type.
__device__ __forceinline__ void store_flag(void* out, int64_t i, DataType t, bool one) {
  switch (t) {
    case DataType::kFloat32:
      static_cast<float*>(out)[i] = one ? 1.0f : 0.0f;
      return;
    case DataType::kFloat64:
      static_cast<double*>(out)[i] = one ? 1.0 : 0.0;
      return;
    case DataType::kFloat16:
      static_cast<half*>(out)[i] = __float2half_rn(one ? 1.0f : 0.0f);
      return;
    case DataType::kBFloat16:
      static_cast<bfloat16*>(out)[i] = __float2bfloat16_rn(one ? 1.0f : 0.0f);
      return;
    case DataType::kInt16:
    case DataType::kUInt16:
      static_cast<uint16_t*>(out)[i] = one;
      return;
    case DataType::kInt32:
    case DataType::kUInt32:
      static_cast<uint32_t*>(out)[i] = one;
      return;
    case DataType::kInt64:
    case DataType::kUInt64:
      static_cast<uint64_t*>(out)[i] = one;
      return;
    default:
      static_cast<uint8_t*>(out)[i] = one;
      return;  // bool, int8, uint8
  }
}

__global__ void bernoulli_kernel(const void* p, DataType p_type, void* out, DataType t, int64_t n,
                                 uint64_t seed) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const double probability = load_wide(p, i, p_type).to_double();
    store_flag(out, i, t, ops::random_stream::unit(seed, uint64_t(i)) < probability);
  }
}

bool float_output(const NodeQuery& q) {
  return ops::random_stream::is_random_float_type(q.outputs.at(0).dtype);
}

// Float probabilities; the flags in a random float type, an integer type or bool.
bool bernoulli_supported(const NodeQuery& q) {
  const DataType out = q.outputs.at(0).dtype;
  return ops::random_stream::is_random_float_type(q.input(0).dtype) &&
         (is_floating_point(out) ? ops::random_stream::is_random_float_type(out)
                                 : !is_sub_byte(out));
}

void launch_check(const RunContext& rc) { check_cuda(cudaGetLastError(), rc.node, "launching"); }

void run_uniform(RunContext& rc) {
  const DeviceTensor& y = rc.output(0);
  const int64_t n = y.numel();
  if (n == 0) return;
  uniform_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(
      y.data, n, y.dtype, ops::random_stream::seed_for(rc.node), rc.node.attr_float("low", 0.0),
      rc.node.attr_float("high", 1.0));
  launch_check(rc);
}

void run_normal(RunContext& rc) {
  const DeviceTensor& y = rc.output(0);
  const int64_t n = y.numel();
  if (n == 0) return;
  normal_kernel<<<grid_for((n + 1) / 2), kBlock, 0, rc.stream>>>(
      y.data, n, y.dtype, ops::random_stream::seed_for(rc.node), rc.node.attr_float("mean", 0.0),
      rc.node.attr_float("scale", 1.0));
  launch_check(rc);
}

void run_bernoulli(RunContext& rc) {
  const DeviceTensor& p = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  const int64_t n = y.numel();
  if (n == 0) return;
  bernoulli_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(p.data, p.dtype, y.data, y.dtype, n,
                                                          ops::random_stream::seed_for(rc.node));
  launch_check(rc);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RandomUniform", "cuda_random_uniform", {}, float_output, run_uniform});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RandomUniformLike", "cuda_random_uniform", {}, float_output, run_uniform});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RandomNormal", "cuda_random_normal", {}, float_output, run_normal});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RandomNormalLike", "cuda_random_normal", {}, float_output, run_normal});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Bernoulli", "cuda_bernoulli", {}, bernoulli_supported, run_bernoulli});

}  // namespace
}  // namespace kiln::cuda
