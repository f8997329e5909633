// ConvInteger and QLinearConv (src/ops/quantized_conv.cpp): NCHW convolution with 1 to 3
// spatial dims, groups, strides, dilations, explicit or automatic padding, of zero-point-shifted
// int8/uint8 operands; x's zero point per tensor, w's per tensor or per output channel;
// QLinearConv adds the optional int32 bias and requantizes (float32 scales, w's per channel) as
// the CPU does, bit for bit.
//
// One implicit GEMM per (image, group) on the tiled kernel of quantized_common.cuh: the rows are
// the group's output channels (w's rows, k-contiguous), the columns the output positions, and
// the k axis (input channel, kernel tap) gathers x through the convolution's index arithmetic;
// padded positions read 0 after the shift (x_zero_point in the quantized domain, as the CPU and
// onnxruntime pad). Correctness first: no im2col buffer, no tensor cores.
#include "backends/cuda/quantized_common.cuh"
#include "ops/convolution.h"

namespace kiln::cuda {
namespace {

using quant::QType;

inline constexpr int kMaxSpatial = 3;

// Spatial extents and attributes, right-aligned into 3 dims (leading ones are 1-extent, 0-pad).
struct Spatial {
  int32_t in[kMaxSpatial] = {1, 1, 1};
  int32_t kernel[kMaxSpatial] = {1, 1, 1};
  int32_t out[kMaxSpatial] = {1, 1, 1};
  int32_t stride[kMaxSpatial] = {1, 1, 1};
  int32_t dilation[kMaxSpatial] = {1, 1, 1};
  int32_t pad[kMaxSpatial] = {0, 0, 0};  // at the beginning
  int32_t in_volume = 1, out_volume = 1, kernel_volume = 1;
};

struct QuantizedConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  int64_t group_in = 0, group_out = 0;
  Spatial s;
};

// Conv's geometry as shape inference resolves it (ops/convolution.h), right-aligned into
// kMaxSpatial axes of int32 (the support check keeps every extent within int32).
QuantizedConvGeometry make_geometry(const ir::Node& node, DataType dtype, const Dims& x,
                                    const Dims& w) {
  const ops::ConvGeometry c = ops::resolve_conv(node, dtype, x, w);
  QuantizedConvGeometry g;
  const size_t rank = c.in_spatial.size();
  g.batch = c.batch;
  g.in_channels = c.in_channels;
  g.out_channels = c.out_channels;
  g.group = c.group;
  g.group_in = g.in_channels / g.group;
  g.group_out = g.out_channels / g.group;
  const size_t skip = kMaxSpatial - rank;
  for (size_t d = 0; d < rank; ++d) {
    g.s.in[skip + d] = int32_t(c.in_spatial[d]);
    g.s.kernel[skip + d] = int32_t(c.kernel[d]);
    g.s.out[skip + d] = int32_t(c.out_spatial[d]);
    g.s.stride[skip + d] = int32_t(c.strides[d]);
    g.s.dilation[skip + d] = int32_t(c.dilations[d]);
    g.s.pad[skip + d] = int32_t(c.pads_begin[d]);
  }
  g.s.in_volume = int32_t(volume(c.in_spatial));
  g.s.out_volume = int32_t(volume(c.out_spatial));
  g.s.kernel_volume = int32_t(volume(c.kernel));
  return g;
}

// The weights of group z % group: rows are its output channels, k = (input channel, tap).
struct LoadWeights {
  const uint8_t* w;
  const uint8_t* zero_point;  // nullptr: 0
  bool per_channel;
  QType type;
  int64_t group, group_out, k;

  struct View {
    const uint8_t* w;
    const uint8_t* zero_point;
    bool per_channel;
    QType type;
    int64_t k;
    __device__ __forceinline__ int32_t operator()(int64_t row, int64_t kk) const {
      const int32_t v = quant::load_int8(w, row * k + kk, type);
      return zero_point ? v - quant::load_int8(zero_point, per_channel ? row : 0, type) : v;
    }
  };
  __device__ __forceinline__ View at(int64_t z) const {
    const int64_t first_channel = (z % group) * group_out;
    return {w + first_channel * k,
            zero_point ? zero_point + (per_channel ? first_channel : 0) : nullptr, per_channel,
            type, k};
  }
};

// x of image z / group, channels of group z % group, gathered as the GEMM's [k, positions].
struct LoadImage {
  const uint8_t* x;
  const uint8_t* zero_point;  // nullptr: 0
  QType type;
  int64_t group, in_channels, group_in;
  Spatial s;

