// Conv and ConvTranspose over 1, 2 or 3 (or more) spatial dims, NCHW layout, with groups,
// strides, dilations, explicit or automatic padding and an optional bias.
//
// The reference computes are plain direct loops that accumulate in double (float16/bfloat16/
// float32 results are rounded once at the end). They are meant to be obviously correct; the CPU
// backend's fast float32 kernels (backends/cpu/conv_kernels.cpp) are checked against them.
#include "ops/convolution.h"

#include <algorithm>
#include <string>
#include <vector>

#include "ops/common.h"
#include "ops/window_geometry.h"

namespace kiln::ops {
namespace {

bool is_conv_dtype(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

// Python-style floor division: the ONNX spec's pad split uses it, and with output_shape a total
// padding can be negative.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// X and W of Conv and ConvTranspose: a float type, the same for both.
void check_float_operands(const InferContext& ctx) {
  ctx.check(is_conv_dtype(ctx.input_dtype(0)), "X must be float32, float64, float16 or bfloat16,",
            " got ", to_string(ctx.input_dtype(0)));
  ctx.check(ctx.input_dtype(1) == ctx.input_dtype(0), "W has dtype ", to_string(ctx.input_dtype(1)),
            " but X has ", to_string(ctx.input_dtype(0)));
}

// What every convolution shares: ranks, kernel_shape, group, strides, dilations.
ConvGeometry read_common(const InferContext& ctx, const Dims& x, const Dims& w) {
  ctx.check(x.size() >= 3, "X must have rank >= 3 (N x C x spatial...), got shape ", to_string(x));
  ctx.check(w.size() == x.size(), "W must have the rank of X (", x.size(), "), got shape ",
            to_string(w));
  const size_t spatial_rank = x.size() - 2;
  ConvGeometry geo;
  geo.batch = x[0];
  geo.in_channels = x[1];
  geo.in_spatial.assign(x.begin() + 2, x.end());
  geo.kernel.assign(w.begin() + 2, w.end());
  if (ctx.node().has_attr("kernel_shape")) {
    Dims kernel_shape = ctx.node().attr_ints("kernel_shape");
    ctx.check(kernel_shape == geo.kernel, "kernel_shape ", to_string(kernel_shape),
              " does not match W's spatial extents ", to_string(geo.kernel));
  }
  const bool nonempty =
      std::all_of(geo.kernel.begin(), geo.kernel.end(), [](int64_t k) { return k >= 1; });
  ctx.check(nonempty, "W has an empty kernel: ", to_string(w));
  check_window_values(ctx, "W's kernel", geo.kernel);
  geo.group = ctx.node().attr_int("group", 1);
  ctx.check(geo.group >= 1 && geo.group <= kMaxWindowValue,
            "group must be >= 1 and <= ", kMaxWindowValue, ", got ", geo.group);
  geo.strides = read_window_steps(ctx, "strides", spatial_rank);
  geo.dilations = read_window_steps(ctx, "dilations", spatial_rank);
  return geo;
}

ConvGeometry conv_transpose_geometry(const InferContext& ctx) {
  check_float_operands(ctx);
  ConvGeometry geo = read_common(ctx, ctx.input_shape(0), ctx.input_shape(1));
  const Dims& w = ctx.input_shape(1);
  ctx.check(w[0] == geo.in_channels, "W's first extent (", w[0], ") must equal X's channel count (",
            geo.in_channels, ")");
  ctx.check(geo.in_channels % geo.group == 0, "X's ", geo.in_channels,
            " channels are not divisible by group=", geo.group);
  geo.out_channels = w[1] * geo.group;
  const size_t spatial_rank = geo.in_spatial.size();

  Dims output_padding = ctx.node().attr_ints("output_padding", Dims(spatial_rank, 0));
  ctx.check(output_padding.size() == spatial_rank, "output_padding has ", output_padding.size(),
            " values, expected ", spatial_rank);
  for (size_t d = 0; d < spatial_rank; ++d) {
    ctx.check(
        output_padding[d] >= 0 && output_padding[d] < std::max(geo.strides[d], geo.dilations[d]),
        "output_padding ", to_string(output_padding),
        " must be >= 0 and less than the stride or dilation of its axis");
  }

  const AutoPad auto_pad = read_auto_pad(ctx);
  // The extent the transposed convolution covers with no padding at all.
  // Checked: a stride up to 2^31 times an extent can pass 64 bits.
  auto full_extent = [&](size_t d) {
    int64_t extent = 0;
    ctx.check(!__builtin_mul_overflow(geo.strides[d], geo.in_spatial[d] - 1, &extent) &&
                  !__builtin_add_overflow(
                      extent, output_padding[d] + dilated_extent(geo.kernel[d], geo.dilations[d]),
                      &extent),
              "the output extent of spatial axis ", d, " does not fit in 64 bits");
    return extent;
  };
  Dims target;
  if (ctx.node().has_attr("output_shape")) {
    target = ctx.node().attr_ints("output_shape");
    // Some exporters include N and C; the spec's form has only the spatial extents.
    if (target.size() == spatial_rank + 2) target.erase(target.begin(), target.begin() + 2);
    ctx.check(target.size() == spatial_rank, "output_shape has ", target.size(),
              " values, expected ", spatial_rank, " (one per spatial axis)");
    check_window_values(ctx, "output_shape", target);
  } else if (is_same_padding(auto_pad)) {
    for (size_t d = 0; d < spatial_rank; ++d) {
      int64_t extent = 0;
      ctx.check(!__builtin_mul_overflow(geo.in_spatial[d], geo.strides[d], &extent),
                "the output extent of spatial axis ", d, " does not fit in 64 bits");
      target.push_back(extent);
    }
  }

  geo.out_spatial.resize(spatial_rank);
  if (!target.empty()) {
    // Pads are derived from the requested output (the spec's equations; explicit pads are
    // ignored). SAME_UPPER puts the odd element at the end, everything else at the beginning.
    geo.pads_begin.resize(spatial_rank);
    geo.pads_end.resize(spatial_rank);
    for (size_t d = 0; d < spatial_rank; ++d) {
      ctx.check(target[d] >= 0, "output_shape ", to_string(target), " has a negative extent");
      const int64_t total = full_extent(d) - target[d];
      const int64_t half = floor_div(total, 2);
      geo.pads_begin[d] = auto_pad == AutoPad::kSameUpper ? half : total - half;
      geo.pads_end[d] = total - geo.pads_begin[d];
      geo.out_spatial[d] = target[d];
    }
  } else {
    if (auto_pad == AutoPad::kValid) {
      geo.pads_begin.assign(spatial_rank, 0);
      geo.pads_end.assign(spatial_rank, 0);
    } else {
      Pads pads = read_explicit_pads(ctx, spatial_rank, /*allow_negative=*/false);
      geo.pads_begin = std::move(pads.begin);
      geo.pads_end = std::move(pads.end);
    }
    for (size_t d = 0; d < spatial_rank; ++d) {
      geo.out_spatial[d] = full_extent(d) - geo.pads_begin[d] - geo.pads_end[d];
      ctx.check(geo.out_spatial[d] >= 0, "spatial axis ", d, ": pads ",
                geo.pads_begin[d] + geo.pads_end[d], " exceed the output extent ", full_extent(d));
    }
  }
  return geo;
}

ConvGeometry float_conv_geometry(const InferContext& ctx) {
  check_float_operands(ctx);
  return conv_geometry(ctx, ctx.input_shape(0), ctx.input_shape(1));
}

void check_bias(const InferContext& ctx, const ConvGeometry& geo) {
  if (!ctx.has_input(2)) return;
  ctx.check(ctx.input_dtype(2) == ctx.input_dtype(0), "B has dtype ", to_string(ctx.input_dtype(2)),
            " but X has ", to_string(ctx.input_dtype(0)));
  ctx.check(ctx.input_shape(2) == Dims{geo.out_channels}, "B must have shape [", geo.out_channels,
            "], got ", to_string(ctx.input_shape(2)));
}

// Geometry again at compute time: the compute sees only tensors and attributes, so it runs
// the same resolution through an InferContext over the actual input shapes.
template <typename GeometryFn>
ConvGeometry geometry_at_compute(const ComputeContext& ctx, GeometryFn geometry) {
  std::vector<std::optional<TensorDesc>> descs;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i)) {
      descs.push_back(TensorDesc{ctx.input(i).dtype(), ctx.input(i).shape()});
    } else {
      descs.push_back(std::nullopt);
    }
  }
  InferContext ictx(ctx.node(), std::move(descs), {});
  return geometry(ictx);
}

