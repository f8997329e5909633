#include "backends/cuda/normalization.cuh"

namespace kiln::cuda {

namespace {

struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

template <typename T>
__global__ void layer_norm_kernel(const T* __restrict__ x, const T* __restrict__ scale,
                                  const T* __restrict__ bias, T* __restrict__ y,
                                  float* __restrict__ mean_out, float* __restrict__ inv_std_out,
                                  int64_t rows, int64_t n, double epsilon) {
  __shared__ double scratch[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* in = x + row * n;
    T* out = y + row * n;
    // Two passes (mean, then squared deviations), as the reference: no cancellation.
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += double(to_float(in[i]));
    const double mean = block_reduce(s, SumOp(), scratch) / double(n);
    double q = 0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const double d = double(to_float(in[i])) - mean;
      q += d * d;
    }
    const double variance = block_reduce(q, SumOp(), scratch) / double(n);
    const double inv_std = 1.0 / sqrt(variance + epsilon);
    const float mean_f = float(mean);
    const float inv_std_f = float(inv_std);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float b = bias ? to_float(bias[i]) : 0.0f;
      out[i] = from_float<T>((to_float(in[i]) - mean_f) * inv_std_f * to_float(scale[i]) + b);
    }
    if (threadIdx.x == 0) {
      if (mean_out) mean_out[row] = mean_f;
      if (inv_std_out) inv_std_out[row] = inv_std_f;
    }
  }
}

}  // namespace

void launch_layer_norm(const ir::Node& node, DataType dtype, const void* x, const void* scale,
                       const void* bias, void* y, float* mean_out, float* inv_std_out, int64_t rows,
                       int64_t n, double epsilon, cudaStream_t stream) {
  if (rows == 0 || n == 0) return;
  dispatch_float(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const unsigned blocks = unsigned(rows < 65536 * 8 ? rows : 65536 * 8);
    const int threads = n >= 256 ? 256 : (n >= 128 ? 128 : 64);
    layer_norm_kernel<T><<<blocks, threads, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(scale), static_cast<const T*>(bias),
        static_cast<T*>(y), mean_out, inv_std_out, rows, n, epsilon);
  });
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

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "LayerNormalization", "cuda_layer_norm", {},
    [](const NodeQuery& q) {
      const TensorInfo& x = q.input(0);
      if (!is_float16_or_32(x.dtype) || x.shape.empty()) return false;
      const int64_t axis = normalized_axis(*q.node, x.shape.size());
      for (size_t i = 1; i < 3; ++i) {
        if (!q.has_input(i)) continue;
        if (q.input(i).dtype != x.dtype || !is_row_param(q.input(i).shape, x.shape, axis)) return false;
      }
      for (size_t i = 1; i < q.outputs.size(); ++i) {
        if (q.has_output(i) && q.outputs[i].dtype != DataType::kFloat32) return false;
      }
      return true;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t axis = normalized_axis(rc.node, x.shape.size());
      int64_t rows = 1, n = 1;
      for (size_t d = 0; d < x.shape.size(); ++d) (int64_t(d) < axis ? rows : n) *= x.shape[d];
      auto optional_output = [&](size_t i) {
        return i < rc.outputs.size() && rc.outputs[i].present ? rc.outputs[i].as<float>() : nullptr;
      };
      launch_layer_norm(rc.node, x.dtype, x.data, rc.input(1).data,
                        rc.has_input(2) ? rc.input(2).data : nullptr, rc.output(0).data,
                        optional_output(1), optional_output(2), rows, n,
                        rc.node.attr_float("epsilon", 1e-5), rc.stream);
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
    "BatchNormalization", "cuda_batch_norm", {},
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
      BatchNormParams p{rc.input(1).data, rc.input(2).data, rc.input(3).data, rc.input(4).data, {}, {}};
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
        batch_norm_kernel<T><<<grid, kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.output(0).as<T>(), planes, channels, spatial, p, epsilon);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
