// Resize (ONNX opset 19; Upsample and older Resize import as it) on the GPU: nearest, linear
// and cubic over any axes of tensors up to kMaxRank, every coordinate_transformation_mode and
// nearest_mode, cubic_coeff_a, exclude_outside, antialias, tf_crop_and_resize with roi and
// extrapolation_value, axes and keep_aspect_ratio_policy, as the reference (src/ops/resize.cpp)
// defines them.
//
// Interpolation is separable, so each resized axis has a filter: output coordinate o reads
// `taps` input positions with weights. The filter of one coordinate is computed by
// axis_taps(), one function for host and device whose source coordinate is evaluated in double
// with the reference's operations in the reference's order and no fused multiply-adds, so that
// nearest indices (where x / scale lands exactly on a tie) and tf_crop_and_resize's
// extrapolation tests agree bit for bit with the CPU backend.
//
// Three launches, chosen on the host per run (scales, sizes and roi are shape operands read
// there):
//  - nearest replication by integer factors of the last two axes (the upsampling of YOLO, FPN,
//    U-Net: Upsample/Resize nearest 2x) and 2x linear patterns along them (bilinear 2x with
//    half_pixel, pytorch_half_pixel, half_pixel_symmetric or asymmetric): no tables, 16-byte
//    stores along W, 32-bit index arithmetic. The host checks each axis's filter against the
//    pattern first, so these are exact specializations, not approximations;
//  - otherwise a small kernel writes every resized axis's filter table (int32 index, float
//    weight per tap) into the context's workspace, and the general kernel computes each output
//    element as the tensor product of its axes' taps (nearest: a gather of raw elements, exact
//    for every dtype; linear and cubic: float32 math, rounded once into X's float type).
// Extrapolated coordinates (tf_crop_and_resize outside the image) give extrapolation_value.
// Resize sees plain row-major tensors: the channels-last pass leaves Transposes around ops that
// are not layout-aware, so no NHWC variant is needed.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cuda/data_movement.cuh"
#include "ops/common.h"