// Unravels a flat index over `extents` (row-major) into `index`.
void unravel(int64_t flat, const Dims& extents, Dims& index) {
  for (size_t d = extents.size(); d-- > 0;) {
    index[d] = flat % extents[d];
    flat /= extents[d];
  }
}

// Writes double results into a float tensor of any supported dtype.
void store_results(const std::vector<double>& values, Tensor& out) {
  if (out.dtype() == DataType::kFloat64) {
    std::copy(values.begin(), values.end(), out.data<double>());
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) store_float(out, int64_t(i), float(values[i]));
}

void compute_conv(ComputeContext& ctx) {
  const ConvGeometry geo = geometry_at_compute(ctx, float_conv_geometry);
  const std::vector<double> x = ctx.input(0).to_double_vector();
  const std::vector<double> w = ctx.input(1).to_double_vector();
  std::vector<double> bias(size_t(geo.out_channels), 0.0);
  if (ctx.has_input(2)) bias = ctx.input(2).to_double_vector();

  const size_t rank = geo.in_spatial.size();
  const int64_t in_size = volume(geo.in_spatial);
  const int64_t out_size = volume(geo.out_spatial);
  const int64_t kernel_size = volume(geo.kernel);
  const int64_t in_per_group = geo.in_channels / geo.group;
  const int64_t out_per_group = geo.out_channels / geo.group;
  const Dims in_strides = contiguous_strides(geo.in_spatial);

  std::vector<double> y(size_t(geo.batch * geo.out_channels * out_size));
  // For each output position: the kernel taps that land inside the input, as
  // (tap index, input spatial offset). Padding contributes zeros, so other taps are skipped.
  std::vector<std::pair<int64_t, int64_t>> taps;
  Dims out_index(rank), tap_index(rank);
  for (int64_t o = 0; o < out_size; ++o) {
    unravel(o, geo.out_spatial, out_index);
    taps.clear();
    for (int64_t k = 0; k < kernel_size; ++k) {
      unravel(k, geo.kernel, tap_index);
      int64_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        const int64_t pos =
            out_index[d] * geo.strides[d] - geo.pads_begin[d] + tap_index[d] * geo.dilations[d];
        inside = pos >= 0 && pos < geo.in_spatial[d];
        offset += pos * in_strides[d];
      }
      if (inside) taps.emplace_back(k, offset);
    }
    for (int64_t n = 0; n < geo.batch; ++n) {
      for (int64_t m = 0; m < geo.out_channels; ++m) {
        const int64_t g = m / out_per_group;
        double sum = bias[size_t(m)];
        for (int64_t c = 0; c < in_per_group; ++c) {
          const double* x_plane =
              &x[size_t((n * geo.in_channels + g * in_per_group + c) * in_size)];
          const double* w_kernel = &w[size_t((m * in_per_group + c) * kernel_size)];
          for (const auto& [k, offset] : taps) sum += x_plane[offset] * w_kernel[k];
        }
        y[size_t((n * geo.out_channels + m) * out_size + o)] = sum;
      }
    }
  }
  store_results(y, ctx.output(0));
}

