// GridSample (ONNX opset 22 semantics) and AffineGrid (opset 20): the spatial-transformer pair.
// AffineGrid turns affine matrices into a grid of normalized sampling positions; GridSample
// reads an image at such positions.
//
// GridSample samples X (N, C, d1..dr) at grid (N, D1..Dr, r) positions, giving (N, C, D1..Dr),
// for any r >= 1 (2-D images and 3-D volumes in practice). grid[..., 0] is the position along the
// LAST spatial axis (x = width), grid[..., r-1] along the first. Positions in [-1, 1] map to
// the input's extent: to the centers of the corner pixels with align_corners, to their outer
// edges without. Modes nearest (round half to even, as PyTorch), linear and cubic (Keys,
// A = -0.75), separable over the axes; padding zeros, border (clamp) or reflection (mirror at
// the borders, -0.5 and d-0.5 or 0 and d-1 with align_corners). The steps follow the ONNX
// reference implementation (onnx/reference/ops/op_grid_sample.py): the position is padded
// first, then each interpolation tap is padded again.
//
// Nearest is a gather in the element type (exact for every dtype, bool included); linear and
// cubic interpolate in double and round into X's type (round half to even and saturate for
// integers, as Resize does; bool is rejected). Positions are computed in the grid's type
// (float32 math for float16/bfloat16/float32 grids, like the reference), so ties of nearest
// land where the reference's do. A NaN position gives a NaN (0 for integer types) output.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class SampleMode { kNearest, kLinear, kCubic };
enum class Padding { kZeros, kBorder, kReflection };