namespace kiln::cuda {
namespace {

// ---------------------------------------------------------------------------------------------
// Attributes

enum class Interp : int { kNearest, kLinear, kCubic };
enum class Coord : int {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,
};
enum class Rounding : int { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class Aspect : int { kStretch, kNotLarger, kNotSmaller };

// What every axis's filter shares (plain data: passed to kernels by value).
struct FilterSpec {
  Interp interp = Interp::kNearest;
  Coord coord = Coord::kHalfPixel;
  Rounding rounding = Rounding::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
};

// One axis: extents, the scale and roi the coordinate transformation uses, the tap layout, and
// where its table starts (entries) in the workspace.
struct AxisSpec {
  int64_t in_len = 1, out_len = 1;
  double scale = 1.0, roi_start = 0.0, roi_end = 1.0;
  int taps = 1;
  int first_tap = 0;  // tap t reads position left + first_tap + t
  bool identity = true;
  int64_t table = 0;
};

template <typename Enum>
Enum choose(const ir::Node& node, const std::string& key, const std::string& fallback,
            const std::vector<std::pair<const char*, Enum>>& choices) {
  const std::string value = node.attr_string(key, fallback);
  for (const auto& [name, e] : choices) {
    if (value == name) return e;
  }
  fail(ErrorCode::kInvalidModel, node.describe(), ": ", key, " '", value,
       "' is not supported by the CUDA Resize kernel");
}

struct ResizeAttrs {
  FilterSpec filter;
  Aspect aspect = Aspect::kStretch;
  double extrapolation_value = 0.0;
  std::vector<int64_t> axes;
};

ResizeAttrs parse_attrs(const ir::Node& node, int64_t rank) {
  ResizeAttrs a;
  FilterSpec& f = a.filter;
  f.interp = choose<Interp>(
      node, "mode", "nearest",
      {{"nearest", Interp::kNearest}, {"linear", Interp::kLinear}, {"cubic", Interp::kCubic}});
  f.coord = choose<Coord>(node, "coordinate_transformation_mode", "half_pixel",
                          {{"half_pixel", Coord::kHalfPixel},
                           {"half_pixel_symmetric", Coord::kHalfPixelSymmetric},
                           {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
                           {"align_corners", Coord::kAlignCorners},
                           {"asymmetric", Coord::kAsymmetric},
                           {"tf_crop_and_resize", Coord::kTfCropAndResize},
                           {"tf_half_pixel_for_nn", Coord::kTfHalfPixelForNn}});
  f.rounding = choose<Rounding>(node, "nearest_mode", "round_prefer_floor",
                                {{"round_prefer_floor", Rounding::kRoundPreferFloor},
                                 {"round_prefer_ceil", Rounding::kRoundPreferCeil},
                                 {"floor", Rounding::kFloor},
                                 {"ceil", Rounding::kCeil}});
  a.aspect = choose<Aspect>(node, "keep_aspect_ratio_policy", "stretch",
                            {{"stretch", Aspect::kStretch},
                             {"not_larger", Aspect::kNotLarger},
                             {"not_smaller", Aspect::kNotSmaller}});
  f.cubic_a = node.attr_float("cubic_coeff_a", -0.75);
  f.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  f.antialias = node.attr_int("antialias", 0) != 0;
  a.extrapolation_value = node.attr_float("extrapolation_value", 0.0);
  if (node.has_attr("axes")) {
    a.axes = ops::normalize_axes(node, node.attr_ints("axes"), rank);
  } else {
    for (int64_t d = 0; d < rank; ++d) a.axes.push_back(d);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Per-axis filters, shared by host (pattern checks) and device (tables). The coordinate
// arithmetic goes through these helpers so that nvcc cannot contract it into fused
// multiply-adds, which would round differently from the CPU backend.

__host__ __device__ __forceinline__ double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
__host__ __device__ __forceinline__ double sub_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}
__host__ __device__ __forceinline__ double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
__host__ __device__ __forceinline__ double div_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

// The input coordinate that output coordinate o maps to.
__host__ __device__ double source_coordinate(Coord mode, const AxisSpec& a, int64_t o) {
  const double x = double(o);
  const double in_len = double(a.in_len), out_len = double(a.out_len);
  switch (mode) {
    case Coord::kHalfPixel:
      return sub_rn(div_rn(add_rn(x, 0.5), a.scale), 0.5);
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = div_rn(out_len, mul_rn(a.scale, in_len));
      const double center = div_rn(in_len, 2.0);
      const double offset = mul_rn(center, sub_rn(1.0, adjustment));
      return sub_rn(add_rn(offset, div_rn(add_rn(x, 0.5), a.scale)), 0.5);
    }
    case Coord::kPytorchHalfPixel:
      return a.out_len > 1 ? sub_rn(div_rn(add_rn(x, 0.5), a.scale), 0.5) : 0.0;
    case Coord::kAlignCorners:
      return a.out_len == 1 ? 0.0 : div_rn(mul_rn(x, double(a.in_len - 1)), double(a.out_len - 1));
    case Coord::kAsymmetric:
      return div_rn(x, a.scale);
    case Coord::kTfHalfPixelForNn:
      return div_rn(add_rn(x, 0.5), a.scale);
    case Coord::kTfCropAndResize:
      if (a.out_len > 1) {
        const double span = double(a.in_len - 1);
        return add_rn(
            mul_rn(a.roi_start, span),
            div_rn(mul_rn(mul_rn(x, sub_rn(a.roi_end, a.roi_start)), span), double(a.out_len - 1)));
      }
      return mul_rn(mul_rn(0.5, add_rn(a.roi_start, a.roi_end)), double(a.in_len - 1));
  }
  return 0.0;
}

// Unnormalized weight of tap t for a sample at left + ratio.
__host__ __device__ double raw_weight(const FilterSpec& f, const AxisSpec& a, int t, double ratio) {
  const double c = f.cubic_a;
  if (!f.antialias) {
    if (f.interp == Interp::kLinear) return t == 0 ? 1 - ratio : ratio;
    const double r = ratio, s = 1 - ratio;
    switch (t) {
      case 0:
        return ((c * (r + 1) - 5 * c) * (r + 1) + 8 * c) * (r + 1) - 4 * c;
      case 1:
        return ((c + 2) * r - (c + 3)) * r * r + 1;
      case 2:
        return ((c + 2) * s - (c + 3)) * s * s + 1;
      default:
        return ((c * (s + 1) - 5 * c) * (s + 1) + 8 * c) * (s + 1) - 4 * c;
    }
  }
  // Antialiasing stretches the filter by 1 / scale when shrinking.
  const double stretch = a.scale < 1.0 ? a.scale : 1.0;
  const double x = fabs(stretch * (double(a.first_tap + t) - ratio));
  if (f.interp == Interp::kCubic) {
    return x <= 1  ? ((c + 2) * x - (c + 3)) * x * x + 1
           : x < 2 ? ((c * x - 5 * c) * x + 8 * c) * x - 4 * c
                   : 0.0;
  }
  return x < 1 ? 1 - x : 0.0;
}

__host__ __device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t len) {
  return i < 0 ? 0 : (i > len - 1 ? len - 1 : i);
}

// The taps of output coordinate o: input positions index[t] and weights weight[t] for
// t < a.taps; index[0] is -1 where o is extrapolated (tf_crop_and_resize outside the image).
__host__ __device__ void axis_taps(const FilterSpec& f, const AxisSpec& a, int64_t o,
                                   int32_t* index, float* weight) {
  const double x = source_coordinate(f.coord, a, o);
  const bool extrapolated =
      f.coord == Coord::kTfCropAndResize && (x < 0 || x > double(a.in_len - 1));
  // The sample lies in (left, left + 1]: an integer coordinate is its interval's right end.
  const double left = sub_rn(ceil(x), 1.0);
  const double ratio = sub_rn(x, left);
  const int64_t base = int64_t(left);
  if (f.interp == Interp::kNearest) {
    int64_t i = base + 1;
    if (ratio != 1.0) {
      bool up = false;
      switch (f.rounding) {
        case Rounding::kRoundPreferFloor:
          up = ratio > 0.5;
          break;
        case Rounding::kRoundPreferCeil:
          up = ratio >= 0.5;
          break;
        case Rounding::kFloor:
          up = false;
          break;
        case Rounding::kCeil:
          up = true;
          break;
      }
      i = base + (up ? 1 : 0);
    }
    index[0] = extrapolated ? -1 : int32_t(clamp_index(i, a.in_len));
    weight[0] = 1.0f;
    return;
  }
  // Antialiased filters sum to 1 by normalization; exclude_outside drops the taps outside the
  // input and renormalizes (a zero sum leaves zeros).
  const bool normalize = f.antialias || f.exclude_outside;
  double sum = 0;
  if (normalize) {
    for (int t = 0; t < a.taps; ++t) {
      const int64_t i = base + a.first_tap + t;
      if (f.exclude_outside && (i < 0 || i >= a.in_len)) continue;
      sum += raw_weight(f, a, t, ratio);
    }
  }
  for (int t = 0; t < a.taps; ++t) {
    const int64_t i = base + a.first_tap + t;
    double w = raw_weight(f, a, t, ratio);
    if (f.exclude_outside && (i < 0 || i >= a.in_len)) w = 0;
    if (normalize) w = sum != 0 ? w / sum : 0.0;
    index[t] = int32_t(clamp_index(i, a.in_len));
    weight[t] = float(w);
  }
  if (extrapolated) index[0] = -1;
}

// ---------------------------------------------------------------------------------------------
// Host planning: per-axis specs from the shape operands.

struct ResizePlan {
  FilterSpec filter;
  double extrapolation_value = 0.0;
  std::vector<AxisSpec> axes;  // one per dimension
  int64_t table_entries = 0;   // sum of out_len * taps over the resized axes
};

ResizePlan plan_resize(const ir::Node& node, const Dims& in, const Dims& out, const Tensor* scales,
                       const Tensor* sizes, const Tensor* roi) {
  const size_t rank = in.size();
  const ResizeAttrs attrs = parse_attrs(node, int64_t(rank));
  ResizePlan p;
  p.filter = attrs.filter;
  p.extrapolation_value = attrs.extrapolation_value;
  p.axes.resize(rank);
  const size_t k = attrs.axes.size();
  std::vector<double> scale(rank, 1.0);
  if (scales != nullptr) {
    const std::vector<double> v = scales->to_double_vector();
    KILN_CHECK(v.size() == k, ErrorCode::kInvalidModel, node.describe(), ": scales has ", v.size(),
               " values but ", k, " axes are resized");
    for (size_t i = 0; i < k; ++i) scale[size_t(attrs.axes[i])] = v[i];
  } else if (sizes != nullptr) {
    const std::vector<int64_t> v = sizes->to_int64_vector();
    KILN_CHECK(v.size() == k, ErrorCode::kInvalidModel, node.describe(), ": sizes has ", v.size(),
               " values but ", k, " axes are resized");
    for (size_t i = 0; i < k; ++i) {
      const size_t d = size_t(attrs.axes[i]);
      scale[d] = in[d] > 0 ? double(v[i]) / double(in[d]) : 1.0;
    }
    if (attrs.aspect != Aspect::kStretch && k > 0) {
      double s = scale[size_t(attrs.axes[0])];
      for (int64_t d : attrs.axes) {
        s = attrs.aspect == Aspect::kNotLarger ? std::min(s, scale[size_t(d)])
                                               : std::max(s, scale[size_t(d)]);
      }
      for (int64_t d : attrs.axes) scale[size_t(d)] = s;
    }
  }
  const bool crop = p.filter.coord == Coord::kTfCropAndResize;
  std::vector<double> roi_values;
  if (crop && roi != nullptr) {
    roi_values = roi->to_double_vector();
    KILN_CHECK(roi_values.size() == 2 * k, ErrorCode::kInvalidModel, node.describe(), ": roi has ",
               roi_values.size(), " values; tf_crop_and_resize needs ", 2 * k);
  }
  for (size_t d = 0; d < rank; ++d) {
    AxisSpec& a = p.axes[d];
    a.in_len = in[d];
    a.out_len = out[d];
    a.scale = scale[d];
  }
  for (size_t i = 0; i < k && !roi_values.empty(); ++i) {
    p.axes[size_t(attrs.axes[i])].roi_start = roi_values[i];
    p.axes[size_t(attrs.axes[i])].roi_end = roi_values[k + i];
  }
  const FilterSpec& f = p.filter;
  for (AxisSpec& a : p.axes) {
    // Every mode maps x to x here; skipping keeps values bit-exact.
    a.identity = a.out_len == a.in_len && std::fabs(a.scale - 1.0) <= 1e-9 &&
                 (!crop || (a.roi_start == 0.0 && a.roi_end == 1.0));
    if (a.identity) continue;
    if (f.interp == Interp::kNearest) {
      a.taps = 1;
    } else if (!f.antialias) {
      a.taps = f.interp == Interp::kLinear ? 2 : 4;
      a.first_tap = f.interp == Interp::kLinear ? 0 : -1;
    } else {
      const double stretch = std::min(a.scale, 1.0);
      const double support = f.interp == Interp::kCubic ? 2.0 : 1.0;
      const double first = std::floor(-support / stretch) + 1;
      KILN_CHECK(first > -1e6, ErrorCode::kUnsupported, node.describe(),
                 ": antialiasing filter too wide for the CUDA kernel (scale ", a.scale, ")");
      a.first_tap = int(first);
      a.taps = 2 - 2 * a.first_tap;
    }
    a.table = p.table_entries;
    p.table_entries += a.out_len * a.taps;
  }
  return p;
}

// Workspace bytes for the tables: int32 indices, then float weights (256-byte aligned).
size_t table_bytes(int64_t entries) {
  const size_t half = (size_t(entries) * 4 + 255) / 256 * 256;
  return 2 * half;
}

struct ShapeOperands {
  const Tensor* scales = nullptr;
  const Tensor* sizes = nullptr;
  const Tensor* roi = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Kernels

inline constexpr int kMaxTableAxes = kMaxRank;

struct TableArgs {
  FilterSpec filter;
  int count = 0;
  AxisSpec axes[kMaxTableAxes];
  int64_t first_coordinate[kMaxTableAxes + 1] = {};  // running sum of out_len
};

__global__ void build_tables_kernel(TableArgs a, int32_t* index, float* weight, int64_t total) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int k = 0;
    while (k + 1 < a.count && i >= a.first_coordinate[k + 1]) ++k;
    const AxisSpec& axis = a.axes[k];
    const int64_t o = i - a.first_coordinate[k];
    const int64_t entry = axis.table + o * axis.taps;
    axis_taps(a.filter, axis, o, index + entry, weight + entry);
  }
}

// The output's dims, outermost first, with identity neighbours merged; taps == 0 for identity.
struct GeneralArgs {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {};
  int taps[kMaxRank] = {};
  int64_t table[kMaxRank] = {};
};

template <typename B>
__global__ void nearest_general_kernel(const B* __restrict__ x, B* __restrict__ y, int64_t total,
                                       GeneralArgs a, const int32_t* __restrict__ index, B fill) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t rest = i, offset = 0;
    bool extrapolated = false;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t o = rest % a.out_dims[d];
      rest /= a.out_dims[d];
      if (a.taps[d] == 0) {
        offset += o * a.in_strides[d];
      } else {
        const int32_t at = index[a.table[d] + o];
        if (at < 0) extrapolated = true;
        offset += int64_t(at < 0 ? 0 : at) * a.in_strides[d];
      }
    }
    y[i] = extrapolated ? fill : x[offset];
  }
}

