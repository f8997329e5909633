// Resize (ONNX opset 19 semantics): nearest, linear and cubic interpolation over any number of
// axes, every coordinate_transformation_mode and nearest_mode, cubic_coeff_a, exclude_outside,
// extrapolation_value (tf_crop_and_resize), antialias, axes and keep_aspect_ratio_policy.
//
// Interpolation is separable: each output coordinate along one axis reads a few input
// positions (taps) with weights, and an N-D resize is the product of the per-axis filters. So
// the filters are built once per axis (AxisFilter) and then:
//  - nearest (one tap of weight 1) is a gather in the element type, exact for every dtype;
//  - linear and cubic resize one axis at a time in double, then round into the output type
//    (round half to even and saturate for integers, as the ONNX reference implementation does).
// The taps and weights follow the ONNX reference implementation (onnx/reference/ops/op_resize.py)
// except where it departs from the operator's text: the output length used by align_corners,
// pytorch_half_pixel and tf_crop_and_resize is the integer output extent (as the spec and
// onnxruntime use; two ONNX backend tests, test_resize_downsample_scales_{linear,cubic}_
// align_corners, expect the fractional length instead), and pytorch_half_pixel maps a length-1
// output to coordinate 0. Coordinates are computed in double like the reference; onnxruntime
// uses float32, so a nearest index can differ where x / scale lands within rounding of an
// integer (e.g. 3 / 0.6f). The opset-11 mode tf_half_pixel_for_nn is accepted as well, so that
// old models import unchanged.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/checked_size.h"
#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class Interpolation { kNearest, kLinear, kCubic };
enum class CoordinateMode {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,  // opset 11 only, kept so that old models import unchanged
};
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct ResizeAttrs {
  Interpolation mode = Interpolation::kNearest;
  CoordinateMode coordinates = CoordinateMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  AspectPolicy aspect = AspectPolicy::kStretch;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation_value = 0.0;
  std::vector<int64_t> axes;  // normalized; all axes in order when the attribute is absent
};