  struct View {
    const uint8_t* x;
    int32_t zero;
    QType type;
    Spatial g;
    __device__ __forceinline__ int32_t operator()(int64_t kk, int64_t p) const {
      const int32_t channel = int32_t(kk) / g.kernel_volume;
      int32_t tap = int32_t(kk) - channel * g.kernel_volume;
      int32_t position = int32_t(p);
      int32_t coords[kMaxSpatial];
#pragma unroll
      for (int d = kMaxSpatial - 1; d >= 0; --d) {
        const int32_t k_coord = tap % g.kernel[d];
        tap /= g.kernel[d];
        const int32_t out_coord = position % g.out[d];
        position /= g.out[d];
        coords[d] = out_coord * g.stride[d] - g.pad[d] + k_coord * g.dilation[d];
        if (coords[d] < 0 || coords[d] >= g.in[d]) return 0;  // padding: x_zero_point
      }
      const int64_t offset = int64_t(channel) * g.in_volume +
                             (int64_t(coords[0]) * g.in[1] + coords[1]) * g.in[2] + coords[2];
      return quant::load_int8(x, offset, type) - zero;
    }
  };
  __device__ __forceinline__ View at(int64_t z) const {
    const int64_t image = z / group, first_channel = (z % group) * group_in;
    return {x + (image * in_channels + first_channel) * int64_t(s.in_volume),
            zero_point ? quant::load_int8(zero_point, 0, type) : 0, type, s};
  }
};

// Output position `col` of output channel `row` of group z % group, image z / group.
struct StoreInt32 {
  int32_t* y;
  int64_t group, group_out, out_channels, out_volume;
  struct View {
    int32_t* y;
    int64_t out_volume;
    template <typename Sum>
    __device__ __forceinline__ void operator()(int64_t row, int64_t col, Sum acc) const {
      y[row * out_volume + col] = int32_t(acc);
    }
  };
  __device__ __forceinline__ View at(int64_t z) const {
    const int64_t image = z / group, first_channel = (z % group) * group_out;
    return {y + (image * out_channels + first_channel) * out_volume, out_volume};
  }
};

template <typename Sum>
__device__ __forceinline__ double sum_as_double(Sum s) {
  if constexpr (std::is_same_v<Sum, uint32_t>) {
    return double(int32_t(s));
  } else {
    return double(s);
  }
}

struct StoreRequantized {
  uint8_t* y;
  QType y_type;
  int64_t group, group_out, out_channels, out_volume;
  const float* x_scale;
  const float* w_scale;
  bool w_scale_per_channel;
  const float* y_scale;
  const uint8_t* y_zero_point;  // nullptr: 0
  const int32_t* bias;          // nullptr: none

