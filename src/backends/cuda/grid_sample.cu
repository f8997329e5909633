// GridSample (ONNX opset 22) over 1, 2 or 3 spatial dims, following the reference
// (src/ops/grid_sample.cpp) step by step: the normalized position is mapped to pixel units in
// float32 (no fused multiply-adds, so that nearest's ties land where the CPU's do), rounded half
// to even for nearest, padded (border: clamped; reflection: mirrored, in double), and each
// interpolation tap is padded again. Linear and cubic (Keys, A = -0.75) are separable products
// of per-axis taps, accumulated in double and rounded once into X's type; nearest copies the
// element. A NaN position gives NaN. One thread per output element.
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

inline constexpr int kMaxSampleDims = 3;

enum class SampleMode : int { kNearest, kLinear, kCubic };
enum class Padding : int { kZeros, kBorder, kReflection };

struct SampleArgs {
  int dims = 0;  // spatial rank r
  int64_t batch = 0, channels = 0;
  int64_t in[kMaxSampleDims] = {};  // spatial extents of X, first spatial dim first
  int64_t out_plane = 0;            // output positions per (n, c)
  SampleMode mode = SampleMode::kLinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

// Mirrors v into [low, high], bouncing between the walls (the reference's reflect).
__device__ double reflect(double v, double low, double high) {
  const double range = high - low;
  if (range <= 0) return low;
  if (v >= low && v <= high) return v;
  const bool below = v < low;
  const double dx = below ? low - v : v - high;
  const double bounces = floor(dx / range);
  const double rest = dx - bounces * range;
  const bool even = fmod(bounces, 2.0) == 0;
  if (below) return even ? low + rest : high - rest;
  return even ? high - rest : low + rest;
}

// The input index read for tap i along an axis of `size`, or -1 for a zero-padded tap.
__device__ int64_t tap_index(int64_t i, int64_t size, double low, double high, Padding padding) {
  switch (padding) {
    case Padding::kZeros:
      return (i < 0 || i >= size) ? -1 : i;
    case Padding::kBorder:
      return i < 0 ? 0 : (i > size - 1 ? size - 1 : i);
    case Padding::kReflection: {
      const int64_t r = int64_t(reflect(double(i), low, high));  // truncation, as int()
      return r < 0 ? 0 : (r > size - 1 ? size - 1 : r);
    }
  }
  return -1;
}

__device__ __forceinline__ double cubic_near(double x) {
  return ((-0.75 + 2) * x - (-0.75 + 3)) * x * x + 1;
}
__device__ __forceinline__ double cubic_far(double x) {
  return ((-0.75 * x - 5 * -0.75) * x + 8 * -0.75) * x - 4 * -0.75;
}

template <typename T, typename G>
__global__ void grid_sample_kernel(const T* __restrict__ x, const G* __restrict__ grid,
                                   T* __restrict__ y, int64_t total, SampleArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t o = i % a.out_plane;
    const int64_t plane = i / a.out_plane;  // n * C + c
    const int64_t n = plane / a.channels;
    const G* g = grid + (n * a.out_plane + o) * a.dims;
    int64_t index[kMaxSampleDims][4];
    double weight[kMaxSampleDims][4];
    int taps[kMaxSampleDims];
    bool nan_position = false;
    for (int k = 0; k < kMaxSampleDims; ++k) {
      taps[k] = 1;
      index[k][0] = 0;
      weight[k][0] = 1.0;
    }
    for (int k = 0; k < a.dims; ++k) {
      const int64_t size_i = a.in[k];
      const float size = float(size_i);
      const double low = a.align_corners ? 0.0 : -0.5;
      const double high = a.align_corners ? double(size_i) - 1 : double(size_i) - 0.5;
      // grid[..., 0] is the last spatial axis (x = width).
      const float normalized = to_float(g[a.dims - 1 - k]);
      const float plus_one = __fadd_rn(normalized, 1.0f);
      float p = a.align_corners ? __fmul_rn(__fdiv_rn(plus_one, 2.0f), __fsub_rn(size, 1.0f))
                                : __fdiv_rn(__fsub_rn(__fmul_rn(plus_one, size), 1.0f), 2.0f);
      if (isnan(p)) {
        nan_position = true;
        break;
      }
      if (a.mode == SampleMode::kNearest) p = rintf(p);
      if (p < float(low) || p > float(high)) {
        if (a.padding == Padding::kBorder) {
          p = fminf(fmaxf(p, 0.0f), __fsub_rn(size, 1.0f));
        } else if (a.padding == Padding::kReflection) {
          p = float(reflect(double(p), low, high));
        }
      }
      p = fminf(fmaxf(p, -4.0f), __fadd_rn(size, 3.0f));
      if (a.mode == SampleMode::kNearest) {
        index[k][0] = tap_index(int64_t(p), size_i, low, high, a.padding);
        continue;
      }
      const float base = floorf(p);
      const int64_t first = int64_t(base);
      const double t = double(__fsub_rn(p, base));
      if (a.mode == SampleMode::kLinear) {
        taps[k] = 2;
        for (int d = 0; d < 2; ++d)
          index[k][d] = tap_index(first + d, size_i, low, high, a.padding);
        weight[k][0] = 1.0 - t;
        weight[k][1] = t;
      } else {
        taps[k] = 4;
        for (int d = 0; d < 4; ++d)
          index[k][d] = tap_index(first - 1 + d, size_i, low, high, a.padding);
        weight[k][0] = cubic_far(t + 1);
        weight[k][1] = cubic_near(t);
        weight[k][2] = cubic_near(1 - t);
        weight[k][3] = cubic_far(2 - t);
      }
    }
    if (nan_position) {
      y[i] = from_float<T>(NAN);
      continue;
    }
    // Row-major strides of the spatial dims (unused axes have one tap at index 0).
    int64_t stride[kMaxSampleDims] = {0, 0, 0};
    int64_t plane_size = 1;
    for (int k = a.dims - 1; k >= 0; --k) {
      stride[k] = plane_size;
      plane_size *= a.in[k];
    }
    const T* in = x + plane * plane_size;
    if (a.mode == SampleMode::kNearest) {
      bool padded = false;
      int64_t offset = 0;
      for (int k = 0; k < a.dims; ++k) {
        if (index[k][0] < 0) padded = true;
        offset += index[k][0] * stride[k];
      }
      y[i] = padded ? from_float<T>(0.0f) : in[offset];
      continue;
    }
    double sum = 0.0;
    for (int t0 = 0; t0 < taps[0]; ++t0) {
      for (int t1 = 0; t1 < taps[1]; ++t1) {
        for (int t2 = 0; t2 < taps[2]; ++t2) {
          if (index[0][t0] < 0 || index[1][t1] < 0 || index[2][t2] < 0) continue;
          const double w = weight[0][t0] * weight[1][t1] * weight[2][t2];
          const int64_t offset =
              index[0][t0] * stride[0] + index[1][t1] * stride[1] + index[2][t2] * stride[2];
          sum += w * double(to_float(in[offset]));
        }
      }
    }
    y[i] = from_float<T>(float(sum));
  }
}

