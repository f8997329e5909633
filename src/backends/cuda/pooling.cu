// Pooling over 1, 2 or 3 spatial dims (NCHW): MaxPool (optional Indices output, row- or
// column-major by storage_order; float types, int8 and uint8), AveragePool (count_include_pad)
// and LpPool, with strides, dilations, explicit or automatic padding and ceil_mode (the output
// shape, resolved at build time, carries ceil_mode). One thread per output element.
//
// Semantics as the reference (src/ops/pooling.cpp): output position o covers input positions
// o * stride - pad_begin + k * dilation. Max and Lp ignore padding; an all-padding max window
// gives the type's lowest value and index -1. Average divides by the taps inside the input, or
// with count_include_pad by those inside the padded extent (ceil_mode's extra taps never
// count); an all-padding window gives NaN.
#include <string>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

inline constexpr int kPoolDims = 3;

// Spatial dims right-aligned in kPoolDims (leading dims of extent 1 for 1-D and 2-D pools).
struct PoolWindow {
  int64_t planes = 0;  // N * C
  int64_t in[kPoolDims], out[kPoolDims], kernel[kPoolDims];
  int64_t stride[kPoolDims], dilation[kPoolDims], pad_begin[kPoolDims], pad_end[kPoolDims];
};

PoolWindow pool_window(const ir::Node& node, const Dims& x, const Dims& y) {
  const size_t rank = x.size() - 2;
  const Dims ones(rank, 1);
  const Dims kernel = node.attr_ints("kernel_shape");
  const Dims strides = node.attr_ints("strides", ones);
  const Dims dilations = node.attr_ints("dilations", ones);
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  Dims pads = node.attr_ints("pads", Dims(2 * rank, 0));
  if (auto_pad != "NOTSET" && !auto_pad.empty()) pads.assign(2 * rank, 0);
  PoolWindow w;
  w.planes = x[0] * x[1];
  const size_t lead = kPoolDims - rank;
  for (size_t d = 0; d < size_t(kPoolDims); ++d) {
    w.in[d] = w.out[d] = w.kernel[d] = w.stride[d] = w.dilation[d] = 1;
    w.pad_begin[d] = w.pad_end[d] = 0;
    if (d < lead) continue;
    const size_t s = d - lead;
    w.in[d] = x[2 + s];
    w.out[d] = y[2 + s];
    w.kernel[d] = kernel[s];
    w.stride[d] = strides[s];
    w.dilation[d] = dilations[s];
    w.pad_begin[d] = pads[s];
    w.pad_end[d] = pads[rank + s];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t window = (kernel[s] - 1) * dilations[s] + 1;
      const int64_t total = std::max<int64_t>(0, (w.out[d] - 1) * strides[s] + window - w.in[d]);
      w.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end[d] = total - w.pad_begin[d];
    }
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

template <typename T, PoolKind kKind>
__global__ void pool_kernel(const T* __restrict__ x, T* __restrict__ y,
                            int64_t* __restrict__ indices, int64_t n_out, PoolWindow w,
                            bool count_include_pad, bool column_major, float p) {
  const int64_t out_plane = w.out[0] * w.out[1] * w.out[2];
  const int64_t in_plane = w.in[0] * w.in[1] * w.in[2];
  KILN_GRID_STRIDE_LOOP(i, n_out) {
    const int64_t o2 = i % w.out[2];
    const int64_t o1 = (i / w.out[2]) % w.out[1];
    const int64_t o0 = (i / (w.out[2] * w.out[1])) % w.out[0];
    const int64_t plane = i / out_plane;
    const T* in = x + plane * in_plane;
    float best = lowest_value<T>();
    int64_t best_index = -1;
    float sum = 0.0f;
    int64_t count = 0;
    for (int64_t k0 = 0; k0 < w.kernel[0]; ++k0) {
      const int64_t p0 = o0 * w.stride[0] - w.pad_begin[0] + k0 * w.dilation[0];
      for (int64_t k1 = 0; k1 < w.kernel[1]; ++k1) {
        const int64_t p1 = o1 * w.stride[1] - w.pad_begin[1] + k1 * w.dilation[1];
        for (int64_t k2 = 0; k2 < w.kernel[2]; ++k2) {
          const int64_t p2 = o2 * w.stride[2] - w.pad_begin[2] + k2 * w.dilation[2];
          const bool inside =
              p0 >= 0 && p0 < w.in[0] && p1 >= 0 && p1 < w.in[1] && p2 >= 0 && p2 < w.in[2];
          if (!inside) {
            if (kKind == PoolKind::kAverage && count_include_pad && p0 < w.in[0] + w.pad_end[0] &&
                p1 < w.in[1] + w.pad_end[1] && p2 < w.in[2] + w.pad_end[2]) {
              ++count;
            }
            continue;
          }
          const float v = load_value(in[(p0 * w.in[1] + p1) * w.in[2] + p2]);
          if constexpr (kKind == PoolKind::kMax) {
            // The first maximum in window order wins ties; a leading NaN stays.
            if (best_index < 0 || v > best) {
              best = v;
              // Column-major numbers the first spatial dim fastest; the leading dims of
              // extent 1 (1-D and 2-D pools) have p = 0 and change nothing.
              best_index = column_major ? p0 + w.in[0] * (p1 + w.in[1] * p2)
                                        : (p0 * w.in[1] + p1) * w.in[2] + p2;
            }
          } else if constexpr (kKind == PoolKind::kAverage) {
            sum += v;
            ++count;
          } else {
            const float a = fabsf(v);
            sum += p == 2.0f ? a * a : (p == 1.0f ? a : powf(a, p));
          }
        }
      }
    }
    if constexpr (kKind == PoolKind::kMax) {
      y[i] = store_value<T>(best);
      if (indices) indices[i] = best_index < 0 ? -1 : plane * in_plane + best_index;
    } else if constexpr (kKind == PoolKind::kAverage) {
      y[i] = store_value<T>(count ? sum / float(count) : NAN);
    } else {
      y[i] = store_value<T>(p == 2.0f ? sqrtf(sum) : (p == 1.0f ? sum : powf(sum, 1.0f / p)));
    }
  }
}

template <typename Fn>
void dispatch_pool_type(const ir::Node& node, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt8) return fn(Tag<int8_t>{});
  if (dtype == DataType::kUInt8) return fn(Tag<uint8_t>{});
  dispatch_float(node, dtype, fn);
}

