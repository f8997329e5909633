#include "backends/cuda/conv_pool.cuh"
#include "ops/convolution.h"

namespace kiln::cuda {

WindowGeometry window_geometry(const ir::Node& node, DataType dtype, const Dims& x, const Dims& w) {
  const ops::ConvGeometry c = ops::resolve_conv(node, dtype, x, w);
  const size_t rank = c.in_spatial.size();  // 1 or 2 spatial dims
  WindowGeometry g;
  g.batch = c.batch;
  g.channels = c.in_channels;
  g.out_channels = c.out_channels;
  g.groups = c.group;
  // Spatial dim d of the op goes to H (d = 0 of 2) or W (the last).
  const size_t last = rank - 1;
  g.width = c.in_spatial[last];
  g.out_width = c.out_spatial[last];
  g.kernel_w = c.kernel[last];
  g.stride_w = c.strides[last];
  g.dilation_w = c.dilations[last];
  g.pad_left = c.pads_begin[last];
  g.pad_right = c.pads_end[last];
  if (rank == 2) {
    g.height = c.in_spatial[0];
    g.out_height = c.out_spatial[0];
    g.kernel_h = c.kernel[0];
    g.stride_h = c.strides[0];
    g.dilation_h = c.dilations[0];
    g.pad_top = c.pads_begin[0];
    g.pad_bottom = c.pads_end[0];
  }
  return g;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Implicit GEMM: per group, Y[oc, p] = sum_k W[oc, k] * X_col[k, p] with p over (n, oh, ow)
// and k over (ic, kh, kw). 64 x 64 output tiles, 16-deep k slices, 256 threads of 4 x 4.

constexpr int kTileM = 64, kTileP = 64, kTileK = 16;

template <typename T>
__global__ void __launch_bounds__(256)
    conv_implicit_gemm_kernel(const T* __restrict__ x, const T* __restrict__ w,
                              const T* __restrict__ bias, T* __restrict__ y, WindowGeometry g) {
  __shared__ float w_tile[kTileK][kTileM + 4];
  __shared__ float x_tile[kTileK][kTileP + 4];
  const int64_t in_per_group = g.channels / g.groups;
  const int64_t out_per_group = g.out_channels / g.groups;
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t depth = in_per_group * taps;
  const int64_t plane = g.out_height * g.out_width;
  const int64_t pixels = g.batch * plane;
  const int64_t group = blockIdx.z;
  const int64_t m0 = int64_t(blockIdx.y) * kTileM;
  const int64_t p0 = int64_t(blockIdx.x) * kTileP;
  const int tid = int(threadIdx.x);

  // The output pixel this thread gathers input for.
  const int load_p = tid % kTileP;
  const int load_k = tid / kTileP;  // 0..3, rows load_k + 4 r
  const int64_t p = p0 + load_p;
  const bool p_valid = p < pixels;
  const int64_t n = p_valid ? p / plane : 0;
  const int64_t pix = p_valid ? p % plane : 0;
  const int64_t ih0 = (pix / g.out_width) * g.stride_h - g.pad_top;
  const int64_t iw0 = (pix % g.out_width) * g.stride_w - g.pad_left;
  const T* x_image = x + (n * g.channels + group * in_per_group) * g.height * g.width;
  // Weight loads: 16 consecutive k per row of W.
  const int wk = tid % kTileK;
  const int wm = tid / kTileK;  // 0..15, rows wm + 16 r
  const T* w_group = w + group * out_per_group * depth;
  // Accumulators: rows tm + 16 i, columns tp + 16 j.
  const int tm = tid / 16, tp = tid % 16;
  float acc[4][4] = {};

  for (int64_t k0 = 0; k0 < depth; k0 += kTileK) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int64_t m = m0 + wm + 16 * r;
      const int64_t k = k0 + wk;
      w_tile[wk][wm + 16 * r] =
          (m < out_per_group && k < depth) ? to_float(w_group[m * depth + k]) : 0.0f;
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int kk = load_k + 4 * r;
      const int64_t k = k0 + kk;
      float v = 0.0f;
      if (p_valid && k < depth) {
        const int64_t ic = k / taps;
        const int64_t t = k % taps;
        const int64_t ih = ih0 + (t / g.kernel_w) * g.dilation_h;
        const int64_t iw = iw0 + (t % g.kernel_w) * g.dilation_w;
        if (ih >= 0 && ih < g.height && iw >= 0 && iw < g.width) {
          v = to_float(x_image[(ic * g.height + ih) * g.width + iw]);
        }
      }
      x_tile[kk][load_p] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = w_tile[kk][tm + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = x_tile[kk][tp + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + tm + 16 * i;
    if (m >= out_per_group) continue;
    const int64_t oc = group * out_per_group + m;
    const float b = bias ? to_float(bias[oc]) : 0.0f;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t q = p0 + tp + 16 * j;
      if (q >= pixels) continue;
      y[((q / plane) * g.out_channels + oc) * plane + q % plane] = from_float<T>(acc[i][j] + b);
    }
  }
}

// Direct: one thread per output element (depthwise and other convs with few output channels
// per group, where a 64-channel tile would be mostly empty).
template <typename T>
__global__ void conv_direct_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                   const T* __restrict__ bias, T* __restrict__ y, int64_t n_out,
                                   WindowGeometry g) {
  const int64_t in_per_group = g.channels / g.groups;
  const int64_t out_per_group = g.out_channels / g.groups;
  KILN_GRID_STRIDE_LOOP(i, n_out) {
    const int64_t ow = i % g.out_width;
    const int64_t oh = (i / g.out_width) % g.out_height;
    const int64_t oc = (i / (g.out_width * g.out_height)) % g.out_channels;
    const int64_t n = i / (g.out_width * g.out_height * g.out_channels);
    const int64_t group = oc / out_per_group;
    const T* x_base = x + (n * g.channels + group * in_per_group) * g.height * g.width;
    const T* w_base = w + oc * in_per_group * g.kernel_h * g.kernel_w;
    float acc = 0.0f;
    for (int64_t ic = 0; ic < in_per_group; ++ic) {
      for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
        const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
        if (ih < 0 || ih >= g.height) continue;
        for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
          const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
          if (iw < 0 || iw >= g.width) continue;
          acc = fmaf(to_float(x_base[(ic * g.height + ih) * g.width + iw]),
                     to_float(w_base[(ic * g.kernel_h + kh) * g.kernel_w + kw]), acc);
        }
      }
    }
    y[i] = from_float<T>(acc + (bias ? to_float(bias[oc]) : 0.0f));
  }
}

