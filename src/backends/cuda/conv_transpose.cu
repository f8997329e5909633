// ConvTranspose as a direct loop per output element, for what cuDNN's backward-data
// convolution cannot express (an output_shape or SAME padding that comes out negative, an
// output_padding reaching a whole stride, float64) and for builds without cuDNN: 1 to 3 spatial
// dims, groups, strides, dilations, any padding, bias. Each thread gathers the input positions
// whose kernel taps reach its output element (position o comes from input i through tap k when
// i * stride + k * dilation - pad_begin == o), accumulating in float32 (float64 for float64).
// Below cuDNN's priority: the builder takes cuDNN wherever it accepts the node.
#include "backends/cuda/cuda_common.cuh"
#include "ops/convolution.h"

namespace kiln::cuda {
namespace {

inline constexpr int kMaxSpatial = 3;

// The geometry as the kernel reads it; unused trailing spatial dims have extent 1.
struct TransposeGeometry {
  int64_t batch, in_channels, out_channels, in_per_group, out_per_group;
  int64_t in[kMaxSpatial], out[kMaxSpatial], kernel[kMaxSpatial];
  int64_t stride[kMaxSpatial], dilation[kMaxSpatial], pad[kMaxSpatial];
  int64_t in_size, out_size, kernel_size;
};

TransposeGeometry flatten(const ops::ConvGeometry& g) {
  TransposeGeometry t{};
  t.batch = g.batch;
  t.in_channels = g.in_channels;
  t.out_channels = g.out_channels;
  t.in_per_group = g.in_channels / g.group;
  t.out_per_group = g.out_channels / g.group;
  for (int d = 0; d < kMaxSpatial; ++d) {
    const bool used = size_t(d) < g.in_spatial.size();
    t.in[d] = used ? g.in_spatial[size_t(d)] : 1;
    t.out[d] = used ? g.out_spatial[size_t(d)] : 1;
    t.kernel[d] = used ? g.kernel[size_t(d)] : 1;
    t.stride[d] = used ? g.strides[size_t(d)] : 1;
    t.dilation[d] = used ? g.dilations[size_t(d)] : 1;
    t.pad[d] = used ? g.pads_begin[size_t(d)] : 0;
  }
  t.in_size = t.in[0] * t.in[1] * t.in[2];
  t.out_size = t.out[0] * t.out[1] * t.out[2];
  t.kernel_size = t.kernel[0] * t.kernel[1] * t.kernel[2];
  return t;
}

// The input position along one axis that tap k maps onto output position o, or -1.
__device__ __forceinline__ int64_t source_of(int64_t o, int64_t k, int64_t stride, int64_t dilation,
                                             int64_t pad, int64_t extent) {
  const int64_t scaled = o + pad - k * dilation;
  if (scaled < 0 || scaled % stride != 0) return -1;
  const int64_t i = scaled / stride;
  return i < extent ? i : -1;
}

template <typename T, typename A>
__global__ void conv_transpose_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                      const T* __restrict__ bias, T* __restrict__ y,
                                      TransposeGeometry g) {
  const int64_t total = g.batch * g.out_channels * g.out_size;
  KILN_GRID_STRIDE_LOOP(index, total) {
    const int64_t spatial = index % g.out_size;
    const int64_t m = (index / g.out_size) % g.out_channels;
    const int64_t n = index / (g.out_size * g.out_channels);
    const int64_t o0 = spatial / (g.out[1] * g.out[2]);
    const int64_t o1 = (spatial / g.out[2]) % g.out[1];
    const int64_t o2 = spatial % g.out[2];
    const int64_t group = m / g.out_per_group;
    const int64_t mg = m % g.out_per_group;
    A acc = bias ? widen_to<A>(bias[m]) : A(0);
    for (int64_t k0 = 0; k0 < g.kernel[0]; ++k0) {
      const int64_t i0 = source_of(o0, k0, g.stride[0], g.dilation[0], g.pad[0], g.in[0]);
      if (i0 < 0) continue;
      for (int64_t k1 = 0; k1 < g.kernel[1]; ++k1) {
        const int64_t i1 = source_of(o1, k1, g.stride[1], g.dilation[1], g.pad[1], g.in[1]);
        if (i1 < 0) continue;
        for (int64_t k2 = 0; k2 < g.kernel[2]; ++k2) {
          const int64_t i2 = source_of(o2, k2, g.stride[2], g.dilation[2], g.pad[2], g.in[2]);
          if (i2 < 0) continue;
          const int64_t at = (i0 * g.in[1] + i1) * g.in[2] + i2;
          const int64_t tap = (k0 * g.kernel[1] + k1) * g.kernel[2] + k2;
          for (int64_t cg = 0; cg < g.in_per_group; ++cg) {
            const int64_t c = group * g.in_per_group + cg;
            // W is [in_channels, out_per_group, kernel...].
            acc += widen_to<A>(x[(n * g.in_channels + c) * g.in_size + at]) *
                   widen_to<A>(w[(c * g.out_per_group + mg) * g.kernel_size + tap]);
          }
        }
      }
    }
    y[index] = narrow_to<T>(acc);
  }
}

bool supported(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  if (!(is_float16_or_32(t) || t == DataType::kFloat64) || q.input(1).dtype != t) return false;
  if (q.has_input(2) && q.input(2).dtype != t) return false;
  const size_t rank = q.input(0).shape.size();
  return rank >= 3 && rank <= 2 + size_t(kMaxSpatial) && q.input(1).shape.size() == rank;
}

void run(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const TransposeGeometry g =
      flatten(ops::resolve_conv_transpose(rc.node, x.dtype, x.shape, rc.input(1).shape));
  const void* bias = rc.has_input(2) ? rc.input(2).data : nullptr;
  const unsigned grid = grid_for(y.numel());
  const bool launched = dispatch_float_or_double(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    conv_transpose_kernel<T, A><<<grid, kBlock, 0, rc.stream>>>(
        x.as<T>(), rc.input(1).as<T>(), static_cast<const T*>(bias), y.as<T>(), g);
  });
  KILN_CHECK(launched, ErrorCode::kInternal, rc.node.describe(), ": ConvTranspose kernel for ",
             to_string(x.dtype));
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "ConvTranspose", "cuda_conv_transpose_direct", {}, supported, run});

}  // namespace
}  // namespace kiln::cuda