template <typename T>
__global__ void interpolate_general_kernel(const T* __restrict__ x, T* __restrict__ y,
                                           int64_t total, GeneralArgs a,
                                           const int32_t* __restrict__ index,
                                           const float* __restrict__ weight, float fill) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t rest = i, base = 0;
    int resized = 0;
    int64_t entry[kMaxRank];
    int taps[kMaxRank];
    int64_t stride[kMaxRank];
    bool extrapolated = false;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t o = rest % a.out_dims[d];
      rest /= a.out_dims[d];
      if (a.taps[d] == 0) {
        base += o * a.in_strides[d];
        continue;
      }
      entry[resized] = a.table[d] + o * a.taps[d];
      if (index[entry[resized]] < 0) extrapolated = true;
      taps[resized] = a.taps[d];
      stride[resized] = a.in_strides[d];
      ++resized;
    }
    if (extrapolated) {
      y[i] = from_float<T>(fill);
      continue;
    }
    // Sum over the tensor product of the resized axes' taps (an odometer over tap counters).
    int counter[kMaxRank] = {};
    float sum = 0.0f;
    while (true) {
      float w = 1.0f;
      int64_t offset = base;
      for (int k = 0; k < resized; ++k) {
        const int64_t e = entry[k] + counter[k];
        w *= weight[e];
        offset += int64_t(index[e]) * stride[k];
      }
      sum += w * to_float(x[offset]);
      int k = 0;
      for (; k < resized; ++k) {
        if (++counter[k] < taps[k]) break;
        counter[k] = 0;
      }
      if (k == resized) break;
    }
    y[i] = from_float<T>(sum);
  }
}

