// Pooling over 1, 2 or 3 spatial dims: MaxPool (optional Indices output, row- or column-major
// by storage_order; float types, int8 and uint8), AveragePool (count_include_pad) and LpPool,
// with strides, dilations, explicit or automatic padding and ceil_mode (the output shape,
// resolved at build time, carries ceil_mode). NCHW: one thread per output element. NHWC (kiln's
// layout attribute, MaxPool and AveragePool without Indices, set by transpose cancellation in
// channels-last engines): one thread per output position and vector of 8 (16-bit types) or 4
// (float32) channels, so that every load is 16 bytes wide and neighbouring threads read
// neighbouring channels. Index arithmetic is 32-bit when the tensors allow it: 64-bit division
// made the NCHW kernel compute-bound (ResNet-50's first pool took 2.5 ms at batch 256).
//
// Semantics as the reference (src/ops/pooling.cpp): output position o covers input positions
// o * stride - pad_begin + k * dilation. Max and Lp ignore padding; an all-padding max window
// gives the type's lowest value and index -1. Average divides by the taps inside the input, or
// with count_include_pad by those inside the padded extent (ceil_mode's extra taps never
// count); an all-padding window gives NaN.
#include <algorithm>
#include <string>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"
#include "ops/pooling.h"

namespace kiln::cuda {

namespace {

inline constexpr int kPoolDims = 3;

// Spatial dims right-aligned in kPoolDims (leading dims of extent 1 for 1-D and 2-D pools).
struct PoolWindow {
  bool channels_last = false;
  int64_t planes = 0;  // N * C (NCHW), N (NHWC)
  int64_t channels = 0;
  int64_t in[kPoolDims], out[kPoolDims], kernel[kPoolDims];
  int64_t stride[kPoolDims], dilation[kPoolDims], pad_begin[kPoolDims], pad_end[kPoolDims];
};

// The geometry shape inference resolved (ops/pooling.h), right-aligned in kPoolDims axes.
PoolWindow pool_window(const ir::Node& node, DataType dtype, const Dims& x) {
  const ops::PoolGeometry g = ops::resolve_pool(node, dtype, x);
  const size_t rank = g.in_spatial.size();
  PoolWindow w;
  w.channels_last = g.channels_last;
  w.channels = g.channels;
  w.planes = g.channels_last ? g.batch : g.batch * g.channels;
  const size_t lead = kPoolDims - rank;
  for (size_t d = 0; d < size_t(kPoolDims); ++d) {
    w.in[d] = w.out[d] = w.kernel[d] = w.stride[d] = w.dilation[d] = 1;
    w.pad_begin[d] = w.pad_end[d] = 0;
    if (d < lead) continue;
    const size_t s = d - lead;
    w.in[d] = g.in_spatial[s];
    w.out[d] = g.out_spatial[s];
    w.kernel[d] = g.kernel[s];
    w.stride[d] = g.strides[s];
    w.dilation[d] = g.dilations[s];
    w.pad_begin[d] = g.pads_begin[s];
    w.pad_end[d] = g.pads_end[s];
  }
  return w;
}

enum class PoolKind : int { kMax, kAverage, kLp };

template <typename T>
__device__ __forceinline__ float load_value(T v) {
  if constexpr (std::is_integral_v<T>) {
    return float(v);
  } else {
    return to_float(v);
  }
}

template <typename T>
__device__ __forceinline__ T store_value(float v) {
  if constexpr (std::is_integral_v<T>) {
    return T(v);  // a maximum of the input's own values: always representable
  } else {
    return from_float<T>(v);
  }
}

template <typename T>
__device__ __forceinline__ float lowest_value() {
  if constexpr (std::is_same_v<T, int8_t>) {
    return -128.0f;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return 0.0f;
  } else {
    return -INFINITY;
  }
}

// The window of output position (o0, o1, o2), visited in ONNX's order; fn(p0, p1, p2, inside,
// counts_as_padding) per tap.
template <typename I, typename Fn>
__device__ __forceinline__ void for_each_tap(const PoolWindow& w, I o0, I o1, I o2, Fn&& fn) {
  for (I k0 = 0; k0 < I(w.kernel[0]); ++k0) {
    const I p0 = o0 * I(w.stride[0]) - I(w.pad_begin[0]) + k0 * I(w.dilation[0]);
    for (I k1 = 0; k1 < I(w.kernel[1]); ++k1) {
      const I p1 = o1 * I(w.stride[1]) - I(w.pad_begin[1]) + k1 * I(w.dilation[1]);
      for (I k2 = 0; k2 < I(w.kernel[2]); ++k2) {
        const I p2 = o2 * I(w.stride[2]) - I(w.pad_begin[2]) + k2 * I(w.dilation[2]);
        const bool inside =
            p0 >= 0 && p0 < I(w.in[0]) && p1 >= 0 && p1 < I(w.in[1]) && p2 >= 0 && p2 < I(w.in[2]);
        const bool in_padded_extent = p0 < I(w.in[0] + w.pad_end[0]) &&
                                      p1 < I(w.in[1] + w.pad_end[1]) &&
                                      p2 < I(w.in[2] + w.pad_end[2]);
        fn(p0, p1, p2, inside, in_padded_extent);
      }
    }
  }
}

template <typename T, PoolKind kKind, typename I>
__global__ void pool_kernel(const T* __restrict__ x, T* __restrict__ y,
                            int64_t* __restrict__ indices, I n_out, PoolWindow w,
                            bool count_include_pad, bool column_major, float p) {
  const I out1 = I(w.out[1]), out2 = I(w.out[2]);
  const I in0 = I(w.in[0]), in1 = I(w.in[1]), in2 = I(w.in[2]);
  const I out_plane = I(w.out[0]) * out1 * out2;
  const I in_plane = in0 * in1 * in2;
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n_out;
       i += I(blockDim.x) * I(gridDim.x)) {
    const I o2 = i % out2;
    const I o1 = (i / out2) % out1;
    const I plane = i / out_plane;
    const I o0 = (i / (out2 * out1)) - plane * I(w.out[0]);
    const T* in = x + plane * in_plane;
    float best = lowest_value<T>();
    int64_t best_index = -1;
    float sum = 0.0f;
    int count = 0;
    for_each_tap(w, o0, o1, o2, [&](I p0, I p1, I p2, bool inside, bool in_padded_extent) {
      if (!inside) {
        if (kKind == PoolKind::kAverage && count_include_pad && in_padded_extent) ++count;
        return;
      }
      const float v = load_value(in[(p0 * in1 + p1) * in2 + p2]);
      if constexpr (kKind == PoolKind::kMax) {
        // The first maximum in window order wins ties; a leading NaN stays.
        if (best_index < 0 || v > best) {
          best = v;
          // Column-major numbers the first spatial dim fastest; the leading dims of extent 1
          // (1-D and 2-D pools) have p = 0 and change nothing.
          best_index = column_major ? int64_t(p0) + int64_t(in0) * (p1 + int64_t(in1) * p2)
                                    : (int64_t(p0) * in1 + p1) * in2 + p2;
        }
      } else if constexpr (kKind == PoolKind::kAverage) {
        sum += v;
        ++count;
      } else {
        const float a = fabsf(v);
        sum += p == 2.0f ? a * a : (p == 1.0f ? a : powf(a, p));
      }
    });
    if constexpr (kKind == PoolKind::kMax) {
      y[i] = store_value<T>(best);
      if (indices) indices[i] = best_index < 0 ? -1 : int64_t(plane) * in_plane + best_index;
    } else if constexpr (kKind == PoolKind::kAverage) {
      y[i] = store_value<T>(count ? sum / float(count) : NAN);
    } else {
      y[i] = store_value<T>(p == 2.0f ? sqrtf(sum) : (p == 1.0f ? sum : powf(sum, 1.0f / p)));
    }
  }
}

// kVector channels of one position, loaded and stored as one aligned word.
template <typename T, int kVector>
struct alignas(sizeof(T) * kVector) ChannelVector {
  T v[kVector];
};

// Channels-last: x [N, spatial..., C], y [N, out spatial..., C]; one thread per output position
// and group of kVector channels (C % kVector == 0).
template <typename T, PoolKind kKind, int kVector, typename I>
__global__ void pool_nhwc_kernel(const T* __restrict__ x, T* __restrict__ y, I n_work, PoolWindow w,
                                 bool count_include_pad) {
  using Vec = ChannelVector<T, kVector>;
  const I groups = I(w.channels) / kVector;
  const I out0 = I(w.out[0]), out1 = I(w.out[1]), out2 = I(w.out[2]);
  const I in1 = I(w.in[1]), in2 = I(w.in[2]);
  const I in_plane = I(w.in[0]) * in1 * in2;
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n_work;
       i += I(blockDim.x) * I(gridDim.x)) {
    const I group = i % groups;
    I position = i / groups;
    const I o2 = position % out2;
    position /= out2;
    const I o1 = position % out1;
    position /= out1;
    const I o0 = position % out0;
    const I n = position / out0;
    const Vec* in = reinterpret_cast<const Vec*>(x) + n * in_plane * groups + group;
    float acc[kVector];
#pragma unroll
    for (int c = 0; c < kVector; ++c) acc[c] = kKind == PoolKind::kMax ? lowest_value<T>() : 0.0f;
    bool found = false;
    int count = 0;
    for_each_tap(w, o0, o1, o2, [&](I p0, I p1, I p2, bool inside, bool in_padded_extent) {
      if (!inside) {
        if (kKind == PoolKind::kAverage && count_include_pad && in_padded_extent) ++count;
        return;
      }
      const Vec v = in[((p0 * in1 + p1) * in2 + p2) * groups];
#pragma unroll
      for (int c = 0; c < kVector; ++c) {
        const float value = load_value(v.v[c]);
        if constexpr (kKind == PoolKind::kMax) {
          if (!found || value > acc[c]) acc[c] = value;  // a leading NaN stays, as in NCHW
        } else {
          acc[c] += value;
        }
      }
      found = true;
      ++count;
    });
    Vec out;
#pragma unroll
    for (int c = 0; c < kVector; ++c) {
      out.v[c] = store_value<T>(kKind == PoolKind::kMax ? acc[c]
                                : count                 ? acc[c] / float(count)
                                                        : NAN);
    }
    reinterpret_cast<Vec*>(y)[i] = out;
  }
}

