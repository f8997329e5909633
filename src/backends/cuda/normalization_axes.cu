// Normalizations over channel groups, arbitrary axes and neighbouring channels:
// InstanceNormalization and GroupNormalization (one block per (n, group) block of contiguous
// memory), MeanVarianceNormalization and LpNormalization (statistics per slot of the kept dims,
// one block per slot when the reduced elements are contiguous, else one thread per slot), and
// LRN (one thread per element). Statistics in float32, two passes (mean, then squared
// deviations), as the reference's semantics.
#include "backends/cuda/cuda_common.cuh"
#include "backends/cuda/row_kernels.cuh"

namespace kiln::cuda {

namespace {

// A per-channel parameter of any float type, read as float32.
struct ChannelParam {
  const void* data = nullptr;
  int kind = 0;  // 0 float32, 1 float16, 2 bfloat16

  __device__ __forceinline__ float operator[](int64_t c) const {
    if (kind == 1) return __half2float(static_cast<const half*>(data)[c]);
    if (kind == 2) return __bfloat162float(static_cast<const bfloat16*>(data)[c]);
    return static_cast<const float*>(data)[c];
  }
};

ChannelParam channel_param(const DeviceTensor& t) {
  return {t.data, t.dtype == DataType::kFloat16 ? 1 : (t.dtype == DataType::kBFloat16 ? 2 : 0)};
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization / GroupNormalization: the (n, g) block of per_group * spatial
// contiguous elements is standardized, then y = x * a[c] + b[c] with a = scale[c] * inv_std and
// b = bias[c] - mean * a.

template <typename T>
__global__ void group_norm_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t blocks,
                                  int64_t groups, int64_t per_group, int64_t spatial,
                                  ChannelParam scale, ChannelParam bias, float epsilon) {
  __shared__ float scratch[32];
  const int64_t size = per_group * spatial;
  for (int64_t b = blockIdx.x; b < blocks; b += gridDim.x) {
    const T* in = x + b * size;
    T* out = y + b * size;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < size; i += blockDim.x) s += to_float(in[i]);
    const float mean = block_reduce(s, FloatSum(), scratch) / float(size);
    float q = 0.0f;
    for (int64_t i = threadIdx.x; i < size; i += blockDim.x) {
      const float d = to_float(in[i]) - mean;
      q += d * d;
    }
    const float variance = block_reduce(q, FloatSum(), scratch) / float(size);
    const float inv_std = 1.0f / sqrtf(variance + epsilon);
    const int64_t first_channel = (b % groups) * per_group;
    for (int64_t i = threadIdx.x; i < size; i += blockDim.x) {
      const int64_t c = first_channel + i / spatial;
      const float a = scale[c] * inv_std;
      out[i] = from_float<T>(to_float(in[i]) * a + (bias[c] - mean * a));
    }
  }
}

void run_group_norm(RunContext& rc, int64_t groups) {
  const DeviceTensor& x = rc.input(0);
  const int64_t batch = x.shape[0], channels = x.shape[1];
  if (x.numel() == 0 || groups == 0) return;
  const int64_t spatial = x.numel() / (batch * channels);
  const int64_t blocks = batch * groups;
  const float epsilon = float(rc.node.attr_float("epsilon", 1e-5));
  const int64_t size = channels / groups * spatial;
  const int threads = size >= 4096 ? 1024 : (size >= 512 ? 256 : 64);
  dispatch_float(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    group_norm_kernel<T>
        <<<unsigned(blocks < 65536 * 8 ? blocks : 65536 * 8), threads, 0, rc.stream>>>(
            x.as<T>(), rc.output(0).as<T>(), blocks, groups, channels / groups, spatial,
            channel_param(rc.input(1)), channel_param(rc.input(2)), epsilon);
  });
}

bool group_norm_supported(const NodeQuery& q) {
  if (!is_float16_or_32(q.input(0).dtype) || q.input(0).shape.size() < 2) return false;
  return is_float16_or_32(q.input(1).dtype) && is_float16_or_32(q.input(2).dtype);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "InstanceNormalization", "cuda_group_norm", {}, group_norm_supported, [](RunContext& rc) {
      run_group_norm(rc, rc.input(0).shape[1]);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "GroupNormalization", "cuda_group_norm", {}, group_norm_supported, [](RunContext& rc) {
      run_group_norm(rc, rc.node.attr_int("num_groups"));
    }});