template <PoolKind kKind>
void run_pool(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  const int64_t n_out = y.numel();
  if (n_out == 0) return;
  const PoolWindow w = pool_window(rc.node, x.shape, y.shape);
  const bool include_pad = rc.node.attr_int("count_include_pad", 0) != 0;
  const bool column_major = rc.node.attr_int("storage_order", 0) != 0;
  const float p = float(rc.node.attr_int("p", 2));
  int64_t* indices =
      rc.outputs.size() > 1 && rc.outputs[1].present ? rc.outputs[1].as<int64_t>() : nullptr;
  dispatch_pool_type(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && kKind != PoolKind::kMax) {
      fail(ErrorCode::kInternal, rc.node.describe(), ": integer pooling other than max");
    } else {
      pool_kernel<T, kKind><<<grid_for(n_out), kBlock, 0, rc.stream>>>(
          x.as<T>(), y.as<T>(), indices, n_out, w, include_pad, column_major, p);
    }
  });
}

bool pool_supported(const NodeQuery& q, bool allow_int8) {
  const TensorInfo& x = q.input(0);
  const bool int8 = x.dtype == DataType::kInt8 || x.dtype == DataType::kUInt8;
  if (!is_float16_or_32(x.dtype) && !(allow_int8 && int8)) return false;
  return x.shape.size() >= 3 && x.shape.size() <= size_t(2 + kPoolDims);
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