SampleArgs sample_args(const ir::Node& node, const Dims& x, const Dims& y) {
  SampleArgs a;
  a.dims = int(x.size()) - 2;
  a.batch = x[0];
  a.channels = x[1];
  for (int k = 0; k < a.dims; ++k) a.in[k] = x[size_t(2 + k)];
  a.out_plane = 1;
  for (size_t d = 2; d < y.size(); ++d) a.out_plane *= y[d];
  const std::string mode = node.attr_string("mode", "linear");
  a.mode = mode == "nearest" ? SampleMode::kNearest
                             : (mode == "cubic" ? SampleMode::kCubic : SampleMode::kLinear);
  const std::string padding = node.attr_string("padding_mode", "zeros");
  a.padding = padding == "border"
                  ? Padding::kBorder
                  : (padding == "reflection" ? Padding::kReflection : Padding::kZeros);
  a.align_corners = node.attr_int("align_corners", 0) == 1;
  return a;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "GridSample",
    "cuda_grid_sample",
    {},
    [](const NodeQuery& q) {
      const size_t rank = q.input(0).shape.size();
      return is_float16_or_32(q.input(0).dtype) && is_float16_or_32(q.input(1).dtype) &&
             rank >= 3 && rank <= size_t(2 + kMaxSampleDims);
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const DeviceTensor& y = rc.output(0);
      const int64_t total = y.numel();
      if (total == 0) return;
      const SampleArgs a = sample_args(rc.node, x.shape, y.shape);
      dispatch_float(rc.node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        dispatch_float(rc.node, rc.input(1).dtype, [&](auto grid_tag) {
          using G = typename decltype(grid_tag)::type;
          grid_sample_kernel<T, G><<<grid_for(total), kBlock, 0, rc.stream>>>(
              x.as<T>(), rc.input(1).as<G>(), y.as<T>(), total, a);
        });
      });
    }});

}  // namespace
}  // namespace kiln::cuda