// ---- Fast paths over the last two axes (H, W), everything before them unchanged ("planes").
// One thread writes V consecutive outputs of one row; 32-bit index arithmetic.

template <typename E, int V>
struct alignas(sizeof(E) * V) Pack {
  E v[V];
};

struct RowGeometry {
  FastDivmod vectors_per_row;  // out_w / V
  FastDivmod out_h;
  uint32_t count = 0;  // threads: planes * out_h * out_w / V
  int64_t in_h = 0, in_w = 0, out_w = 0;
};

// out[p, h, w] = in[p, h / fh, w / fw].
template <typename B, int V>
__global__ void replicate_kernel(const B* __restrict__ x, B* __restrict__ y, RowGeometry g,
                                 FastDivmod fh, FastDivmod fw) {
  const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= g.count) return;
  uint32_t vector_in_row, h;
  const uint32_t row = g.vectors_per_row.divmod(t, vector_in_row);
  const uint32_t plane = g.out_h.divmod(row, h);
  const B* src = x + (int64_t(plane) * g.in_h + fh.div(h)) * g.in_w;
  const uint32_t w0 = vector_in_row * V;
  Pack<B, V> out;
#pragma unroll
  for (int j = 0; j < V; ++j) out.v[j] = src[fw.div(w0 + uint32_t(j))];
  *reinterpret_cast<Pack<B, V>*>(y + int64_t(row) * g.out_w + w0) = out;
}