template <typename Fn>
void dispatch_pool_type(const ir::Node& node, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt8) return fn(Tag<int8_t>{});
  if (dtype == DataType::kUInt8) return fn(Tag<uint8_t>{});
  dispatch_float(node, dtype, fn);
}

template <PoolKind kKind, typename T, typename I>
void launch_pool(RunContext& rc, const PoolWindow& w, int64_t* indices) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  const bool include_pad = rc.node.attr_int("count_include_pad", 0) != 0;
  if (!w.channels_last) {
    const bool column_major = rc.node.attr_int("storage_order", 0) != 0;
    const float p = float(rc.node.attr_int("p", 2));
    pool_kernel<T, kKind, I><<<grid_for(y.numel()), kBlock, 0, rc.stream>>>(
        x.as<T>(), y.as<T>(), indices, I(y.numel()), w, include_pad, column_major, p);
    return;
  }
  if constexpr (kKind != PoolKind::kLp) {
    constexpr int kWide = sizeof(T) == 4 ? 4 : (sizeof(T) == 2 ? 8 : 16);
    auto launch = [&](auto vector) {
      constexpr int kVector = decltype(vector)::value;
      const int64_t work = y.numel() / kVector;
      pool_nhwc_kernel<T, kKind, kVector, I>
          <<<grid_for(work), kBlock, 0, rc.stream>>>(x.as<T>(), y.as<T>(), I(work), w, include_pad);
    };
    if (w.channels % kWide == 0) {
      launch(std::integral_constant<int, kWide>{});
    } else {
      launch(std::integral_constant<int, 1>{});
    }
  }
}