void compute_conv_transpose(ComputeContext& ctx) {
  const ConvGeometry geo = geometry_at_compute(ctx, conv_transpose_geometry);
  const std::vector<double> x = ctx.input(0).to_double_vector();
  const std::vector<double> w = ctx.input(1).to_double_vector();

  const size_t rank = geo.in_spatial.size();
  const int64_t in_size = volume(geo.in_spatial);
  const int64_t out_size = volume(geo.out_spatial);
  const int64_t kernel_size = volume(geo.kernel);
  const int64_t in_per_group = geo.in_channels / geo.group;
  const int64_t out_per_group = geo.out_channels / geo.group;
  const Dims out_strides = contiguous_strides(geo.out_spatial);

  std::vector<double> y(size_t(geo.batch * geo.out_channels * out_size), 0.0);
  if (ctx.has_input(2)) {
    const std::vector<double> bias = ctx.input(2).to_double_vector();
    for (int64_t n = 0; n < geo.batch; ++n) {
      for (int64_t m = 0; m < geo.out_channels; ++m) {
        std::fill_n(&y[size_t((n * geo.out_channels + m) * out_size)], out_size, bias[size_t(m)]);
      }
    }
  }
  // Each input element scatters x * w into the outputs its kernel taps reach; the output
  // position of tap k from input position i is i * stride + k * dilation - pad_begin.
  std::vector<std::pair<int64_t, int64_t>> taps;  // (tap index, output spatial offset)
  Dims in_index(rank), tap_index(rank);
  for (int64_t i = 0; i < in_size; ++i) {
    unravel(i, geo.in_spatial, in_index);
    taps.clear();
    for (int64_t k = 0; k < kernel_size; ++k) {
      unravel(k, geo.kernel, tap_index);
      int64_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < rank && inside; ++d) {
        const int64_t pos =
            in_index[d] * geo.strides[d] + tap_index[d] * geo.dilations[d] - geo.pads_begin[d];
        inside = pos >= 0 && pos < geo.out_spatial[d];
        offset += pos * out_strides[d];
      }
      if (inside) taps.emplace_back(k, offset);
    }
    for (int64_t n = 0; n < geo.batch; ++n) {
      for (int64_t c = 0; c < geo.in_channels; ++c) {
        const int64_t g = c / in_per_group;
        const double xv = x[size_t((n * geo.in_channels + c) * in_size + i)];
        for (int64_t mg = 0; mg < out_per_group; ++mg) {
          const int64_t m = g * out_per_group + mg;
          double* y_plane = &y[size_t((n * geo.out_channels + m) * out_size)];
          const double* w_kernel = &w[size_t((c * out_per_group + mg) * kernel_size)];
          for (const auto& [k, offset] : taps) y_plane[offset] += xv * w_kernel[k];
        }
      }
    }
  }
  store_results(y, ctx.output(0));
}