// ---------------------------------------------------------------------------------------------
// Statistics per slot of the kept dims, over the reduced dims (StridedMaps as in reduce.cu):
// MeanVarianceNormalization y = (x - mean) / (sqrt(variance) + 1e-9), LpNormalization
// y = x / ||x||_p (0 where the norm is 0).

enum class SlotNorm : int { kMeanVariance, kL1, kL2 };

struct SlotStats {
  float center = 0.0f;  // subtracted (the mean for MVN)
  float divisor = 1.0f;
  bool zero = false;  // a zero norm: the output is 0
};

__device__ __forceinline__ SlotStats finish_stats(SlotNorm kind, float mean, float second,
                                                  int64_t count) {
  SlotStats s;
  if (kind == SlotNorm::kMeanVariance) {
    s.center = mean;
    s.divisor = sqrtf(second / float(count)) + 1e-9f;
  } else {
    s.divisor = kind == SlotNorm::kL1 ? second : sqrtf(second);
    s.zero = s.divisor == 0.0f;
  }
  return s;
}

// One block per slot.
template <typename T>
__global__ void slot_norm_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t slots,
                                       int64_t count, StridedMap<1> kept, StridedMap<1> red,
                                       SlotNorm kind) {
  __shared__ float scratch[32];
  for (int64_t s = blockIdx.x; s < slots; s += gridDim.x) {
    int64_t base[1];
    kept.offsets(s, base);
    auto at = [&](int64_t r) {
      int64_t off[1];
      red.offsets(r, off);
      return base[0] + off[0];
    };
    float mean = 0.0f;
    if (kind == SlotNorm::kMeanVariance) {
      float sum = 0.0f;
      for (int64_t r = threadIdx.x; r < count; r += blockDim.x) sum += to_float(x[at(r)]);
      mean = block_reduce(sum, FloatSum(), scratch) / float(count);
    }
    float second = 0.0f;
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      const float d = to_float(x[at(r)]) - mean;
      second += kind == SlotNorm::kL1 ? fabsf(d) : d * d;
    }
    second = block_reduce(second, FloatSum(), scratch);
    const SlotStats st = finish_stats(kind, mean, second, count);
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      const int64_t i = at(r);
      y[i] = from_float<T>(st.zero ? 0.0f : (to_float(x[i]) - st.center) / st.divisor);
    }
  }
}

// One thread per slot (neighbouring threads read neighbouring elements when the innermost dim
// is kept).
template <typename T>
__global__ void slot_norm_thread_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t slots,
                                        int64_t count, StridedMap<1> kept, StridedMap<1> red,
                                        SlotNorm kind) {
  KILN_GRID_STRIDE_LOOP(s, slots) {
    int64_t base[1];
    kept.offsets(s, base);
    auto at = [&](int64_t r) {
      int64_t off[1];
      red.offsets(r, off);
      return base[0] + off[0];
    };
    float mean = 0.0f;
    if (kind == SlotNorm::kMeanVariance) {
      float sum = 0.0f;
      for (int64_t r = 0; r < count; ++r) sum += to_float(x[at(r)]);
      mean = sum / float(count);
    }
    float second = 0.0f;
    for (int64_t r = 0; r < count; ++r) {
      const float d = to_float(x[at(r)]) - mean;
      second += kind == SlotNorm::kL1 ? fabsf(d) : d * d;
    }
    const SlotStats st = finish_stats(kind, mean, second, count);
    for (int64_t r = 0; r < count; ++r) {
      const int64_t i = at(r);
      y[i] = from_float<T>(st.zero ? 0.0f : (to_float(x[i]) - st.center) / st.divisor);
    }
  }
}

