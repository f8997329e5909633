// Range: start, start + delta, ... below limit (above for a negative delta). start, limit and
// delta are read on the host (the output length depends on them). Each element is computed
// from its index with the CPU backend's arithmetic: integers in wrapping 64-bit math; float32
// (and float16/bfloat16 with stash_type 1) as float(start) + float(i) * float(delta), without
// a fused multiply-add; float64 (and stash_type 11) in double.
#include "backends/cuda/cuda_common.cuh"
#include "ops/range_length.h"

namespace kiln::cuda {
namespace {

template <typename T>
__global__ void range_integer_kernel(T* out, int64_t n, uint64_t start, uint64_t delta) {
  KILN_GRID_STRIDE_LOOP(i, n) out[i] = T(int64_t(start + uint64_t(i) * delta));
}

__global__ void range_double_kernel(double* out, int64_t n, double start, double delta) {
  KILN_GRID_STRIDE_LOOP(i, n) out[i] = __dadd_rn(start, __dmul_rn(double(i), delta));
}

template <typename T>
__global__ void range_float_kernel(T* out, int64_t n, double start, double delta, bool in_double) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = in_double ? float(__dadd_rn(start, __dmul_rn(double(i), delta)))
                              : __fadd_rn(float(start), __fmul_rn(float(i), float(delta)));
    out[i] = from_float<T>(v);
  }
}

void run_range(RunContext& rc) {
  const Tensor& start = rc.host_input(0, "start");
  const Tensor& delta = rc.host_input(2, "delta");
  // Operands known only at run time: the output's extent waits for them, and the kernel
  // allocates the output (RunContext::allocate_output) once it has computed the length.
  const bool deferred = rc.outputs[0].data == nullptr && rc.allocate_output;
  DeviceTensor& out =
      deferred ? rc.allocate_output(
                     0, {ops::range_length(rc.node, start, rc.host_input(1, "limit"), delta)})
               : rc.outputs[0];
  const int64_t n = out.numel();
  if (n == 0) return;
  const unsigned grid = grid_for(n);
  switch (out.dtype) {
    case DataType::kInt16:
      range_integer_kernel<int16_t><<<grid, kBlock, 0, rc.stream>>>(
          out.as<int16_t>(), n, uint64_t(start.as_int64(0)), uint64_t(delta.as_int64(0)));
      break;
    case DataType::kInt32:
      range_integer_kernel<int32_t><<<grid, kBlock, 0, rc.stream>>>(
          out.as<int32_t>(), n, uint64_t(start.as_int64(0)), uint64_t(delta.as_int64(0)));
      break;
    case DataType::kInt64:
      range_integer_kernel<int64_t><<<grid, kBlock, 0, rc.stream>>>(
          out.as<int64_t>(), n, uint64_t(start.as_int64(0)), uint64_t(delta.as_int64(0)));
      break;
    case DataType::kFloat64:
      range_double_kernel<<<grid, kBlock, 0, rc.stream>>>(out.as<double>(), n, start.as_double(0),
                                                          delta.as_double(0));
      break;
    default: {
      const bool in_double =
          out.dtype != DataType::kFloat32 && rc.node.attr_int("stash_type", 1) == 11;
      dispatch_float(rc.node, out.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        range_float_kernel<T><<<grid, kBlock, 0, rc.stream>>>(out.as<T>(), n, start.as_double(0),
                                                              delta.as_double(0), in_double);
      });
    }
  }
  check_cuda(cudaGetLastError(), rc.node, "launching Range");
}

bool supports_range(const NodeQuery& q) { return ops::is_range_type(q.outputs.at(0).dtype); }

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Range", "cuda_range", {0, 1, 2}, supports_range, run_range});

}  // namespace
}  // namespace kiln::cuda