// Per-phase weights of a 2x linear axis: output 2k reads (k - 1, k) with w[0], output 2k + 1
// reads (k, k + 1) with w[1] (indices clamped into the axis).
struct Linear2x {
  float w[2][2] = {{0, 0}, {0, 0}};
};

// FH, FW: 1 (axis unchanged) or 2 (2x linear pattern).
template <typename T, int V, int FH, int FW>
__global__ void linear2x_kernel(const T* __restrict__ x, T* __restrict__ y, RowGeometry g,
                                Linear2x wh, Linear2x ww) {
  const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= g.count) return;
  uint32_t vector_in_row, h;
  const uint32_t row = g.vectors_per_row.divmod(t, vector_in_row);
  const uint32_t plane = g.out_h.divmod(row, h);
  constexpr int kRows = FH;
  int64_t rows[kRows];
  float row_weight[kRows];
  if constexpr (FH == 1) {
    rows[0] = h;
    row_weight[0] = 1.0f;
  } else {
    const int64_t k = h >> 1, phase = h & 1;
    rows[0] = clamp_index(k + (phase ? 0 : -1), g.in_h);
    rows[1] = clamp_index(k + (phase ? 1 : 0), g.in_h);
    row_weight[0] = wh.w[phase][0];
    row_weight[1] = wh.w[phase][1];
  }
  const uint32_t w0 = vector_in_row * V;
  float acc[V];