KILN_REGISTER_OP(OpDef{
    .name = "Conv",
    .min_inputs = 2,
    .max_inputs = 3,  // X, W, optional B
    .infer =
        [](InferContext& ctx) {
          const ConvGeometry geo = float_conv_geometry(ctx);
          check_bias(ctx, geo);
          ctx.set_output(0, ctx.input_dtype(0), conv_output_shape(geo));
        },
    .compute = compute_conv,
});

KILN_REGISTER_OP(OpDef{
    .name = "ConvTranspose",
    .min_inputs = 2,
    .max_inputs = 3,  // X, W, optional B
    .infer =
        [](InferContext& ctx) {
          const ConvGeometry geo = conv_transpose_geometry(ctx);
          check_bias(ctx, geo);
          ctx.set_output(0, ctx.input_dtype(0), conv_output_shape(geo));
        },
    .compute = compute_conv_transpose,
});

}  // namespace

ConvGeometry conv_geometry(const InferContext& ctx, const Dims& x, const Dims& w) {
  ConvGeometry geo = read_common(ctx, x, w);
  geo.out_channels = w[0];
  ctx.check(geo.in_channels == w[1] * geo.group, "X has ", geo.in_channels,
            " channels but W's shape ", to_string(w), " with group=", geo.group, " expects ",
            w[1] * geo.group);
  ctx.check(geo.out_channels % geo.group == 0, "W's ", geo.out_channels,
            " output channels are not divisible by group=", geo.group);
  ForwardWindow window = resolve_forward_window(ctx, read_auto_pad(ctx), geo.in_spatial, geo.kernel,
                                                geo.strides, geo.dilations);
  geo.pads_begin = std::move(window.pads.begin);
  geo.pads_end = std::move(window.pads.end);
  geo.out_spatial = std::move(window.out_spatial);
  return geo;
}

Dims conv_output_shape(const ConvGeometry& geo) {
  Dims out{geo.batch, geo.out_channels};
  out.insert(out.end(), geo.out_spatial.begin(), geo.out_spatial.end());
  return out;
}

ConvGeometry resolve_conv(const ir::Node& node, DataType dtype, const Dims& x, const Dims& w) {
  InferContext ctx(node, {TensorDesc{dtype, x}, TensorDesc{dtype, w}}, {});
  return conv_geometry(ctx, x, w);
}

ConvGeometry resolve_conv_transpose(const ir::Node& node, DataType dtype, const Dims& x,
                                    const Dims& w) {
  InferContext ctx(node, {TensorDesc{dtype, x}, TensorDesc{dtype, w}}, {});
  return conv_transpose_geometry(ctx);
}

}  // namespace kiln::ops