KernelSupport conv_supported(const NodeQuery& q) {
  const TensorInfo& x = q.input(0);
  if (!is_float16_or_32(x.dtype)) {
    return KernelSupport::no(cat("takes float16, bfloat16 or float32, not ", to_string(x.dtype)));
  }
  if (x.shape.size() != 3 && x.shape.size() != 4) {
    return KernelSupport::no(cat("takes 1-D and 2-D convolutions, not rank ", x.shape.size()));
  }
  if (q.input(1).dtype != x.dtype || (q.has_input(2) && q.input(2).dtype != x.dtype)) {
    return KernelSupport::no("takes W and B of X's type only");
  }
  return true;
}

int64_t out_channels_per_group(const NodeQuery& q) {
  return q.input(1).shape[0] / q.node->attr_int("group", 1);
}

template <bool kImplicitGemm>
void run_conv(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& w = rc.input(1);
  const DeviceTensor& y = rc.output(0);
  const int64_t n_out = y.numel();
  if (n_out == 0) return;
  const WindowGeometry g = window_geometry(rc.node, x.dtype, x.shape, w.shape);
  const void* bias = rc.has_input(2) ? rc.input(2).data : nullptr;
  dispatch_float(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kImplicitGemm) {
      const int64_t pixels = g.batch * g.out_height * g.out_width;
      const int64_t per_group = g.out_channels / g.groups;
      const dim3 grid(unsigned((pixels + kTileP - 1) / kTileP),
                      unsigned((per_group + kTileM - 1) / kTileM), unsigned(g.groups));
      conv_implicit_gemm_kernel<T><<<grid, 256, 0, rc.stream>>>(
          x.as<T>(), w.as<T>(), static_cast<const T*>(bias), y.as<T>(), g);
    } else {
      conv_direct_kernel<T><<<grid_for(n_out), kBlock, 0, rc.stream>>>(
          x.as<T>(), w.as<T>(), static_cast<const T*>(bias), y.as<T>(), n_out, g);
    }
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Conv",
                                     "cuda_conv_implicit_gemm",
                                     {},
                                     [](const NodeQuery& q) -> KernelSupport {
                                       if (KernelSupport s = conv_supported(q); !s) return s;
                                       // A 64-channel tile needs enough channels to fill; grid.z
                                       // limits the groups to 65535.
                                       if (out_channels_per_group(q) < 16) {
                                         return KernelSupport::no(
                                             "needs 16 or more output channels per group");
                                       }
                                       if (q.node->attr_int("group", 1) >= 65536) {
                                         return KernelSupport::no("takes fewer than 65536 groups");
                                       }
                                       return true;
                                     },
                                     run_conv<true>});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Conv", "cuda_conv_direct", {}, conv_supported, run_conv<false>});

}  // namespace
}  // namespace kiln::cuda