void launch_slot_norm(const ir::Node& node, SlotNorm kind, const DeviceTensor& x, void* y,
                      const std::vector<bool>& reduced, cudaStream_t stream) {
  const Dims& shape = x.shape;
  const Dims strides = contiguous_strides(shape);
  Dims kept_dims, kept_strides, red_dims, red_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    (reduced[d] ? red_dims : kept_dims).push_back(shape[d]);
    (reduced[d] ? red_strides : kept_strides).push_back(strides[d]);
  }
  const int64_t slots = volume(kept_dims);
  const int64_t count = volume(red_dims);
  if (slots * count == 0) return;
  const StridedMap<1> kept = make_strided_map<1>(node, kept_dims, {kept_strides});
  const StridedMap<1> red = make_strided_map<1>(node, red_dims, {red_strides});
  const bool inner_reduced = !shape.empty() && reduced.back() && shape.back() > 1;
  dispatch_float(node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (inner_reduced && count > 64) {
      const unsigned blocks = unsigned(slots < 65536 * 8 ? slots : 65536 * 8);
      slot_norm_block_kernel<T><<<blocks, kBlock, 0, stream>>>(x.as<T>(), static_cast<T*>(y), slots,
                                                               count, kept, red, kind);
    } else {
      slot_norm_thread_kernel<T><<<grid_for(slots), kBlock, 0, stream>>>(
          x.as<T>(), static_cast<T*>(y), slots, count, kept, red, kind);
    }
  });
}

bool float_input_fits(const NodeQuery& q) {
  return is_float16_or_32(q.input(0).dtype) && !q.input(0).shape.empty() && ranks_fit(q);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "MeanVarianceNormalization", "cuda_slot_norm", {}, float_input_fits, [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t rank = int64_t(x.shape.size());
      std::vector<bool> reduced(size_t(rank), false);
      for (int64_t a : rc.node.attr_ints("axes", {0, 2, 3}))
        reduced[size_t(a < 0 ? a + rank : a)] = true;
      launch_slot_norm(rc.node, SlotNorm::kMeanVariance, x, rc.output(0).data, reduced, rc.stream);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "LpNormalization", "cuda_slot_norm", {}, float_input_fits, [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t rank = int64_t(x.shape.size());
      int64_t axis = rc.node.attr_int("axis", -1);
      if (axis < 0) axis += rank;
      std::vector<bool> reduced(size_t(rank), false);
      reduced[size_t(axis)] = true;
      const SlotNorm kind = rc.node.attr_int("p", 2) == 1 ? SlotNorm::kL1 : SlotNorm::kL2;
      launch_slot_norm(rc.node, kind, x, rc.output(0).data, reduced, rc.stream);
    }});

// ---------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of x^2 over channels [c - floor((size - 1) / 2),
// c + ceil((size - 1) / 2)]) ^ beta; one thread per element.

template <typename T>
__global__ void lrn_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total,
                           int64_t channels, int64_t spatial, int64_t before, int64_t after,
                           float alpha_over_size, float beta, float bias) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t c = (i / spatial) % channels;
    const int64_t first = c - before < 0 ? 0 : c - before;
    const int64_t last = c + after > channels - 1 ? channels - 1 : c + after;
    const T* column = x + (i - c * spatial);  // channel 0 of this (n, position)
    float sum = 0.0f;
    for (int64_t k = first; k <= last; ++k) {
      const float v = to_float(column[k * spatial]);
      sum += v * v;
    }
    y[i] = from_float<T>(to_float(x[i]) / powf(bias + alpha_over_size * sum, beta));
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "LRN",
    "cuda_lrn",
    {},
    [](const NodeQuery& q) {
      return is_float16_or_32(q.input(0).dtype) && q.input(0).shape.size() >= 2;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t total = x.numel();
      if (total == 0) return;
      const int64_t channels = x.shape[1];
      const int64_t spatial = total / (x.shape[0] * channels);
      const int64_t size = rc.node.attr_int("size");
      const float alpha = float(rc.node.attr_float("alpha", 1e-4));
      const float beta = float(rc.node.attr_float("beta", 0.75));
      const float bias = float(rc.node.attr_float("bias", 1.0));
      dispatch_float(rc.node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        lrn_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.output(0).as<T>(), total, channels, spatial, (size - 1) / 2, size / 2,
            alpha / float(size), beta, bias);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
