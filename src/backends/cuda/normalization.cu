#include "backends/cuda/normalization.cuh"
#include "backends/cuda/row_kernels.cuh"

namespace kiln::cuda {

namespace {

// LayerNormalization and RMSNormalization over rows of n contiguous elements, as row kernels
// (row_kernels.cuh): the row is read once into registers, its statistics reduced across the
// warp or block (mean, then squared deviations from it: two passes over registers, no
// cancellation), and written once. kRms: no mean, no bias, y = x * (1 / rms) * scale.
template <bool kWarp, typename Op>
__device__ __forceinline__ float row_all_reduce(float v, Op op, float* scratch) {
  if constexpr (kWarp) {
    return warp_all_reduce(v, op);
  } else {
    return block_reduce(v, op, scratch);
  }
}

struct RowNormArgs {
  const void* x;
  const void* scale;
  const void* bias;  // nullptr: none
  void* y;
  float* mean_out;     // nullptr: not wanted
  float* inv_std_out;  // nullptr: not wanted
  int64_t rows;
  int64_t n;
  float epsilon;
};

template <typename T, int kVec, int kItems, bool kWarp, bool kRms>
__global__ void __launch_bounds__(kWarp ? 32 * kWarpRowsPerBlock : kMaxRowBlock)
    row_norm_kernel(RowNormArgs a) {
  __shared__ float scratch[32];
  const T* __restrict__ x = static_cast<const T*>(a.x);
  const T* __restrict__ scale = static_cast<const T*>(a.scale);
  const T* __restrict__ bias = static_cast<const T*>(a.bias);
  T* __restrict__ y = static_cast<T*>(a.y);
  const int n = int(a.n);
  const float inv_n = 1.0f / float(n);
  const int stride = kWarp ? 32 : int(blockDim.x);
  const int t = kWarp ? int(threadIdx.x % 32) : int(threadIdx.x);
  const int64_t rows_per_block = kWarp ? blockDim.x / 32 : 1;
  const int64_t first = int64_t(blockIdx.x) * rows_per_block + (kWarp ? threadIdx.x / 32 : 0);
  for (int64_t row = first; row < a.rows; row += int64_t(gridDim.x) * rows_per_block) {
    const T* in = x + row * n;
    T* out = y + row * n;
    float v[kItems][kVec];
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const int at = (t + stride * i) * kVec;
      if (at < n) {
        load_floats<T, kVec>(in + at, v[i]);
      } else {
#pragma unroll
        for (int k = 0; k < kVec; ++k) v[i][k] = 0.0f;
      }
#pragma unroll
      for (int k = 0; k < kVec; ++k) s += kRms ? v[i][k] * v[i][k] : v[i][k];
    }
    s = row_all_reduce<kWarp>(s, FloatSum(), scratch);
    float mean = 0.0f, variance;
    if constexpr (kRms) {
      variance = s * inv_n;  // the mean of squares
    } else {
      mean = s * inv_n;
      float q = 0.0f;
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        if ((t + stride * i) * kVec >= n) continue;
#pragma unroll
        for (int k = 0; k < kVec; ++k) {
          const float d = v[i][k] - mean;
          q += d * d;
        }
      }
      variance = row_all_reduce<kWarp>(q, FloatSum(), scratch) * inv_n;
    }
    const float inv_std = 1.0f / sqrtf(variance + a.epsilon);
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const int at = (t + stride * i) * kVec;
      if (at >= n) continue;
      float g[kVec];
      load_floats<T, kVec>(scale + at, g);
      if constexpr (kRms) {
#pragma unroll
        for (int k = 0; k < kVec; ++k) v[i][k] = v[i][k] * inv_std * g[k];
      } else {
        float b[kVec];
        if (bias) {
          load_floats<T, kVec>(bias + at, b);
        } else {
#pragma unroll
          for (int k = 0; k < kVec; ++k) b[k] = 0.0f;
        }
#pragma unroll
        for (int k = 0; k < kVec; ++k) v[i][k] = (v[i][k] - mean) * inv_std * g[k] + b[k];
      }
      store_floats<T, kVec>(out + at, v[i]);
    }
    if (t == 0) {
      if (a.mean_out) a.mean_out[row] = mean;
      if (a.inv_std_out) a.inv_std_out[row] = inv_std;
    }
  }
}