  struct View {
    uint8_t* y;
    QType y_type;
    int64_t out_volume;
    float x_scale, y_scale;
    const float* w_scale;  // at the group's first channel when per channel
    bool w_scale_per_channel;
    double y_zero;
    const int32_t* bias;  // at the group's first channel
    template <typename Sum>
    __device__ __forceinline__ void operator()(int64_t row, int64_t col, Sum acc) const {
      const double b = bias ? double(bias[row]) : 0.0;
      const double multiplier = quant::requantize_multiplier(
          DataType::kFloat32, x_scale, w_scale[w_scale_per_channel ? row : 0], y_scale);
      const double value =
          __dadd_rn(__dmul_rn(__dadd_rn(sum_as_double(acc), b), multiplier), y_zero);
      quant::store_quantized(y, row * out_volume + col, y_type, value);
    }
  };
  __device__ __forceinline__ View at(int64_t z) const {
    const int64_t image = z / group, first_channel = (z % group) * group_out;
    return {y + (image * out_channels + first_channel) * out_volume,
            y_type,
            out_volume,
            *x_scale,
            *y_scale,
            w_scale + (w_scale_per_channel ? first_channel : 0),
            w_scale_per_channel,
            y_zero_point ? quant::load_q_double(y_zero_point, 0, y_type) : 0.0,
            bias ? bias + first_channel : nullptr};
  }
};

// Sums stay exact in int32 while k * 255 * 255 fits; beyond, QLinearConv (whose CPU sums are
// exact) accumulates in int64, ConvInteger keeps the int32 wrap the spec allows.
inline constexpr int64_t kExactInt32K = 33025;

void run_conv(RunContext& rc) {
  const bool qlinear = rc.node.op == "QLinearConv";
  const size_t ix = 0, iw = qlinear ? 3 : 1, ix_zero = 2, iw_zero = qlinear ? 5 : 3;
  const DeviceTensor& x = rc.input(ix);
  const DeviceTensor& w = rc.input(iw);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const QuantizedConvGeometry g = make_geometry(rc.node, x.dtype, x.shape, w.shape);
  const int64_t k = g.group_in * g.s.kernel_volume;
  if (k == 0) {
    KILN_CHECK(!qlinear, ErrorCode::kUnsupported, rc.node.describe(),
               ": QLinearConv over zero input channels on the GPU");
    check_cuda(cudaMemsetAsync(y.data, 0, y.nbytes(), rc.stream), rc.node, "zero-filling");
    return;
  }
  LoadWeights weights{};
  weights.w = static_cast<const uint8_t*>(w.data);
  weights.zero_point =
      rc.has_input(iw_zero) ? static_cast<const uint8_t*>(rc.input(iw_zero).data) : nullptr;
  weights.per_channel = rc.has_input(iw_zero) && rc.input(iw_zero).numel() > 1;
  quant::qtype_of(w.dtype, weights.type);
  weights.group = g.group;
  weights.group_out = g.group_out;
  weights.k = k;
  LoadImage image{};
  image.x = static_cast<const uint8_t*>(x.data);
  image.zero_point =
      rc.has_input(ix_zero) ? static_cast<const uint8_t*>(rc.input(ix_zero).data) : nullptr;
  quant::qtype_of(x.dtype, image.type);
  image.group = g.group;
  image.in_channels = g.in_channels;
  image.group_in = g.group_in;
  image.s = g.s;
  const int64_t batches = g.batch * g.group;
  const int64_t positions = g.s.out_volume;
  if (!qlinear) {
    const StoreInt32 store{y.as<int32_t>(), g.group, g.group_out, g.out_channels, positions};
    quant::launch_tiled_gemm<int32_t, uint32_t>(rc.node, batches, g.group_out, positions, k,
                                                weights, image, store, rc.stream);
    return;
  }
  StoreRequantized store{};
  store.y = y.as<uint8_t>();
  quant::qtype_of(y.dtype, store.y_type);
  store.group = g.group;
  store.group_out = g.group_out;
  store.out_channels = g.out_channels;
  store.out_volume = positions;
  store.x_scale = rc.input(1).as<float>();
  store.w_scale = rc.input(4).as<float>();
  store.w_scale_per_channel = rc.input(4).numel() > 1;
  store.y_scale = rc.input(6).as<float>();
  store.y_zero_point = rc.has_input(7) ? static_cast<const uint8_t*>(rc.input(7).data) : nullptr;
  store.bias = rc.has_input(8) ? rc.input(8).as<int32_t>() : nullptr;
  if (k <= kExactInt32K) {
    quant::launch_tiled_gemm<int32_t, uint32_t>(rc.node, batches, g.group_out, positions, k,
                                                weights, image, store, rc.stream);
  } else {
    quant::launch_tiled_gemm<int32_t, int64_t>(rc.node, batches, g.group_out, positions, k, weights,
                                               image, store, rc.stream);
  }
}

// Spatial rank 1 to 3 and per-image extents within 32-bit index arithmetic.
bool conv_geometry_ok(const NodeQuery& q, size_t ix, size_t iw) {
  const Dims& x = q.input(ix).shape;
  const Dims& w = q.input(iw).shape;
  if (x.size() < 3 || x.size() > 2 + kMaxSpatial || w.size() != x.size()) return false;
  if (!q.has_output(0) || q.outputs[0].shape.size() != x.size()) return false;
  constexpr int64_t kLimit = int64_t(INT32_MAX);
  const int64_t in_volume = volume(Dims(x.begin() + 2, x.end()));
  const int64_t out_volume = volume(Dims(q.outputs[0].shape.begin() + 2, q.outputs[0].shape.end()));
  const int64_t taps = volume(w) / std::max<int64_t>(w[0], 1);
  return in_volume < kLimit && out_volume < kLimit && taps < kLimit;
}

bool same_type_if_present(const NodeQuery& q, size_t i, DataType t) {
  return !q.has_input(i) || q.input(i).dtype == t;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"ConvInteger",
                                     "cuda_conv_integer_implicit_gemm",
                                     {},
                                     [](const NodeQuery& q) {
                                       const DataType xt = q.input(0).dtype, wt = q.input(1).dtype;
                                       return quant::is_int8_type(xt) && quant::is_int8_type(wt) &&
                                              same_type_if_present(q, 2, xt) &&
                                              same_type_if_present(q, 3, wt) &&
                                              conv_geometry_ok(q, 0, 1) &&
                                              q.outputs[0].dtype == DataType::kInt32;
                                     },
                                     run_conv});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "QLinearConv",
    "cuda_qlinear_conv_implicit_gemm",
    {},
    [](const NodeQuery& q) {
      const DataType xt = q.input(0).dtype, wt = q.input(3).dtype;
      if (!quant::is_int8_type(xt) || !quant::is_int8_type(wt)) return false;
      if (!same_type_if_present(q, 2, xt) || !same_type_if_present(q, 5, wt)) return false;
      for (size_t i : {size_t(1), size_t(4), size_t(6)}) {
        if (q.input(i).dtype != DataType::kFloat32) return false;
      }
      if (q.has_input(8) && q.input(8).dtype != DataType::kInt32) return false;
      QType out;
      return q.has_output(0) && quant::qtype_of(q.outputs[0].dtype, out) &&
             conv_geometry_ok(q, 0, 3);
    },
    run_conv});

}  // namespace
}  // namespace kiln::cuda