struct GridSampleAttrs {
  SampleMode mode = SampleMode::kLinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

GridSampleAttrs read_grid_sample_attrs(const ir::Node& node) {
  const std::string who = node.describe();
  GridSampleAttrs a;
  const std::string mode = node.attr_string("mode", "linear");
  if (mode == "nearest")
    a.mode = SampleMode::kNearest;
  else if (mode == "linear")
    a.mode = SampleMode::kLinear;
  else if (mode == "cubic")
    a.mode = SampleMode::kCubic;
  else
    fail(ErrorCode::kInvalidModel, who, ": mode must be nearest, linear or cubic, got '", mode,
         "'");
  const std::string padding = node.attr_string("padding_mode", "zeros");
  if (padding == "zeros")
    a.padding = Padding::kZeros;
  else if (padding == "border")
    a.padding = Padding::kBorder;
  else if (padding == "reflection")
    a.padding = Padding::kReflection;
  else
    fail(ErrorCode::kInvalidModel, who, ": padding_mode must be zeros, border or reflection, got '",
         padding, "'");
  const int64_t align = node.attr_int("align_corners", 0);
  KILN_CHECK(align == 0 || align == 1, ErrorCode::kInvalidModel, who,
             ": align_corners must be 0 or 1, got ", align);
  a.align_corners = align == 1;
  return a;
}

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void infer_grid_sample(InferContext& ctx) {
  const GridSampleAttrs a = read_grid_sample_attrs(ctx.node());
  const Dims& x = ctx.input_shape(0);
  const Dims& grid = ctx.input_shape(1);
  const DataType x_type = ctx.input_dtype(0);
  ctx.check(is_float_type(ctx.input_dtype(1)),
            "grid must be float16, bfloat16, float32 or "
            "float64, got ",
            to_string(ctx.input_dtype(1)));
  ctx.check(x_type != DataType::kFloat8E4M3 && x_type != DataType::kFloat8E5M2, "X of type ",
            to_string(x_type), " is not supported");
  ctx.check(a.mode == SampleMode::kNearest || x_type != DataType::kBool,
            "bool X can only be sampled with mode 'nearest'");
  ctx.check(x.size() >= 3, "X must have rank 3 or more (N, C, spatial...), got ", to_string(x));
  const size_t spatial = x.size() - 2;
  ctx.check(grid.size() == x.size() && grid[0] == x[0] && grid.back() == int64_t(spatial),
            "grid must have shape (", x[0], ", out_spatial..., ", spatial, ") for X ", to_string(x),
            ", got ", to_string(grid));
  Dims out = {x[0], x[1]};
  out.insert(out.end(), grid.begin() + 1, grid.end() - 1);
  // Padding needs at least one input pixel along every axis to read from.
  const bool empty_input = std::any_of(x.begin() + 2, x.end(), [](int64_t d) { return d == 0; });
  ctx.check(!empty_input || volume(out) == 0, "X ", to_string(x),
            " has an empty spatial axis to sample from");
  ctx.set_output(0, x_type, out);
}

// Mirrors `v` into [low, high] (repeatedly, as a ray bouncing between two walls).
double reflect(double v, double low, double high) {
  const double range = high - low;
  if (range <= 0) return low;
  if (v >= low && v <= high) return v;
  const bool below = v < low;
  const double dx = below ? low - v : v - high;
  const double bounces = std::floor(dx / range);
  const double rest = dx - bounces * range;
  const bool even = std::fmod(bounces, 2.0) == 0;
  if (below) return even ? low + rest : high - rest;
  return even ? high - rest : low + rest;
}

// One spatial axis of X: its extent and the borders positions are padded against.
struct Axis {
  int64_t size = 0;
  double low = 0;   // -0.5, or 0 with align_corners
  double high = 0;  // size - 0.5, or size - 1 with align_corners
};

// The input index read for tap `i` on `axis`, or nullopt for a zero-padded tap.
std::optional<int64_t> tap_index(int64_t i, const Axis& axis, Padding padding) {
  switch (padding) {
    case Padding::kZeros:
      if (i < 0 || i >= axis.size) return std::nullopt;
      return i;
    case Padding::kBorder:
      return std::clamp<int64_t>(i, 0, axis.size - 1);
    case Padding::kReflection: {
      // Truncation toward zero, as the reference's int(); the clamp only guards rounding.
      const auto r = int64_t(reflect(double(i), axis.low, axis.high));
      return std::clamp<int64_t>(r, 0, axis.size - 1);
    }
  }
  return std::nullopt;
}

// Keys' cubic convolution weights for taps at -1, 0, 1, 2 around a fraction t in [0, 1).
std::array<double, 4> cubic_weights(double t) {
  constexpr double A = -0.75;
  auto near = [](double x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](double x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };  // 1 < |x| < 2
  return {far(t + 1), near(t), near(1 - t), far(2 - t)};
}

// The taps of one axis: input indices (nullopt: zero padding) and weights.
struct Taps {
  std::vector<std::optional<int64_t>> index;
  std::vector<double> weight;
};

// Samples every output position of one (n, c) plane pair: `position(o, k)` gives the padded
// position along spatial axis k (in input pixel units) of output element o.
template <typename G>
class GridSampler {
 public:
  GridSampler(const GridSampleAttrs& a, const Dims& x_shape) : a_(a) {
    for (size_t k = 2; k < x_shape.size(); ++k) {
      Axis axis;
      axis.size = x_shape[k];
      axis.low = a.align_corners ? 0.0 : -0.5;
      axis.high = a.align_corners ? double(axis.size) - 1 : double(axis.size) - 0.5;
      axes_.push_back(axis);
    }
  }

  const std::vector<Axis>& axes() const { return axes_; }

  // The position along axis k of normalized coordinate `n`, rounded (nearest) and padded;
  // nullopt for NaN.
  std::optional<G> position(G n, size_t k) const {
    const Axis& axis = axes_[k];
    const G size = G(axis.size);
    G x = a_.align_corners ? (n + G(1)) / G(2) * (size - G(1)) : ((n + G(1)) * size - G(1)) / G(2);
    if (std::isnan(x)) return std::nullopt;
    if (a_.mode == SampleMode::kNearest) x = std::nearbyint(x);
    if (x < G(axis.low) || x > G(axis.high)) {
      if (a_.padding == Padding::kBorder)
        x = std::clamp(x, G(0), size - G(1));
      else if (a_.padding == Padding::kReflection)
        x = G(reflect(double(x), axis.low, axis.high));
    }
    // Far outside, every tap is a zero (zeros) anyway; keeps the integer conversion defined.
    return std::clamp(x, G(-4), size + G(3));
  }

  // The taps along axis k for a padded position x.
  void taps(G x, size_t k, Taps& t) const {
    const Axis& axis = axes_[k];
    t.index.clear();
    t.weight.clear();
    if (a_.mode == SampleMode::kNearest) {
      t.index.push_back(tap_index(int64_t(x), axis, a_.padding));
      t.weight.push_back(1.0);
      return;
    }
    const G base = std::floor(x);
    const auto first = int64_t(base);
    const double frac = double(x - base);
    if (a_.mode == SampleMode::kLinear) {
      t.index = {tap_index(first, axis, a_.padding), tap_index(first + 1, axis, a_.padding)};
      t.weight = {1.0 - frac, frac};
      return;
    }
    const std::array<double, 4> w = cubic_weights(frac);
    for (int64_t d = -1; d <= 2; ++d) {
      t.index.push_back(tap_index(first + d, axis, a_.padding));
      t.weight.push_back(w[size_t(d + 1)]);
    }
  }