#pragma unroll
  for (int j = 0; j < V; ++j) acc[j] = 0.0f;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const T* src = x + (int64_t(plane) * g.in_h + rows[r]) * g.in_w;
    if constexpr (FW == 1) {
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += row_weight[r] * to_float(src[w0 + j]);
    } else {
      // Outputs w0 .. w0 + V - 1 read inputs k0 - 1 .. k0 + V / 2 (clamped).
      constexpr int kWindow = V / 2 + 2;
      const int64_t k0 = w0 / 2;
      float window[kWindow];
#pragma unroll
      for (int i = 0; i < kWindow; ++i) window[i] = to_float(src[clamp_index(k0 - 1 + i, g.in_w)]);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const int phase = j & 1, k = j >> 1;
        const float v = ww.w[phase][0] * window[k + phase] + ww.w[phase][1] * window[k + phase + 1];
        acc[j] += row_weight[r] * v;
      }
    }
  }
  Pack<T, V> out;
#pragma unroll
  for (int j = 0; j < V; ++j) out.v[j] = from_float<T>(acc[j]);
  *reinterpret_cast<Pack<T, V>*>(y + int64_t(row) * g.out_w + w0) = out;
}

// ---------------------------------------------------------------------------------------------
// Host: choosing and launching

// The factor f when the axis's nearest filter is o -> o / f for an integer f, else 0.
int64_t replication_factor(const FilterSpec& f, const AxisSpec& a) {
  if (a.identity) return 1;
  if (a.in_len == 0 || a.out_len % a.in_len != 0) return 0;
  const int64_t factor = a.out_len / a.in_len;
  int32_t index = 0;
  float weight = 0;
  for (int64_t o = 0; o < a.out_len; ++o) {
    axis_taps(f, a, o, &index, &weight);
    if (index != o / factor) return 0;
  }
  return factor;
}

// Whether the axis's linear filter is the 2x pattern of Linear2x (weights in `w`).
bool is_linear2x(const FilterSpec& f, const AxisSpec& a, Linear2x& w) {
  if (a.identity || a.taps != 2 || a.out_len != 2 * a.in_len) return false;
  int32_t index[2];
  float weight[2];
  for (int64_t o = 0; o < a.out_len; ++o) {
    axis_taps(f, a, o, index, weight);
    const int64_t k = o / 2, phase = o % 2;
    for (int t = 0; t < 2; ++t) {
      if (index[t] != clamp_index(k + t - 1 + phase, a.in_len)) return false;
      if (o < 2) {
        w.w[phase][t] = weight[t];
      } else if (weight[t] != w.w[phase][t]) {
        return false;
      }
    }
  }
  return true;
}

unsigned blocks_for(uint32_t count) { return (count + kBlock - 1) / kBlock; }

// The rows view of the fast paths, or false when the tensor does not fit one: only the last two
// axes resized, 32-bit counts, and (for V > 1) rows whose length and start allow V-wide stores.
bool row_geometry(const ResizePlan& p, const DeviceTensor& y, int v, RowGeometry& g) {
  const size_t rank = p.axes.size();
  for (size_t d = 0; d + 2 < rank; ++d) {
    if (!p.axes[d].identity) return false;
  }
  if (y.numel() >= kMax32BitIndex) return false;
  const AxisSpec one;
  const AxisSpec& hx = rank >= 2 ? p.axes[rank - 2] : one;
  const AxisSpec& wx = p.axes[rank - 1];
  if (wx.out_len % v != 0) return false;
  if (reinterpret_cast<uintptr_t>(y.data) % (size_t(v) * element_size(y.dtype)) != 0) return false;
  g.in_h = hx.in_len;
  g.in_w = wx.in_len;
  g.out_w = wx.out_len;
  g.vectors_per_row = FastDivmod(uint32_t(wx.out_len / v));
  g.out_h = FastDivmod(uint32_t(hx.out_len));
  g.count = uint32_t(y.numel() / v);
  return true;
}