template <typename Enum>
Enum parse_choice(const ir::Node& node, const std::string& key, const std::string& fallback,
                  const std::vector<std::pair<const char*, Enum>>& choices) {
  const std::string value = node.attr_string(key, fallback);
  std::string allowed;
  for (const auto& [name, e] : choices) {
    if (value == name) return e;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  fail(ErrorCode::kInvalidModel, node.describe(), ": ", key, " '", value, "' is not one of ",
       allowed);
}

ResizeAttrs parse_attrs(const ir::Node& node, int64_t rank) {
  ResizeAttrs a;
  a.mode = parse_choice<Interpolation>(node, "mode", "nearest",
                                       {{"nearest", Interpolation::kNearest},
                                        {"linear", Interpolation::kLinear},
                                        {"cubic", Interpolation::kCubic}});
  a.coordinates =
      parse_choice<CoordinateMode>(node, "coordinate_transformation_mode", "half_pixel",
                                   {{"half_pixel", CoordinateMode::kHalfPixel},
                                    {"half_pixel_symmetric", CoordinateMode::kHalfPixelSymmetric},
                                    {"pytorch_half_pixel", CoordinateMode::kPytorchHalfPixel},
                                    {"align_corners", CoordinateMode::kAlignCorners},
                                    {"asymmetric", CoordinateMode::kAsymmetric},
                                    {"tf_crop_and_resize", CoordinateMode::kTfCropAndResize},
                                    {"tf_half_pixel_for_nn", CoordinateMode::kTfHalfPixelForNn}});
  a.nearest = parse_choice<NearestMode>(node, "nearest_mode", "round_prefer_floor",
                                        {{"round_prefer_floor", NearestMode::kRoundPreferFloor},
                                         {"round_prefer_ceil", NearestMode::kRoundPreferCeil},
                                         {"floor", NearestMode::kFloor},
                                         {"ceil", NearestMode::kCeil}});
  a.aspect = parse_choice<AspectPolicy>(node, "keep_aspect_ratio_policy", "stretch",
                                        {{"stretch", AspectPolicy::kStretch},
                                         {"not_larger", AspectPolicy::kNotLarger},
                                         {"not_smaller", AspectPolicy::kNotSmaller}});
  a.cubic_a = node.attr_float("cubic_coeff_a", -0.75);
  a.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  a.antialias = node.attr_int("antialias", 0) != 0;
  a.extrapolation_value = node.attr_float("extrapolation_value", 0.0);
  if (node.has_attr("axes")) {
    a.axes = normalize_axes(node, node.attr_ints("axes"), rank);
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    for (int64_t axis : a.axes) {
      KILN_CHECK(!seen[size_t(axis)], ErrorCode::kInvalidModel, node.describe(), ": axis ", axis,
                 " appears more than once in axes");
      seen[size_t(axis)] = true;
    }
  } else {
    for (int64_t d = 0; d < rank; ++d) a.axes.push_back(d);
  }
  return a;
}

// Output extents and, per dimension, the scale and region of interest the coordinate
// transformation uses (1 and [0, 1] for dimensions that are not resized).
struct ResizeGeometry {
  Dims out_shape;
  std::vector<double> scales;
  std::vector<double> roi_start;
  std::vector<double> roi_end;
};

// `scales` and `sizes` are the non-empty one of the two inputs (the other nullptr); `roi` is
// only read for tf_crop_and_resize and may be nullptr at shape time.
ResizeGeometry resize_geometry(const ir::Node& node, const ResizeAttrs& attrs, const Dims& in,
                               const Tensor* scales, const Tensor* sizes, const Tensor* roi) {
  const size_t rank = in.size();
  const size_t k = attrs.axes.size();
  ResizeGeometry g{in, std::vector<double>(rank, 1.0), std::vector<double>(rank, 0.0),
                   std::vector<double>(rank, 1.0)};
  if (scales != nullptr) {
    const std::vector<double> values = scales->to_double_vector();
    KILN_CHECK(values.size() == k, ErrorCode::kInvalidModel, node.describe(), ": scales has ",
               values.size(), " values but ", k, " axes are resized");
    for (size_t i = 0; i < k; ++i) {
      const size_t d = size_t(attrs.axes[i]);
      KILN_CHECK(values[i] > 0 && std::isfinite(values[i]), ErrorCode::kInvalidModel,
                 node.describe(), ": scale ", values[i], " for axis ", d, " must be positive");
      g.scales[d] = values[i];
      g.out_shape[d] = checked_int64_from_double(std::floor(double(in[d]) * values[i]),
                                                 cat(node.describe(), ": output extent"));
    }
  } else {
    KILN_CHECK(sizes->dtype() == DataType::kInt64, ErrorCode::kInvalidModel, node.describe(),
               ": sizes must be int64, got ", to_string(sizes->dtype()));
    const std::vector<int64_t> values = sizes->to_int64_vector();
    KILN_CHECK(values.size() == k, ErrorCode::kInvalidModel, node.describe(), ": sizes has ",
               values.size(), " values but ", k, " axes are resized");
    for (size_t i = 0; i < k; ++i) {
      const size_t d = size_t(attrs.axes[i]);
      KILN_CHECK(values[i] >= 0, ErrorCode::kInvalidModel, node.describe(), ": size ", values[i],
                 " for axis ", d, " is negative");
      KILN_CHECK(in[d] > 0 || values[i] == 0, ErrorCode::kInvalidModel, node.describe(),
                 ": cannot resize axis ", d, " of extent 0 to ", values[i]);
      g.scales[d] = in[d] > 0 ? double(values[i]) / double(in[d]) : 1.0;
      g.out_shape[d] = values[i];
    }
    if (attrs.aspect != AspectPolicy::kStretch && k > 0) {
      // One scale for every resized axis, the smallest (not_larger) or largest (not_smaller).
      double scale = g.scales[size_t(attrs.axes[0])];
      for (int64_t d : attrs.axes) {
        scale = attrs.aspect == AspectPolicy::kNotLarger ? std::min(scale, g.scales[size_t(d)])
                                                         : std::max(scale, g.scales[size_t(d)]);
      }
      for (int64_t d : attrs.axes) {
        g.scales[size_t(d)] = scale;
        g.out_shape[size_t(d)] =
            checked_int64_from_double(std::floor(scale * double(in[size_t(d)]) + 0.5),
                                      cat(node.describe(), ": output extent"));
      }
    }
  }
  if (attrs.coordinates == CoordinateMode::kTfCropAndResize && roi != nullptr) {
    const std::vector<double> values = roi->to_double_vector();
    KILN_CHECK(values.size() == 2 * k, ErrorCode::kInvalidModel, node.describe(), ": roi has ",
               values.size(), " values; tf_crop_and_resize needs 2 per resized axis (", 2 * k, ")");
    for (size_t i = 0; i < k; ++i) {
      g.roi_start[size_t(attrs.axes[i])] = values[i];
      g.roi_end[size_t(attrs.axes[i])] = values[k + i];
    }
  }
  return g;
}

// The taps of one axis: output coordinate o reads input positions index[o * taps + t] with
// weights weight[o * taps + t], or is extrapolation_value when extrapolated[o].
struct AxisFilter {
  int64_t taps = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> extrapolated;
  bool identity = false;
};

double original_coordinate(CoordinateMode mode, int64_t x, double scale, int64_t in_len,
                           int64_t out_len, double roi_start, double roi_end) {
  const double xr = double(x);
  switch (mode) {
    case CoordinateMode::kHalfPixel:
      return (xr + 0.5) / scale - 0.5;
    case CoordinateMode::kHalfPixelSymmetric: {
      // Keeps the centre of the input on the centre of the output when the output extent was
      // rounded down from in_len * scale.
      const double adjustment = double(out_len) / (scale * double(in_len));
      const double center = double(in_len) / 2;
      const double offset = center * (1 - adjustment);
      return offset + (xr + 0.5) / scale - 0.5;
    }
    case CoordinateMode::kPytorchHalfPixel:
      return out_len > 1 ? (xr + 0.5) / scale - 0.5 : 0.0;
    case CoordinateMode::kAlignCorners:
      return out_len == 1 ? 0.0 : xr * double(in_len - 1) / double(out_len - 1);
    case CoordinateMode::kAsymmetric:
      return xr / scale;
    case CoordinateMode::kTfHalfPixelForNn:
      return (xr + 0.5) / scale;
    case CoordinateMode::kTfCropAndResize:
      if (out_len > 1) {
        return roi_start * double(in_len - 1) +
               xr * (roi_end - roi_start) * double(in_len - 1) / double(out_len - 1);
      }
      return 0.5 * (roi_start + roi_end) * double(in_len - 1);
  }
  return 0.0;
}

// Weights of the taps left + first_tap ... for a sample at left + ratio, ratio in (0, 1].
std::vector<double> tap_weights(const ResizeAttrs& attrs, double ratio, double scale,
                                int64_t& first_tap) {
  const double a = attrs.cubic_a;
  if (attrs.mode == Interpolation::kLinear && !attrs.antialias) {
    first_tap = 0;
    return {1 - ratio, ratio};
  }
  if (attrs.mode == Interpolation::kCubic && !attrs.antialias) {
    first_tap = -1;
    const double r = ratio, s = 1 - ratio;
    return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
            ((a + 2) * r - (a + 3)) * r * r + 1, ((a + 2) * s - (a + 3)) * s * s + 1,
            ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a};
  }
  // Antialiasing stretches the filter by 1 / scale when downscaling, so that more input
  // positions contribute, and normalizes the weights to sum to 1.
  const double stretch = std::min(scale, 1.0);
  const bool cubic = attrs.mode == Interpolation::kCubic;
  const double support = cubic ? 2.0 : 1.0;
  first_tap =
      checked_int64_from_double(std::floor(-support / stretch), "Resize's antialiasing filter") + 1;
  const int64_t count = 2 - 2 * first_tap;
  std::vector<double> w(static_cast<size_t>(count));
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double x = std::fabs(stretch * (double(first_tap + i) - ratio));
    double c;
    if (cubic) {
      c = x <= 1  ? ((a + 2) * x - (a + 3)) * x * x + 1
          : x < 2 ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
                  : 0.0;
    } else {
      c = std::clamp(1 - x, 0.0, 1.0);
    }
    w[size_t(i)] = c;
    sum += c;
  }
  for (double& c : w) c /= sum;
  return w;
}

