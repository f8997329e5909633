#include "backends/cuda/row_kernels.cuh"
#include "backends/cuda/softmax.cuh"

namespace kiln::cuda {

namespace {

// Row softmax along the last axis. Rows that fit in registers are read once and written once:
// one warp per row (several rows per block) or, for long rows, one block per row. `kWarp`
// selects the reduction scope; each thread holds kItems accesses of kVec elements.
template <bool kWarp, typename Op>
__device__ __forceinline__ float row_all_reduce(float v, Op op, float* scratch) {
  if constexpr (kWarp) {
    return warp_all_reduce(v, op);
  } else {
    return block_reduce(v, op, scratch);
  }
}

template <typename T, int kVec, int kItems, bool kWarp, bool kLog>
__global__ void __launch_bounds__(kWarp ? 32 * kWarpRowsPerBlock : kMaxRowBlock)
    softmax_row_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int n) {
  __shared__ float scratch[32];
  const int stride = kWarp ? 32 : int(blockDim.x);
  const int t = kWarp ? int(threadIdx.x % 32) : int(threadIdx.x);
  const int64_t rows_per_block = kWarp ? blockDim.x / 32 : 1;
  const int64_t first = int64_t(blockIdx.x) * rows_per_block + (kWarp ? threadIdx.x / 32 : 0);
  for (int64_t row = first; row < rows; row += int64_t(gridDim.x) * rows_per_block) {
    const T* in = x + row * n;
    T* out = y + row * n;
    float v[kItems][kVec];
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const int at = (t + stride * i) * kVec;
      if (at < n) {
        load_floats<T, kVec>(in + at, v[i]);
      } else {
#pragma unroll
        for (int k = 0; k < kVec; ++k) v[i][k] = -INFINITY;  // exp gives 0: no contribution
      }
#pragma unroll
      for (int k = 0; k < kVec; ++k) m = NanMax()(m, v[i][k]);
    }
    m = row_all_reduce<kWarp>(m, NanMax(), scratch);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        const float e = expf(v[i][k] - m);
        if constexpr (!kLog) v[i][k] = e;
        s += e;
      }
    }
    s = row_all_reduce<kWarp>(s, FloatSum(), scratch);
    const float log_sum = kLog ? logf(s) : 0.0f;
    const float inv_sum = kLog ? 0.0f : 1.0f / s;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const int at = (t + stride * i) * kVec;
      if (at >= n) continue;
#pragma unroll
      for (int k = 0; k < kVec; ++k) v[i][k] = kLog ? (v[i][k] - m) - log_sum : v[i][k] * inv_sum;
      store_floats<T, kVec>(out + at, v[i]);
    }
  }
}

// Rows too long for registers: one block per row, three passes over global memory (the row is
// then usually still in L2 for the second and third).
template <typename T>
__global__ void softmax_long_row_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                        int64_t n, bool log) {
  __shared__ float scratch[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * n;
    T* out = y + row * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = NanMax()(m, to_float(in[i]));
    m = block_reduce(m, NanMax(), scratch);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += expf(to_float(in[i]) - m);
    s = block_reduce(s, FloatSum(), scratch);
    const float log_sum = logf(s);
    const float inv_sum = 1.0f / s;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = to_float(in[i]) - m;
      out[i] = from_float<T>(log ? v - log_sum : expf(v) * inv_sum);
    }
  }
}

// Another axis: one thread per (outer, inner) line, strided by `inner` (neighbouring threads
// read neighbouring elements). Computes in A: float, or double for float64 (every axis, the
// last too: float64 is rare enough not to need the row kernels).
template <typename A>
__device__ __forceinline__ A exp_in(A v) {
  if constexpr (std::is_same_v<A, double>) {
    return exp(v);
  } else {
    return expf(v);
  }
}

template <typename T, typename A = float>
__global__ void softmax_columns_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines,
                                       int64_t n, int64_t inner, bool log) {
  KILN_GRID_STRIDE_LOOP(line, lines) {
    const int64_t o = line / inner;
    const int64_t j = line % inner;
    const T* in = x + o * n * inner + j;
    T* out = y + o * n * inner + j;
    A m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      const A v = widen_to<A>(in[i * inner]);
      m = (m > v || isnan(m)) ? m : v;  // NaN wins, as NanMax
    }
    A s = 0;
    for (int64_t i = 0; i < n; ++i) s += exp_in(widen_to<A>(in[i * inner]) - m);
    const A log_sum = std::is_same_v<A, double> ? A(::log(double(s))) : A(logf(float(s)));
    const A inv = A(1) / s;
    for (int64_t i = 0; i < n; ++i) {
      const A v = widen_to<A>(in[i * inner]) - m;
      out[i * inner] = narrow_to<T>(log ? v - log_sum : exp_in(v) * inv);
    }
  }
}