template <typename B>
bool try_replicate(RunContext& rc, const ResizePlan& p) {
  if (p.filter.interp != Interp::kNearest) return false;
  const size_t rank = p.axes.size();
  const AxisSpec one;
  const AxisSpec& hx = rank >= 2 ? p.axes[rank - 2] : one;
  const AxisSpec& wx = p.axes[rank - 1];
  const int64_t fh = replication_factor(p.filter, hx);
  const int64_t fw = replication_factor(p.filter, wx);
  if (fh == 0 || fw == 0) return false;
  constexpr int kWide = int(16 / sizeof(B));
  RowGeometry g;
  const B* x = rc.input(0).as<B>();
  B* y = rc.output(0).as<B>();
  if (row_geometry(p, rc.output(0), kWide, g)) {
    replicate_kernel<B, kWide><<<blocks_for(g.count), kBlock, 0, rc.stream>>>(
        x, y, g, FastDivmod(uint32_t(fh)), FastDivmod(uint32_t(fw)));
    return true;
  }
  if (row_geometry(p, rc.output(0), 1, g)) {
    replicate_kernel<B, 1><<<blocks_for(g.count), kBlock, 0, rc.stream>>>(
        x, y, g, FastDivmod(uint32_t(fh)), FastDivmod(uint32_t(fw)));
    return true;
  }
  return false;
}

template <typename T, int FH, int FW>
bool launch_linear2x(RunContext& rc, const ResizePlan& p, const Linear2x& wh, const Linear2x& ww) {
  constexpr int kWide = int(16 / sizeof(T));
  constexpr int kNarrow = FW == 2 ? 2 : 1;
  RowGeometry g;
  const T* x = rc.input(0).as<T>();
  T* y = rc.output(0).as<T>();
  if (row_geometry(p, rc.output(0), kWide, g)) {
    linear2x_kernel<T, kWide, FH, FW>
        <<<blocks_for(g.count), kBlock, 0, rc.stream>>>(x, y, g, wh, ww);
    return true;
  }
  if (row_geometry(p, rc.output(0), kNarrow, g)) {
    linear2x_kernel<T, kNarrow, FH, FW>
        <<<blocks_for(g.count), kBlock, 0, rc.stream>>>(x, y, g, wh, ww);
    return true;
  }
  return false;
}

template <typename T>
bool try_linear2x(RunContext& rc, const ResizePlan& p) {
  if (p.filter.interp != Interp::kLinear) return false;
  const size_t rank = p.axes.size();
  if (rank < 2) return false;
  const AxisSpec& hx = p.axes[rank - 2];
  const AxisSpec& wx = p.axes[rank - 1];
  Linear2x wh, ww;
  const int fh = hx.identity ? 1 : (is_linear2x(p.filter, hx, wh) ? 2 : 0);
  const int fw = wx.identity ? 1 : (is_linear2x(p.filter, wx, ww) ? 2 : 0);
  if (fh == 2 && fw == 2) return launch_linear2x<T, 2, 2>(rc, p, wh, ww);
  if (fh == 2 && fw == 1) return launch_linear2x<T, 2, 1>(rc, p, wh, ww);
  if (fh == 1 && fw == 2) return launch_linear2x<T, 1, 2>(rc, p, wh, ww);
  return false;
}

// The general path: tables into the workspace, then one thread per output element.
void run_general(RunContext& rc, const ResizePlan& p) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  const size_t bytes = table_bytes(p.table_entries);
  KILN_CHECK(bytes <= rc.workspace_bytes && rc.workspace != nullptr, ErrorCode::kUnsupported,
             rc.node.describe(), ": the resize filters need ", bytes,
             " bytes of workspace, more than the context's ", rc.workspace_bytes);
  auto* index = static_cast<int32_t*>(rc.workspace);
  auto* weight = reinterpret_cast<float*>(static_cast<std::byte*>(rc.workspace) + bytes / 2);

  TableArgs t;
  t.filter = p.filter;
  int64_t coordinates = 0;
  for (const AxisSpec& a : p.axes) {
    if (a.identity) continue;
    t.axes[t.count] = a;
    t.first_coordinate[t.count] = coordinates;
    coordinates += a.out_len;
    ++t.count;
  }
  t.first_coordinate[t.count] = coordinates;
  if (coordinates > 0) {
    build_tables_kernel<<<grid_for(coordinates), kBlock, 0, rc.stream>>>(t, index, weight,
                                                                         coordinates);
  }

  // Output dims outermost first; identity neighbours merge (their input strides chain).
  GeneralArgs a;
  const Dims in_strides = contiguous_strides(x.shape);
  for (size_t d = 0; d < p.axes.size(); ++d) {
    const AxisSpec& axis = p.axes[d];
    if (axis.out_len == 1 && axis.identity) continue;
    const bool merge = a.rank > 0 && axis.identity && a.taps[a.rank - 1] == 0;
    if (merge) {
      // The previous identity dim's stride is this one's times its extent (row-major input).
      a.out_dims[a.rank - 1] *= axis.out_len;
      a.in_strides[a.rank - 1] = in_strides[d];
      continue;
    }
    a.out_dims[a.rank] = axis.out_len;
    a.in_strides[a.rank] = in_strides[d];
    a.taps[a.rank] = axis.identity ? 0 : axis.taps;
    a.table[a.rank] = axis.table;
    ++a.rank;
  }
  if (a.rank == 0) {  // a single element
    a.out_dims[0] = 1;
    a.rank = 1;
  }
  const int64_t total = y.numel();
  if (p.filter.interp == Interp::kNearest) {
    // extrapolation_value in X's type, as raw bits.
    const Tensor fill = Tensor::from_vector<double>(DataType::kFloat64, {}, {p.extrapolation_value})
                            .cast(x.dtype == DataType::kBool ? DataType::kUInt8 : x.dtype);
    dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
      using B = typename decltype(tag)::type;
      B fill_bits;
      std::memcpy(&fill_bits, fill.raw(), sizeof(B));
      nearest_general_kernel<B><<<grid_for(total), kBlock, 0, rc.stream>>>(
          x.as<B>(), y.as<B>(), total, a, index, fill_bits);
    });
    return;
  }
  dispatch_float(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    interpolate_general_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
        x.as<T>(), y.as<T>(), total, a, index, weight, float(p.extrapolation_value));
  });
}