// Rows too long for registers: one block per row, passes over global memory.
template <typename T, bool kRms>
__global__ void row_norm_long_kernel(RowNormArgs a) {
  __shared__ float scratch[32];
  const T* __restrict__ x = static_cast<const T*>(a.x);
  const T* __restrict__ scale = static_cast<const T*>(a.scale);
  const T* __restrict__ bias = static_cast<const T*>(a.bias);
  T* __restrict__ y = static_cast<T*>(a.y);
  const int64_t n = a.n;
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const T* in = x + row * n;
    T* out = y + row * n;
    float mean = 0.0f;
    if constexpr (!kRms) {
      float s = 0.0f;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += to_float(in[i]);
      mean = block_reduce(s, FloatSum(), scratch) / float(n);
    }
    float q = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float d = to_float(in[i]) - mean;
      q += d * d;
    }
    const float variance = block_reduce(q, FloatSum(), scratch) / float(n);
    const float inv_std = 1.0f / sqrtf(variance + a.epsilon);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float b = (!kRms && bias) ? to_float(bias[i]) : 0.0f;
      out[i] = from_float<T>((to_float(in[i]) - mean) * inv_std * to_float(scale[i]) + b);
    }
    if (threadIdx.x == 0) {
      if (a.mean_out) a.mean_out[row] = mean;
      if (a.inv_std_out) a.inv_std_out[row] = inv_std;
    }
  }
}

template <typename T, bool kRms>
void launch_row_norm(const ir::Node& node, const RowNormArgs& a, cudaStream_t stream) {
  const RowPlan plan = plan_rows(a.n, sizeof(T), {a.x, a.y, a.scale, a.bias});
  const int64_t grid_cap = int64_t(1) << 30;
  if (plan.items == 0) {
    const unsigned blocks = unsigned(a.rows < grid_cap ? a.rows : grid_cap);
    row_norm_long_kernel<T, kRms><<<blocks, kMaxRowBlock, 0, stream>>>(a);
    return;
  }
  dispatch_row_plan<T>(node, plan, [&](auto vec, auto items) {
    constexpr int kVec = decltype(vec)::value;
    constexpr int kItems = decltype(items)::value;
    if (plan.threads == 32) {
      const int64_t blocks = (a.rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock;
      row_norm_kernel<T, kVec, kItems, true, kRms>
          <<<unsigned(blocks < grid_cap ? blocks : grid_cap), 32 * kWarpRowsPerBlock, 0, stream>>>(
              a);
    } else if constexpr (kItems == kRowRegisterBudget / kVec) {
      row_norm_kernel<T, kVec, kItems, false, kRms>
          <<<unsigned(a.rows < grid_cap ? a.rows : grid_cap), plan.threads, 0, stream>>>(a);
    }
  });
}

void launch_row_norm(const ir::Node& node, bool rms, DataType dtype, const RowNormArgs& a,
                     cudaStream_t stream) {
  if (a.rows == 0 || a.n == 0) return;
  dispatch_float(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (rms) {
      launch_row_norm<T, true>(node, a, stream);
    } else {
      launch_row_norm<T, false>(node, a, stream);
    }
  });
}

}  // namespace

void launch_layer_norm(const ir::Node& node, DataType dtype, const void* x, const void* scale,
                       const void* bias, void* y, float* mean_out, float* inv_std_out, int64_t rows,
                       int64_t n, double epsilon, cudaStream_t stream) {
  launch_row_norm(node, false, dtype,
                  RowNormArgs{x, scale, bias, y, mean_out, inv_std_out, rows, n, float(epsilon)},
                  stream);
}