AxisFilter axis_filter(const ResizeAttrs& attrs, int64_t in_len, int64_t out_len, double scale,
                       double roi_start, double roi_end) {
  AxisFilter f;
  f.extrapolated.assign(size_t(out_len), 0);
  const bool crop = attrs.coordinates == CoordinateMode::kTfCropAndResize;
  if (out_len == in_len && std::fabs(scale - 1.0) <= 1e-9 &&
      (!crop || (roi_start == 0.0 && roi_end == 1.0))) {
    // Every mode maps x to x here; skipping keeps values bit-exact.
    f.identity = true;
    for (int64_t o = 0; o < out_len; ++o) f.index.push_back(o);
    f.weight.assign(size_t(out_len), 1.0);
    return f;
  }
  for (int64_t o = 0; o < out_len; ++o) {
    const double x =
        original_coordinate(attrs.coordinates, o, scale, in_len, out_len, roi_start, roi_end);
    if (crop && (x < 0 || x > double(in_len - 1))) f.extrapolated[size_t(o)] = 1;
    // The sample lies in (left, left + 1]: an integer coordinate is the right end of its
    // interval, which puts the tap of weight 1 on it for every filter.
    const double left = std::ceil(x) - 1;
    const double ratio = x - left;
    if (attrs.mode == Interpolation::kNearest) {
      int64_t i = int64_t(left) + 1;  // x itself when it is an integer
      if (ratio != 1.0) {
        bool up = false;
        switch (attrs.nearest) {
          case NearestMode::kRoundPreferFloor:
            up = ratio > 0.5;
            break;
          case NearestMode::kRoundPreferCeil:
            up = ratio >= 0.5;
            break;
          case NearestMode::kFloor:
            up = false;
            break;
          case NearestMode::kCeil:
            up = true;
            break;
        }
        i = int64_t(left) + (up ? 1 : 0);
      }
      f.index.push_back(std::clamp<int64_t>(i, 0, in_len - 1));
      f.weight.push_back(1.0);
      continue;
    }
    int64_t first_tap = 0;
    std::vector<double> w = tap_weights(attrs, ratio, scale, first_tap);
    f.taps = int64_t(w.size());
    if (attrs.exclude_outside) {
      double sum = 0;
      for (size_t t = 0; t < w.size(); ++t) {
        const int64_t i = int64_t(left) + first_tap + int64_t(t);
        if (i < 0 || i >= in_len) w[t] = 0;
        sum += w[t];
      }
      if (sum != 0) {
        for (double& c : w) c /= sum;
      }
    }
    for (size_t t = 0; t < w.size(); ++t) {
      const int64_t i = int64_t(left) + first_tap + int64_t(t);
      f.index.push_back(std::clamp<int64_t>(i, 0, in_len - 1));
      f.weight.push_back(w[t]);
    }
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// nearest: a gather in the element type.

template <typename E>
void gather_nearest(const E* in, E* out, const Dims& in_strides, const Dims& out_shape,
                    const std::vector<AxisFilter>& filters, E fill) {
  const size_t rank = out_shape.size();
  int64_t next = 0;
  auto visit = [&](auto& self, size_t d, int64_t in_offset, bool extrapolated) -> void {
    const AxisFilter& f = filters[d];
    const int64_t stride = in_strides[d];
    if (d + 1 == rank) {
      for (int64_t o = 0; o < out_shape[d]; ++o) {
        out[next++] = extrapolated || f.extrapolated[size_t(o)]
                          ? fill
                          : in[in_offset + f.index[size_t(o)] * stride];
      }
      return;
    }
    for (int64_t o = 0; o < out_shape[d]; ++o) {
      self(self, d + 1, in_offset + f.index[size_t(o)] * stride,
           extrapolated || f.extrapolated[size_t(o)]);
    }
  };
  visit(visit, 0, 0, false);
}

template <typename E>
void resize_nearest_as(const Tensor& x, Tensor& y, const std::vector<AxisFilter>& filters,
                       double extrapolation_value) {
  const Tensor fill =
      Tensor::from_vector<double>(DataType::kFloat64, {}, {extrapolation_value}).cast(x.dtype());
  E fill_bits;
  std::memcpy(&fill_bits, fill.raw(), sizeof(E));
  gather_nearest(x.data<E>(), y.data<E>(), contiguous_strides(x.shape()), y.shape(), filters,
                 fill_bits);
}

// ---------------------------------------------------------------------------------------------
// linear / cubic: one axis at a time, in double.

std::vector<double> resize_axis(const std::vector<double>& in, Dims& shape, size_t axis,
                                const AxisFilter& f, double extrapolation_value, int64_t out_len) {
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t in_len = shape[axis];
  std::vector<double> out(size_t(outer * out_len * inner), 0.0);
  for (int64_t a = 0; a < outer; ++a) {
    for (int64_t o = 0; o < out_len; ++o) {
      double* dst = out.data() + (a * out_len + o) * inner;
      if (f.extrapolated[size_t(o)]) {
        std::fill(dst, dst + inner, extrapolation_value);
        continue;
      }
      for (int64_t t = 0; t < f.taps; ++t) {
        const size_t k = size_t(o * f.taps + t);
        const double w = f.weight[k];
        const double* src = in.data() + (a * in_len + f.index[k]) * inner;
        for (int64_t b = 0; b < inner; ++b) dst[b] += w * src[b];
      }
    }
  }
  shape[axis] = out_len;
  return out;
}

// Rounds half to even and saturates, as the ONNX reference does for integer outputs.
template <typename T>
T round_saturate(double v) {
  if (std::isnan(v)) return T(0);
  const double r = std::nearbyint(v);
  if (r <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (r >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return T(r);
}

void store_interpolated(const std::vector<double>& values, Tensor& y) {
  const int64_t n = y.numel();
  switch (y.dtype()) {
    case DataType::kFloat64:
      std::copy(values.begin(), values.end(), y.data<double>());
      return;
    case DataType::kFloat32:
      for (int64_t i = 0; i < n; ++i) y.data<float>()[i] = float(values[size_t(i)]);
      return;
    default:
      break;
  }
  if (is_floating_point(y.dtype())) {
    for (int64_t i = 0; i < n; ++i) store_float(y, i, float(values[size_t(i)]));
    return;
  }
  dispatch_storage(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      for (int64_t i = 0; i < n; ++i) y.data<T>()[i] = round_saturate<T>(values[size_t(i)]);
    }
  });
}

// ---------------------------------------------------------------------------------------------

void infer_resize(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  const Dims& in = ctx.input_shape(0);
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(!in.empty(), "X must have rank 1 or more");
  const ResizeAttrs attrs = parse_attrs(node, int64_t(in.size()));
  if (attrs.mode != Interpolation::kNearest && dtype == DataType::kBool) {
    fail(ErrorCode::kUnsupported, node.describe(),
         ": linear and cubic interpolation of bool tensors is not supported");
  }
  const bool has_scales = ctx.has_input(2) && volume(ctx.input_shape(2)) > 0;
  const bool has_sizes = ctx.has_input(3) && volume(ctx.input_shape(3)) > 0;
  ctx.check(has_scales != has_sizes, "exactly one of scales and sizes must be given (",
            has_scales ? "both are" : "neither is", ")");
  if (attrs.coordinates == CoordinateMode::kTfCropAndResize) {
    ctx.check(ctx.has_input(1) && volume(ctx.input_shape(1)) == int64_t(2 * attrs.axes.size()),
              "tf_crop_and_resize needs roi with 2 values per resized axis (",
              2 * attrs.axes.size(), ")");
  }
  const Tensor* scales = has_scales ? &ctx.require_value(2, "scales") : nullptr;
  const Tensor* sizes = has_sizes ? &ctx.require_integer_value(3, "sizes") : nullptr;
  const ResizeGeometry g = resize_geometry(node, attrs, in, scales, sizes, ctx.input_value(1));
  ctx.set_output(0, dtype, g.out_shape);
}

void compute_resize(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const Dims& in = x.shape();
  const size_t rank = in.size();
  const ResizeAttrs attrs = parse_attrs(node, int64_t(rank));
  const Tensor* scales = ctx.has_input(2) && ctx.input(2).numel() > 0 ? &ctx.input(2) : nullptr;
  const Tensor* sizes = ctx.has_input(3) && ctx.input(3).numel() > 0 ? &ctx.input(3) : nullptr;
  const Tensor* roi = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  const ResizeGeometry g = resize_geometry(node, attrs, in, scales, sizes, roi);
  KILN_ASSERT(g.out_shape == y.shape());
  if (y.numel() == 0) return;

  std::vector<AxisFilter> filters;
  for (size_t d = 0; d < rank; ++d) {
    filters.push_back(
        axis_filter(attrs, in[d], g.out_shape[d], g.scales[d], g.roi_start[d], g.roi_end[d]));
  }
  if (attrs.mode == Interpolation::kNearest) {
    switch (element_size(x.dtype())) {
      case 1:
        resize_nearest_as<uint8_t>(x, y, filters, attrs.extrapolation_value);
        return;
      case 2:
        resize_nearest_as<uint16_t>(x, y, filters, attrs.extrapolation_value);
        return;
      case 4:
        resize_nearest_as<uint32_t>(x, y, filters, attrs.extrapolation_value);
        return;
      case 8:
        resize_nearest_as<uint64_t>(x, y, filters, attrs.extrapolation_value);
        return;
      default:
        fail(ErrorCode::kInternal, "Resize: unexpected element size");
    }
  }
  const Tensor x64 = x.cast(DataType::kFloat64);
  std::vector<double> values(x64.data<double>(), x64.data<double>() + x64.numel());
  Dims shape = in;
  for (size_t d = 0; d < rank; ++d) {
    if (filters[d].identity) continue;
    values = resize_axis(values, shape, d, filters[d], attrs.extrapolation_value, g.out_shape[d]);
  }
  store_interpolated(values, y);
}

KILN_REGISTER_OP(OpDef{
    .name = "Resize",
    .min_inputs = 1,
    .max_inputs = 4,
    .infer = infer_resize,
    .compute = compute_resize,
});

}  // namespace
}  // namespace kiln::ops