 private:
  GridSampleAttrs a_;
  std::vector<Axis> axes_;
};

template <typename T>
T round_saturate(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return T(v);
  } else {
    if (std::isnan(v)) return T(0);
    const double r = std::nearbyint(v);
    if (r <= double(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (r >= double(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return T(r);
  }
}

void store_sample(Tensor& y, int64_t i, double v) {
  if (is_float_type(y.dtype())) {
    if (y.dtype() == DataType::kFloat64)
      y.data<double>()[i] = v;
    else
      store_float(y, i, float(v));
    return;
  }
  dispatch_storage(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) y.data<T>()[i] = round_saturate<T>(v);
  });
}

template <typename G>
void grid_sample(const Tensor& x, const Tensor& grid, Tensor& y, const GridSampleAttrs& a) {
  const GridSampler<G> sampler(a, x.shape());
  const size_t rank = sampler.axes().size();
  const int64_t batch = x.dim(0);
  const int64_t channels = x.dim(1);
  int64_t in_plane = 1;
  for (const Axis& axis : sampler.axes()) in_plane *= axis.size;
  const int64_t out_plane = y.numel() / std::max<int64_t>(batch * channels, 1);
  const Dims in_strides = contiguous_strides(Dims(x.shape().begin() + 2, x.shape().end()));
  const size_t element = element_size(x.dtype());
  const auto* x_bytes = static_cast<const uint8_t*>(x.raw());
  auto* y_bytes = static_cast<uint8_t*>(y.raw());
  const bool nearest = a.mode == SampleMode::kNearest;

  std::vector<Taps> taps(rank);
  std::vector<size_t> corner(rank);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < out_plane; ++o) {
      // grid[n, o, :] holds the positions in reverse axis order (x first).
      const int64_t g = (n * out_plane + o) * int64_t(rank);
      bool nan_position = false;
      for (size_t k = 0; k < rank; ++k) {
        const auto normalized = G(grid.as_double(g + int64_t(rank - 1 - k)));
        const std::optional<G> p = sampler.position(normalized, k);
        if (!p) {
          nan_position = true;
          break;
        }
        sampler.taps(*p, k, taps[k]);
      }
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t plane = n * channels + c;
        const int64_t out = plane * out_plane + o;
        if (nan_position) {
          store_sample(y, out, std::numeric_limits<double>::quiet_NaN());
          continue;
        }
        // Every combination of one tap per axis (the separable product), odometer-style.
        std::fill(corner.begin(), corner.end(), 0);
        double sum = 0;
        while (true) {
          double weight = 1;
          int64_t offset = 0;
          bool padded = false;
          for (size_t k = 0; k < rank; ++k) {
            const std::optional<int64_t>& index = taps[k].index[corner[k]];
            weight *= taps[k].weight[corner[k]];
            if (!index)
              padded = true;
            else
              offset += *index * in_strides[k];
          }
          const int64_t at = plane * in_plane + offset;
          if (nearest) {
            // One tap: copy the element (or zero bytes for zero padding) in X's own type.
            uint8_t* dst = y_bytes + size_t(out) * element;
            if (padded)
              std::memset(dst, 0, element);
            else
              std::memcpy(dst, x_bytes + size_t(at) * element, element);
          } else if (!padded) {
            sum += weight * x.as_double(at);
          }
          size_t k = rank;
          while (k-- > 0) {
            if (++corner[k] < taps[k].index.size()) break;
            corner[k] = 0;
          }
          if (k == size_t(-1)) break;
        }
        if (!nearest) store_sample(y, out, sum);
      }
    }
  }
}

void compute_grid_sample(ComputeContext& ctx) {
  const GridSampleAttrs a = read_grid_sample_attrs(ctx.node());
  const Tensor& x = ctx.input(0);
  const Tensor& grid = ctx.input(1);
  Tensor& y = ctx.output(0);
  if (y.numel() == 0) return;
  if (grid.dtype() == DataType::kFloat64)
    grid_sample<double>(x, grid, y, a);
  else
    grid_sample<float>(x, grid, y, a);
}