namespace {

int64_t normalized_axis(const ir::Node& node, size_t rank) {
  const int64_t axis = node.attr_int("axis", -1);
  return axis < 0 ? axis + int64_t(rank) : axis;
}

// Scale and bias must hold exactly one row's worth of values laid out as the row (the usual
// [d_axis..d_last] weights), not vary across rows.
bool is_row_param(const Dims& param, const Dims& x, int64_t axis) {
  if (param.size() > x.size()) return false;
  const Dims strides = broadcast_strides_to(param, x);
  int64_t expected = 1;
  for (size_t d = x.size(); d-- > 0;) {
    if (x[d] == 1) continue;
    if (int64_t(d) < axis) {
      if (strides[d] != 0) return false;
    } else {
      if (strides[d] != expected) return false;
      expected *= x[d];
    }
  }
  return true;
}

// [rows, n] around the first normalized axis.
void split_rows(const Dims& shape, int64_t axis, int64_t* rows, int64_t* n) {
  *rows = *n = 1;
  for (size_t d = 0; d < shape.size(); ++d) (int64_t(d) < axis ? *rows : *n) *= shape[d];
}

// Scale (and bias) in x's type, each exactly one row's values broadcast over the rows (a
// parameter varying across rows, or of another type, is refused).
bool row_params_supported(const NodeQuery& q, size_t count) {
  const TensorInfo& x = q.input(0);
  if (!is_float16_or_32(x.dtype) || x.shape.empty()) return false;
  const int64_t axis = normalized_axis(*q.node, x.shape.size());
  for (size_t i = 1; i <= count; ++i) {
    if (!q.has_input(i)) continue;
    if (q.input(i).dtype != x.dtype || !is_row_param(q.input(i).shape, x.shape, axis)) return false;
  }
  // Rows are indexed with 32-bit offsets inside the row kernels.
  int64_t rows, n;
  split_rows(x.shape, axis, &rows, &n);
  return n < (int64_t(1) << 31);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "LayerNormalization",
    "cuda_layer_norm",
    {},
    [](const NodeQuery& q) {
      if (!row_params_supported(q, 2)) return false;
      for (size_t i = 1; i < q.outputs.size(); ++i) {
        if (q.has_output(i) && q.outputs[i].dtype != DataType::kFloat32) return false;
      }
      return true;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      int64_t rows, n;
      split_rows(x.shape, normalized_axis(rc.node, x.shape.size()), &rows, &n);
      auto optional_output = [&](size_t i) {
        return i < rc.outputs.size() && rc.outputs[i].present ? rc.outputs[i].as<float>() : nullptr;
      };
      launch_layer_norm(rc.node, x.dtype, x.data, rc.input(1).data,
                        rc.has_input(2) ? rc.input(2).data : nullptr, rc.output(0).data,
                        optional_output(1), optional_output(2), rows, n,
                        rc.node.attr_float("epsilon", 1e-5), rc.stream);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RMSNormalization",
    "cuda_rms_norm",
    {},
    [](const NodeQuery& q) { return row_params_supported(q, 1); },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      int64_t rows, n;
      split_rows(x.shape, normalized_axis(rc.node, x.shape.size()), &rows, &n);
      const float epsilon = float(rc.node.attr_float("epsilon", 1e-5));
      launch_row_norm(rc.node, true, x.dtype,
                      RowNormArgs{x.data, rc.input(1).data, nullptr, rc.output(0).data, nullptr,
                                  nullptr, rows, n, epsilon},
                      rc.stream);
    }});

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = x * a[c] + b[c] with a = scale / sqrt(var + epsilon) and
// b = bias - mean * a computed in double, as the reference does. One block row per (n, c) plane.

__device__ __forceinline__ double load_param(const void* p, int is16, int isbf, int64_t c) {
  if (is16) return double(__half2float(static_cast<const half*>(p)[c]));
  if (isbf) return double(__bfloat162float(static_cast<const bfloat16*>(p)[c]));
  return double(static_cast<const float*>(p)[c]);
}

struct BatchNormParams {
  const void* scale;
  const void* bias;
  const void* mean;
  const void* var;
  int is_half[4];
  int is_bf16[4];
};

template <typename T>
__global__ void batch_norm_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes,
                                  int64_t channels, int64_t spatial, BatchNormParams p,
                                  double epsilon) {
  for (int64_t plane = blockIdx.y; plane < planes; plane += gridDim.y) {
    const int64_t c = plane % channels;
    const double mul = load_param(p.scale, p.is_half[0], p.is_bf16[0], c) /
                       sqrt(load_param(p.var, p.is_half[3], p.is_bf16[3], c) + epsilon);
    const double add = load_param(p.bias, p.is_half[1], p.is_bf16[1], c) -
                       load_param(p.mean, p.is_half[2], p.is_bf16[2], c) * mul;
    const float a = float(mul), b = float(add);
    const T* in = x + plane * spatial;
    T* out = y + plane * spatial;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < spatial;
         i += int64_t(blockDim.x) * gridDim.x) {
      out[i] = from_float<T>(to_float(in[i]) * a + b);
    }
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "BatchNormalization",
    "cuda_batch_norm",
    {},
    [](const NodeQuery& q) {
      for (size_t i = 0; i < 5; ++i) {
        if (!q.has_input(i) || !is_float16_or_32(q.input(i).dtype)) return false;
      }
      return q.input(0).shape.size() >= 2;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t batches = x.shape[0];
      const int64_t channels = x.shape[1];
      int64_t spatial = 1;
      for (size_t d = 2; d < x.shape.size(); ++d) spatial *= x.shape[d];
      const int64_t planes = batches * channels;
      if (planes * spatial == 0) return;
      BatchNormParams p{
          rc.input(1).data, rc.input(2).data, rc.input(3).data, rc.input(4).data, {}, {}};
      for (int i = 0; i < 4; ++i) {
        p.is_half[i] = rc.input(size_t(i) + 1).dtype == DataType::kFloat16;
        p.is_bf16[i] = rc.input(size_t(i) + 1).dtype == DataType::kBFloat16;
      }
      const double epsilon = rc.node.attr_float("epsilon", 1e-5);
      const int64_t x_blocks = (spatial + kBlock - 1) / kBlock;
      const dim3 grid(unsigned(x_blocks < 64 ? x_blocks : 64),
                      unsigned(planes < 65535 ? planes : 65535));
      dispatch_float(rc.node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        batch_norm_kernel<T><<<grid, kBlock, 0, rc.stream>>>(x.as<T>(), rc.output(0).as<T>(),
                                                             planes, channels, spatial, p, epsilon);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
