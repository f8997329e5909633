// DeformConv (ONNX opset 19/22) on the GPU, as src/ops/deform_conv.cpp defines it: one thread
// per output element sums, over its group's input channels and the kernel taps in the
// reference's order, the bilinear sample of the input at the tap's offset position (zero
// outside the image) times the weight and the mask. float32/float16/bfloat16 sum in float32
// and round once; float64 sums in double. A direct kernel: DeformConv is rare in exported
// models, and cuDNN has no deformable convolution.
#include <cstdint>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"
#include "ops/deform_conv.h"

namespace kiln::cuda {
namespace {

struct DeformConvArgs {
  int64_t channels, height, width, out_channels, in_per_group, out_per_group;
  int64_t offset_group, in_per_offset_group, kh, kw;
  int64_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, out_h, out_w;
};

// plane at fractional (y, x); a neighbour outside the image (or at a NaN position) counts 0.
template <typename T, typename A>
__device__ A bilinear(const T* plane, int64_t height, int64_t width, A y, A x) {
  const A y0 = floor(y), x0 = floor(x);
  const A fy = y - y0, fx = x - x0;
  A sum = A(0);
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const A yy = y0 + A(dy), xx = x0 + A(dx);
      if (!(yy >= A(0) && yy < A(height) && xx >= A(0) && xx < A(width))) continue;
      const A weight = (dy ? fy : A(1) - fy) * (dx ? fx : A(1) - fx);
      if (weight != A(0)) sum += weight * widen_to<A>(plane[int64_t(yy) * width + int64_t(xx)]);
    }
  }
  return sum;
}

template <typename T, typename A>
__global__ void deform_conv_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                   const T* __restrict__ offset, const T* __restrict__ bias,
                                   const T* __restrict__ mask, T* __restrict__ y, int64_t total,
                                   DeformConvArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t oj = i % a.out_w;
    int64_t rest = i / a.out_w;
    const int64_t oi = rest % a.out_h;
    rest /= a.out_h;
    const int64_t oc = rest % a.out_channels;
    const int64_t b = rest / a.out_channels;
    const int64_t g = oc / a.out_per_group;
    const int64_t taps = a.kh * a.kw, out_plane = a.out_h * a.out_w, at = oi * a.out_w + oj;
    A sum = bias ? widen_to<A>(bias[oc]) : A(0);
    for (int64_t icg = 0; icg < a.in_per_group; ++icg) {
      const int64_t ic = g * a.in_per_group + icg;
      const int64_t og = ic / a.in_per_offset_group;
      const T* plane = x + (b * a.channels + ic) * a.height * a.width;
      const T* weights = w + (oc * a.in_per_group + icg) * taps;
      for (int64_t tap = 0; tap < taps; ++tap) {
        const int64_t ki = tap / a.kw, kj = tap % a.kw;
        // this tap's h displacement channel; the w displacement follows it
        const T* off_h =
            offset + (b * a.offset_group * taps * 2 + (og * taps + tap) * 2) * out_plane;
        const A sy = A(oi * a.stride_h - a.pad_top + ki * a.dilation_h) + widen_to<A>(off_h[at]);
        const A sx = A(oj * a.stride_w - a.pad_left + kj * a.dilation_w) +
                     widen_to<A>(off_h[out_plane + at]);
        A v = bilinear<T, A>(plane, a.height, a.width, sy, sx) * widen_to<A>(weights[tap]);
        if (mask)
          v *= widen_to<A>(mask[(b * a.offset_group * taps + og * taps + tap) * out_plane + at]);
        sum += v;
      }
    }
    y[i] = narrow_to<T>(sum);
  }
}

template <typename T, typename A>
void launch(RunContext& rc, const DeformConvArgs& a) {
  const int64_t total = rc.output(0).numel();
  const T* bias = rc.has_input(3) ? rc.input(3).as<T>() : nullptr;
  const T* mask = rc.has_input(4) ? rc.input(4).as<T>() : nullptr;
  deform_conv_kernel<T, A><<<grid_for(total), kBlock, 0, rc.stream>>>(
      rc.input(0).as<T>(), rc.input(1).as<T>(), rc.input(2).as<T>(), bias, mask,
      rc.output(0).as<T>(), total, a);
}

void run_deform_conv(RunContext& rc) {
  if (rc.output(0).numel() == 0) return;
  const Dims& x = rc.input(0).shape;
  const Dims& w = rc.input(1).shape;
  const ops::DeformConvParams p = ops::resolve_deform_conv(
      rc.node, x, w, rc.input(2).shape, rc.has_input(3) ? &rc.input(3).shape : nullptr,
      rc.has_input(4) ? &rc.input(4).shape : nullptr);
  DeformConvArgs a{};
  a.channels = x[1], a.height = x[2], a.width = x[3];
  a.out_channels = w[0], a.in_per_group = w[1], a.out_per_group = w[0] / p.group;
  a.offset_group = p.offset_group, a.in_per_offset_group = x[1] / p.offset_group;
  a.kh = p.kh, a.kw = p.kw;
  a.stride_h = p.stride_h, a.stride_w = p.stride_w;
  a.dilation_h = p.dilation_h, a.dilation_w = p.dilation_w;
  a.pad_top = p.pad_top, a.pad_left = p.pad_left, a.out_h = p.out_h, a.out_w = p.out_w;
  switch (rc.input(0).dtype) {
    case DataType::kFloat32:
      return launch<float, float>(rc, a);
    case DataType::kFloat16:
      return launch<half, float>(rc, a);
    case DataType::kBFloat16:
      return launch<bfloat16, float>(rc, a);
    case DataType::kFloat64:
      return launch<double, double>(rc, a);
    default:
      break;
  }
  fail(ErrorCode::kInternal, rc.node.describe(), ": DeformConv launched for type ",
       to_string(rc.input(0).dtype));
}

bool supports_deform_conv(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  return (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
          t == DataType::kFloat64) &&
         q.input(0).shape.size() == 4;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "DeformConv", "cuda_deform_conv", {}, supports_deform_conv, run_deform_conv});

}  // namespace
}  // namespace kiln::cuda