template <typename T>
void launch_softmax_rows(const ir::Node& node, bool log, const T* x, T* y, int64_t rows, int64_t n,
                         cudaStream_t stream) {
  const RowPlan plan = plan_rows(n, sizeof(T), {x, y});
  if (plan.items == 0) {
    const unsigned blocks = unsigned(rows < 65536 * 8 ? rows : 65536 * 8);
    softmax_long_row_kernel<T><<<blocks, 1024, 0, stream>>>(x, y, rows, n, log);
    return;
  }
  dispatch_row_plan<T>(node, plan, [&](auto vec, auto items) {
    constexpr int kVec = decltype(vec)::value;
    constexpr int kItems = decltype(items)::value;
    if (plan.threads == 32) {
      constexpr int kRowsPerBlock = kWarpRowsPerBlock;
      const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
      const unsigned grid = unsigned(blocks < (int64_t(1) << 30) ? blocks : (int64_t(1) << 30));
      if (log) {
        softmax_row_kernel<T, kVec, kItems, true, true>
            <<<grid, 32 * kRowsPerBlock, 0, stream>>>(x, y, rows, int(n));
      } else {
        softmax_row_kernel<T, kVec, kItems, true, false>
            <<<grid, 32 * kRowsPerBlock, 0, stream>>>(x, y, rows, int(n));
      }
    } else if constexpr (kItems == kRowRegisterBudget / kVec) {
      const unsigned grid = unsigned(rows < (int64_t(1) << 30) ? rows : (int64_t(1) << 30));
      if (log) {
        softmax_row_kernel<T, kVec, kItems, false, true>
            <<<grid, plan.threads, 0, stream>>>(x, y, rows, int(n));
      } else {
        softmax_row_kernel<T, kVec, kItems, false, false>
            <<<grid, plan.threads, 0, stream>>>(x, y, rows, int(n));
      }
    }
  });
}

}  // namespace

void launch_softmax(const ir::Node& node, bool log, DataType dtype, const void* x, void* y,
                    int64_t outer, int64_t n, int64_t inner, cudaStream_t stream) {
  if (outer * n * inner == 0) return;
  if (dtype == DataType::kFloat64) {
    softmax_columns_kernel<double, double><<<grid_for(outer * inner), kBlock, 0, stream>>>(
        static_cast<const double*>(x), static_cast<double*>(y), outer * inner, n, inner, log);
    return;
  }
  dispatch_float(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (inner == 1) {
      launch_softmax_rows<T>(node, log, in, out, outer, n, stream);
    } else {
      softmax_columns_kernel<T>
          <<<grid_for(outer * inner), kBlock, 0, stream>>>(in, out, outer * inner, n, inner, log);
    }
  });
}

namespace {

// The [outer, n, inner] view of the input around the node's axis.
void split_axis(const RunContext& rc, int64_t* outer, int64_t* n, int64_t* inner) {
  const Dims& shape = rc.input(0).shape;
  const int64_t rank = int64_t(shape.size());
  int64_t axis = rc.node.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  *outer = *inner = 1;
  for (int64_t d = 0; d < axis; ++d) *outer *= shape[size_t(d)];
  for (int64_t d = axis + 1; d < rank; ++d) *inner *= shape[size_t(d)];
  *n = rank == 0 ? 1 : shape[size_t(axis)];
}

void run_softmax(RunContext& rc, bool log) {
  int64_t outer, n, inner;
  split_axis(rc, &outer, &n, &inner);
  launch_softmax(rc.node, log, rc.input(0).dtype, rc.input(0).data, rc.output(0).data, outer, n,
                 inner, rc.stream);
}

bool softmax_supported(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  return (is_float16_or_32(t) || t == DataType::kFloat64) && !q.input(0).shape.empty();
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Softmax", "cuda_softmax", {}, softmax_supported, [](RunContext& rc) {
      run_softmax(rc, false);
    }});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "LogSoftmax", "cuda_softmax", {}, softmax_supported, [](RunContext& rc) {
      run_softmax(rc, true);
    }});

}  // namespace
}  // namespace kiln::cuda
