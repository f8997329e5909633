#include "backends/cuda/softmax.cuh"

namespace kiln::cuda {

namespace {

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a > b || isnan(a) ? a : b; }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// The last axis: one block per contiguous line.
template <typename T>
__global__ void softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                    int64_t n, bool log) {
  __shared__ float max_scratch[32];
  __shared__ double sum_scratch[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * n;
    T* out = y + row * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = MaxOp()(m, to_float(in[i]));
    m = block_reduce(m, MaxOp(), max_scratch);
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += double(expf(to_float(in[i]) - m));
    s = block_reduce(s, SumOp(), sum_scratch);
    if (log) {
      const float log_sum = float(::log(s));
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        out[i] = from_float<T>(to_float(in[i]) - m - log_sum);
      }
    } else {
      const float inv = float(1.0 / s);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        out[i] = from_float<T>(expf(to_float(in[i]) - m) * inv);
      }
    }
  }
}

// Another axis: one thread per (outer, inner) line, strided by `inner` (neighbouring threads
// read neighbouring elements).
template <typename T>
__global__ void softmax_columns_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines,
                                       int64_t n, int64_t inner, bool log) {
  KILN_GRID_STRIDE_LOOP(line, lines) {
    const int64_t o = line / inner;
    const int64_t j = line % inner;
    const T* in = x + o * n * inner + j;
    T* out = y + o * n * inner + j;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = MaxOp()(m, to_float(in[i * inner]));
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += double(expf(to_float(in[i * inner]) - m));
    const float log_sum = float(::log(s));
    const float inv = float(1.0 / s);
    for (int64_t i = 0; i < n; ++i) {
      const float v = to_float(in[i * inner]) - m;
      out[i * inner] = from_float<T>(log ? v - log_sum : expf(v) * inv);
    }
  }
}

}  // namespace

void launch_softmax(const ir::Node& node, bool log, DataType dtype, const void* x, void* y,
                    int64_t outer, int64_t n, int64_t inner, cudaStream_t stream) {
  if (outer * n * inner == 0) return;
  dispatch_float(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (inner == 1) {
      const unsigned blocks = unsigned(outer < 65536 * 8 ? outer : 65536 * 8);
      const int threads = n >= 256 ? 256 : (n >= 128 ? 128 : 64);
      softmax_rows_kernel<T><<<blocks, threads, 0, stream>>>(in, out, outer, n, log);
    } else {
      softmax_columns_kernel<T><<<grid_for(outer * inner), kBlock, 0, stream>>>(in, out, outer * inner,
                                                                               n, inner, log);
    }
  });
}

namespace {

void run_softmax(RunContext& rc, bool log) {
  const DeviceTensor& x = rc.input(0);
  const int64_t rank = int64_t(x.shape.size());
  int64_t axis = rc.node.attr_int("axis", -1);
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape[size_t(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[size_t(d)];
  const int64_t n = rank == 0 ? 1 : x.shape[size_t(axis)];
  launch_softmax(rc.node, log, x.dtype, x.data, rc.output(0).data, outer, n, inner, rc.stream);
}

bool softmax_supported(const NodeQuery& q) {
  return is_float16_or_32(q.input(0).dtype) && !q.input(0).shape.empty();
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Softmax", "cuda_softmax", {}, softmax_supported,
                                    [](RunContext& rc) { run_softmax(rc, false); }});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{"LogSoftmax", "cuda_softmax", {}, softmax_supported,
                                    [](RunContext& rc) { run_softmax(rc, true); }});

}  // namespace
}  // namespace kiln::cuda
