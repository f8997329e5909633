// Hardmax along one axis (default -1): 1 at the first maximum of each line, 0 elsewhere. The
// reference walks the line keeping `best` unless x[i] > x[best], so a NaN is never chosen,
// except at position 0, where it stays chosen (every comparison with it is false). The
// parallel form: among the non-NaN values the largest, ties going to the lower index; position
// 0 when x[0] is NaN. float16/bfloat16 compare in float32, float64 in double.
#include <cmath>

#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {
namespace {

template <typename T>
using CompareOf = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
__device__ __forceinline__ CompareOf<T> compare_value(T v) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return to_float(v);
  }
}

template <typename T>
__device__ __forceinline__ T one_or_zero(bool one) {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) {
    return T(one ? 1 : 0);
  } else {
    return from_float<T>(one ? 1.0f : 0.0f);
  }
}

// Lines along a strided axis (inner > 1): a thread per line, the reference's serial walk
// (neighbouring threads read neighbouring elements).
template <typename T>
__global__ void hardmax_strided_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines,
                                       int64_t n, int64_t inner) {
  KILN_GRID_STRIDE_LOOP(line, lines) {
    const int64_t base = (line / inner) * n * inner + line % inner;
    int64_t best = 0;
    CompareOf<T> best_value = compare_value(x[base]);
    for (int64_t i = 1; i < n; ++i) {
      const CompareOf<T> v = compare_value(x[base + i * inner]);
      if (v > best_value) {
        best = i;
        best_value = v;
      }
    }
    for (int64_t i = 0; i < n; ++i) y[base + i * inner] = one_or_zero<T>(i == best);
  }
}

// Contiguous lines (inner == 1): a warp per line.
template <typename T>
__global__ void hardmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines,
                                    int64_t n) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t line = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; line < lines;
       line += warps) {
    const T* xl = x + line * n;
    CompareOf<T> best_value = 0;
    int64_t best = -1;  // -1: no non-NaN value seen
    for (int64_t i = lane; i < n; i += 32) {
      const CompareOf<T> v = compare_value(xl[i]);
      if (!isnan(v) && (best < 0 || v > best_value)) {
        best = i;
        best_value = v;
      }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
      const CompareOf<T> other_value = __shfl_xor_sync(0xffffffffu, best_value, offset);
      const int64_t other = __shfl_xor_sync(0xffffffffu, best, offset);
      const bool take = other >= 0 && (best < 0 || other_value > best_value ||
                                       (other_value == best_value && other < best));
      if (take) {
        best = other;
        best_value = other_value;
      }
    }
    if (best < 0 || isnan(compare_value(xl[0]))) best = 0;
    for (int64_t i = lane; i < n; i += 32) y[line * n + i] = one_or_zero<T>(i == best);
  }
}

template <typename Fn>
void dispatch_hardmax(const ir::Node& node, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kFloat64) return fn(Tag<double>{});
  dispatch_float(node, dtype, fn);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Hardmax",
    "cuda_hardmax",
    {},
    [](const NodeQuery& q) {
      return is_float16_or_32(q.input(0).dtype) || q.input(0).dtype == DataType::kFloat64;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t total = x.numel();
      if (total == 0) return;
      const int64_t rank = int64_t(x.shape.size());
      int64_t axis = rc.node.attr_int("axis", -1);
      if (axis < 0) axis += rank;
      const int64_t n = x.shape[size_t(axis)];
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[size_t(d)];
      const int64_t lines = total / n;
      dispatch_hardmax(rc.node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (inner == 1) {
          constexpr int kWarpsPerBlock = kBlock / 32;
          const int64_t blocks =
              std::min<int64_t>((lines + kWarpsPerBlock - 1) / kWarpsPerBlock, 65536 * 8);
          hardmax_rows_kernel<T><<<unsigned(blocks), kBlock, 0, rc.stream>>>(
              x.as<T>(), rc.output(0).as<T>(), lines, n);
        } else {
          hardmax_strided_kernel<T><<<grid_for(lines), kBlock, 0, rc.stream>>>(
              x.as<T>(), rc.output(0).as<T>(), lines, n, inner);
        }
      });
    }});

}  // namespace
}  // namespace kiln::cuda