KILN_REGISTER_OP(OpDef{
    .name = "GridSample",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_grid_sample,
    .compute = compute_grid_sample,
});

// ---------------------------------------------------------------------------------------------
// AffineGrid: theta (N, 2, 3) with size (N, C, H, W) gives grid (N, H, W, 2); theta (N, 3, 4)
// with size (N, C, D, H, W) gives (N, D, H, W, 3). Each grid entry is theta[n] @ (x, y[, z], 1)
// for the base position of that pixel: -1 + k * 2 / (d - 1) with align_corners (-1 for d = 1),
// else pixel centers -1 + (2k + 1) / d. Computed in double, stored in theta's type.

Dims affine_grid_size(const InferContext& ctx) { return ctx.require_shape_value(1, "size"); }

void infer_affine_grid(InferContext& ctx) {
  const int64_t align = ctx.node().attr_int("align_corners", 0);
  ctx.check(align == 0 || align == 1, "align_corners must be 0 or 1, got ", align);
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(is_float_type(dtype), "theta must be float16, bfloat16, float32 or float64, got ",
            to_string(dtype));
  const Dims& theta = ctx.input_shape(0);
  const Dims& size_shape = ctx.input_shape(1);
  ctx.check(size_shape.size() == 1 && (size_shape[0] == 4 || size_shape[0] == 5),
            "size must hold 4 values (N, C, H, W) or 5 (N, C, D, H, W), got shape ",
            to_string(size_shape));
  const Dims size = affine_grid_size(ctx);
  const int64_t spatial = int64_t(size.size()) - 2;
  ctx.check(theta.size() == 3 && theta[1] == spatial && theta[2] == spatial + 1,
            "theta must have shape (N, ", spatial, ", ", spatial + 1, ") for a ", spatial,
            "-D size, got ", to_string(theta));
  ctx.check(size[0] == theta[0], "size's batch ", size[0], " differs from theta's ", theta[0]);
  for (int64_t d : size) ctx.check(d >= 0, "size must not be negative, got ", to_string(size));
  Dims out = {size[0]};
  out.insert(out.end(), size.begin() + 2, size.end());
  out.push_back(spatial);
  ctx.set_output(0, dtype, out);
}

// Base coordinate k of an axis of extent d, as numpy.arange(start, stop, step)[k] gives it.
double base_coordinate(int64_t k, int64_t d, bool align_corners) {
  if (align_corners) return d == 1 ? -1.0 : -1.0 + double(k) * (2.0 / double(d - 1));
  const double step = 2.0 / double(d);
  return (-1.0 + step / 2) + double(k) * step;
}

void compute_affine_grid(ComputeContext& ctx) {
  const bool align = ctx.node().attr_int("align_corners", 0) == 1;
  const Tensor& theta = ctx.input(0);
  const Dims size = ctx.input(1).to_int64_vector();
  Tensor& grid = ctx.output(0);
  const int64_t spatial = int64_t(size.size()) - 2;
  // Extents in (x, y[, z]) order: width first.
  Dims extents(size.rbegin(), size.rend() - 2);
  int64_t points = 1;
  for (int64_t e : extents) points *= e;
  std::vector<double> base(size_t(spatial) + 1);
  base.back() = 1.0;  // homogeneous coordinate
  int64_t at = 0;
  for (int64_t n = 0; n < size[0]; ++n) {
    const int64_t t = n * spatial * (spatial + 1);
    for (int64_t p = 0; p < points; ++p) {
      // Row-major over (D, H, W): the width index varies fastest.
      int64_t rest = p;
      for (int64_t k = 0; k < spatial; ++k) {
        const int64_t extent = extents[size_t(k)];
        base[size_t(k)] = base_coordinate(rest % extent, extent, align);
        rest /= extent;
      }
      for (int64_t r = 0; r < spatial; ++r) {
        double sum = 0;
        for (int64_t c = 0; c <= spatial; ++c) {
          sum += theta.as_double(t + r * (spatial + 1) + c) * base[size_t(c)];
        }
        if (grid.dtype() == DataType::kFloat64)
          grid.data<double>()[at++] = sum;
        else
          store_float(grid, at++, float(sum));
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "AffineGrid",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_affine_grid,
    .compute = compute_affine_grid,
});

}  // namespace
}  // namespace kiln::ops