// The shape operands the node gives: the non-empty one of scales / sizes, and roi.
template <typename Get>
ShapeOperands shape_operands(size_t count, const std::function<bool(size_t)>& present,
                             const std::function<const Dims&(size_t)>& shape, Get&& value) {
  ShapeOperands s;
  if (count > 2 && present(2) && volume(shape(2)) > 0) s.scales = value(2);
  if (count > 3 && present(3) && volume(shape(3)) > 0) s.sizes = value(3);
  if (count > 1 && present(1) && volume(shape(1)) > 0) s.roi = value(1);
  return s;
}

bool resize_supports(const NodeQuery& q) {
  const TensorInfo& x = q.input(0);
  if (!ranks_fit(q) || x.shape.empty()) return false;
  for (int64_t extent : x.shape) {
    if (extent >= kMax32BitIndex) return false;  // int32 filter indices
  }
  const std::string mode = q.node->attr_string("mode", "nearest");
  if (mode == "nearest") {
    if (!movable_element_size(x.dtype)) return false;
  } else if (!is_float16_or_32(x.dtype)) {
    return false;
  }
  // The filter tables must fit the workspace (checked where the shape operands are known).
  const ShapeOperands s = shape_operands(
      q.inputs.size(), [&](size_t i) { return q.has_input(i); },
      [&](size_t i) -> const Dims& { return q.input(i).shape; },
      [&](size_t i) { return q.input(i).host_value; });
  if ((s.scales == nullptr && s.sizes == nullptr) || !q.has_output(0)) return true;
  try {
    const ResizePlan p =
        plan_resize(*q.node, x.shape, q.outputs[0].shape, s.scales, s.sizes, s.roi);
    return table_bytes(p.table_entries) <= (size_t(16) << 20);
  } catch (const Error&) {
    return false;
  }
}

void resize_run(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const ShapeOperands s = shape_operands(
      rc.inputs.size(), [&](size_t i) { return rc.has_input(i); },
      [&](size_t i) -> const Dims& { return rc.input(i).shape; },
      [&](size_t i) { return &rc.host_input(i, i == 1 ? "roi" : (i == 2 ? "scales" : "sizes")); });
  KILN_CHECK(s.scales != nullptr || s.sizes != nullptr, ErrorCode::kInvalidModel,
             rc.node.describe(), ": exactly one of scales and sizes must be given");
  const ResizePlan p = plan_resize(rc.node, x.shape, y.shape, s.scales, s.sizes, s.roi);
  if (std::all_of(p.axes.begin(), p.axes.end(), [](const AxisSpec& a) { return a.identity; })) {
    copy_device(rc.node, x.data, y.data, y.nbytes(), rc.stream);
    return;
  }
  bool done = false;
  if (p.filter.interp == Interp::kNearest) {
    dispatch_bits(rc.node, element_size(x.dtype),
                  [&](auto tag) { done = try_replicate<typename decltype(tag)::type>(rc, p); });
  } else {
    dispatch_float(rc.node, x.dtype,
                   [&](auto tag) { done = try_linear2x<typename decltype(tag)::type>(rc, p); });
  }
  if (!done) run_general(rc, p);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Resize", "cuda_resize", {1, 2, 3}, resize_supports, resize_run});

}  // namespace
}  // namespace kiln::cuda
