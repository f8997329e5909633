// Det: the determinant of each [M, M] matrix in the last two dims ([*, M, M] -> [*]), as the
// CPU backend computes it: in double, by Gaussian elimination with partial pivoting (the first
// row of largest magnitude), the product of the pivots negated once per row swap, rounded once
// at the end; 1 for M = 0, 0 as soon as a pivot is 0. One block per matrix: the matrix lives
// in shared memory when it fits (else in scratch memory), the pivot search is a block
// reduction and each elimination step updates the rows below in parallel. The updates use
// separately rounded multiplies and subtractions, as the CPU code does.
#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxSharedDoubles = 5632;  // 44 KiB, with the static arrays under 48 KiB

template <typename T>
__global__ void det_kernel(const T* x, T* y, int64_t m, double* global_scratch, bool in_shared) {
  extern __shared__ double shared_matrix[];
  __shared__ double best_value[kThreads];
  __shared__ int64_t best_row[kThreads];
  __shared__ double det_shared;
  const int64_t matrix = blockIdx.x;
  const int64_t mm = m * m;
  double* a = in_shared ? shared_matrix : global_scratch + matrix * mm;
  const T* src = x + matrix * mm;
  for (int64_t i = threadIdx.x; i < mm; i += blockDim.x) a[i] = widen_to<double>(src[i]);
  if (threadIdx.x == 0) det_shared = 1.0;
  __syncthreads();
  for (int64_t col = 0; col < m; ++col) {
    // The first row (from col down) of largest magnitude in this column.
    double value = -1.0;  // NaN never wins, as in the CPU's scan with '>'
    int64_t row_of = -1;
    for (int64_t row = col + threadIdx.x; row < m; row += blockDim.x) {
      const double v = fabs(a[row * m + col]);
      if (v > value) {
        value = v;
        row_of = row;
      }
    }
    best_value[threadIdx.x] = value;
    best_row[threadIdx.x] = row_of;
    __syncthreads();
    if (threadIdx.x == 0) {
      // The CPU's scan from row col keeps the first strictly larger magnitude: the largest
      // candidate wins, the lower row among equals, and row col unless beaten.
      int64_t pivot = col;
      double pivot_abs = fabs(a[col * m + col]);
      for (int t = 0; t < int(blockDim.x); ++t) {
        if (best_row[t] < 0) continue;
        if (best_value[t] > pivot_abs || (best_value[t] == pivot_abs && best_row[t] < pivot)) {
          pivot_abs = best_value[t];
          pivot = best_row[t];
        }
      }
      best_row[0] = pivot;
      best_value[0] = a[pivot * m + col];  // read before any thread swaps rows
    }
    __syncthreads();
    const int64_t pivot = best_row[0];
    const double pivot_value = best_value[0];
    if (pivot_value == 0.0) {
      if (threadIdx.x == 0) det_shared = 0.0;
      break;  // uniform: every thread read the same pivot
    }
    if (pivot != col) {
      for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
        const double t = a[col * m + j];
        a[col * m + j] = a[pivot * m + j];
        a[pivot * m + j] = t;
      }
    }
    __syncthreads();
    if (threadIdx.x == 0) det_shared = (pivot != col ? -det_shared : det_shared) * pivot_value;
    // Rows below, the factor from the row's entry in this column: every other entry first,
    // then that entry, so that all see it unchanged.
    const int64_t width = m - col - 1;
    const int64_t below = m - col - 1;
    for (int64_t t = threadIdx.x; t < below * width; t += blockDim.x) {
      const int64_t row = col + 1 + t / width;
      const int64_t j = col + 1 + t % width;
      const double factor = a[row * m + col] / pivot_value;
      a[row * m + j] = __dsub_rn(a[row * m + j], __dmul_rn(factor, a[col * m + j]));
    }
    __syncthreads();
    for (int64_t row = col + 1 + threadIdx.x; row < m; row += blockDim.x) {
      const double factor = a[row * m + col] / pivot_value;
      a[row * m + col] = __dsub_rn(a[row * m + col], __dmul_rn(factor, a[col * m + col]));
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if constexpr (std::is_same_v<T, double>) {
      y[matrix] = det_shared;
    } else {
      y[matrix] = from_float<T>(float(det_shared));
    }
  }
}

void run_det(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  DeviceTensor& y = rc.outputs[0];
  const int64_t m = x.shape.back();
  const int64_t matrices = y.numel();
  if (matrices == 0) return;
  const bool in_shared = m * m <= kMaxSharedDoubles;
  double* global_scratch = nullptr;
  if (!in_shared) {
    global_scratch = reinterpret_cast<double*>(
        node_state<DeviceScratch>(rc).get(rc.node, size_t(matrices * m * m) * sizeof(double)));
  }
  const size_t shared = in_shared ? size_t(m * m) * sizeof(double) : 0;
  dispatch_float_or_double(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    det_kernel<T><<<unsigned(matrices), kThreads, shared, rc.stream>>>(x.as<T>(), y.as<T>(), m,
                                                                       global_scratch, in_shared);
  });
  check_cuda(cudaGetLastError(), rc.node, "launching Det");
}

bool supports_det(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  const Dims& s = q.input(0).shape;
  return (is_float16_or_32(t) || t == DataType::kFloat64) && s.size() >= 2 &&
         volume(Dims(s.begin(), s.end() - 2)) < (int64_t(1) << 31);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Det", "cuda_det", {}, supports_det, run_det});

}  // namespace
}  // namespace kiln::cuda