template <PoolKind kKind>
void run_pool(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const PoolWindow w = pool_window(rc.node, x.dtype, x.shape);
  int64_t* indices =
      rc.outputs.size() > 1 && rc.outputs[1].present ? rc.outputs[1].as<int64_t>() : nullptr;
  // 32-bit offsets when every element index (and index + a grid stride) fits.
  const bool narrow = std::max(x.numel(), y.numel()) < (int64_t(1) << 30);
  dispatch_pool_type(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && kKind != PoolKind::kMax) {
      fail(ErrorCode::kInternal, rc.node.describe(), ": integer pooling other than max");
    } else if (narrow) {
      launch_pool<kKind, T, int32_t>(rc, w, indices);
    } else {
      launch_pool<kKind, T, int64_t>(rc, w, indices);
    }
  });
}

KernelSupport pool_supported(const NodeQuery& q, bool allow_int8) {
  const TensorInfo& x = q.input(0);
  const bool int8 = x.dtype == DataType::kInt8 || x.dtype == DataType::kUInt8;
  if (!is_float16_or_32(x.dtype) && !(allow_int8 && int8)) {
    return KernelSupport::no(cat("takes float16, bfloat16, float32",
                                 allow_int8 ? ", int8 or uint8" : "", ", not ",
                                 to_string(x.dtype)));
  }
  if (q.node->attr_string("layout", "NCHW") == "NHWC" && q.node->op == "LpPool") {
    return KernelSupport::no("takes LpPool in NCHW layout only");
  }
  if (x.shape.size() < 3 || x.shape.size() > size_t(2 + kPoolDims)) {
    return KernelSupport::no(
        cat("takes 1 to ", kPoolDims, " spatial dims, not ", x.shape.size() - 2));
  }
  return true;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"MaxPool",
                                     "cuda_pool_direct",
                                     {},
                                     [](const NodeQuery& q) { return pool_supported(q, true); },
                                     run_pool<PoolKind::kMax>});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{"AveragePool",
                                     "cuda_pool_direct",
                                     {},
                                     [](const NodeQuery& q) { return pool_supported(q, false); },
                                     run_pool<PoolKind::kAverage>});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{"LpPool",
                                     "cuda_pool_direct",
                                     {},
                                     [](const NodeQuery& q) { return pool_supported(q, false); },
                                     run_pool<PoolKind::kLp>});

}  // namespace
}  // namespace kiln::cuda
