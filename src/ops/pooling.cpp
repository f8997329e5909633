// Pooling: MaxPool (with optional Indices), AveragePool, LpPool over 1, 2, 3 (or more) spatial
// dims with strides, dilations, padding and ceil_mode; GlobalAveragePool, GlobalMaxPool and
// GlobalLpPool over all spatial dims. NCHW layout; MaxPool (without Indices) and AveragePool
// also take kiln's attribute layout = "NHWC" (X [N, spatial..., C]), which the builder's
// transpose cancellation sets on GPU engines that run convolutions channels-last.
//
// Window semantics (as the ONNX spec and onnxruntime): output position o along an axis covers
// input positions o * stride - pad_begin + k * dilation for k in [0, kernel). Positions outside
// the input are padding: max and Lp ignore them; average ignores them unless count_include_pad,
// in which case positions inside the padded extent [-pad_begin, in + pad_end) count (ceil_mode's
// extra positions beyond pad_end never count).
#include "ops/pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/common.h"
#include "ops/window_geometry.h"

namespace kiln::ops {
namespace {

bool is_pool_float(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void check_pool_input(const InferContext& ctx, bool allow_int8) {
  const DataType t = ctx.input_dtype(0);
  const bool ok =
      is_pool_float(t) || (allow_int8 && (t == DataType::kInt8 || t == DataType::kUInt8));
  ctx.check(ok, "X must be float32, float64, float16 or bfloat16",
            allow_int8 ? ", int8 or uint8" : "", ", got ", to_string(t));
  ctx.check(ctx.input_shape(0).size() >= 3,
            "X must have rank >= 3 (N x C x spatial...), got shape ",
            to_string(ctx.input_shape(0)));
}

PoolGeometry pool_geometry(const InferContext& ctx, bool allow_int8) {
  check_pool_input(ctx, allow_int8);
  return window_pool_geometry(ctx);
}

Dims pooled_shape(const PoolGeometry& geo) {
  Dims out{geo.batch};
  if (!geo.channels_last) out.push_back(geo.channels);
  out.insert(out.end(), geo.out_spatial.begin(), geo.out_spatial.end());
  if (geo.channels_last) out.push_back(geo.channels);
  return out;
}

// Flat element index of (plane = n * C + c, spatial offset) in a tensor of either layout.
struct PlaneIndex {
  bool channels_last;
  int64_t channels;
  int64_t spatial_size;
  int64_t operator()(int64_t plane, int64_t offset) const {
    if (!channels_last) return plane * spatial_size + offset;
    const int64_t n = plane / channels, c = plane % channels;
    return (n * spatial_size + offset) * channels + c;
  }
};

PoolGeometry geometry_at_compute(const ComputeContext& ctx, bool allow_int8) {
  std::vector<std::optional<TensorDesc>> descs{
      TensorDesc{ctx.input(0).dtype(), ctx.input(0).shape()}};
  InferContext ictx(ctx.node(), std::move(descs), {});
  return pool_geometry(ictx, allow_int8);
}

void unravel(int64_t flat, const Dims& extents, Dims& index) {
  for (size_t d = extents.size(); d-- > 0;) {
    index[d] = flat % extents[d];
    flat /= extents[d];
  }
}

// One window tap of one output position.
struct Tap {
  int64_t offset;  // row-major offset in the spatial plane; -1 when the tap is padding
  int64_t column_major_offset;
  bool counts_as_padding;  // inside the padded extent (count_include_pad counts it)
};

// Calls fn(plane_index, out_position, taps) for each output position of each (n, c) plane.
template <typename Fn>
void for_each_window(const PoolGeometry& geo, Fn&& fn) {
  const size_t rank = geo.in_spatial.size();
  const int64_t out_size = volume(geo.out_spatial);
  const int64_t kernel_size = volume(geo.kernel);
  const Dims row_strides = contiguous_strides(geo.in_spatial);
  Dims col_strides(rank, 1);
  for (size_t d = 1; d < rank; ++d) col_strides[d] = col_strides[d - 1] * geo.in_spatial[d - 1];
  std::vector<Tap> taps;
  Dims out_index(rank), tap_index(rank);
  for (int64_t o = 0; o < out_size; ++o) {
    unravel(o, geo.out_spatial, out_index);
    taps.clear();
    for (int64_t k = 0; k < kernel_size; ++k) {
      unravel(k, geo.kernel, tap_index);
      Tap tap{0, 0, true};
      bool inside = true;
      for (size_t d = 0; d < rank; ++d) {
        const int64_t pos =
            out_index[d] * geo.strides[d] - geo.pads_begin[d] + tap_index[d] * geo.dilations[d];
        inside = inside && pos >= 0 && pos < geo.in_spatial[d];
        tap.counts_as_padding = tap.counts_as_padding && pos < geo.in_spatial[d] + geo.pads_end[d];
        tap.offset += pos * row_strides[d];
        tap.column_major_offset += pos * col_strides[d];
      }
      if (!inside) tap.offset = -1;
      taps.push_back(tap);
    }
    for (int64_t plane = 0; plane < geo.batch * geo.channels; ++plane) fn(plane, o, taps);
  }
}

void store_double(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DataType::kFloat64:
      t.data<double>()[i] = v;
      break;
    case DataType::kInt8:
      t.data<int8_t>()[i] = int8_t(v);
      break;
    case DataType::kUInt8:
      t.data<uint8_t>()[i] = uint8_t(v);
      break;
    default:
      store_float(t, i, float(v));
  }
}

void compute_max_pool(ComputeContext& ctx) {
  const PoolGeometry geo = geometry_at_compute(ctx, /*allow_int8=*/true);
  const int64_t storage_order = ctx.node().attr_int("storage_order", 0);
  const std::vector<double> x = ctx.input(0).to_double_vector();
  const int64_t in_size = volume(geo.in_spatial);
  const int64_t out_size = volume(geo.out_spatial);
  Tensor& y = ctx.output(0);
  int64_t* indices = ctx.has_output(1) ? ctx.output(1).data<int64_t>() : nullptr;
  // An empty window (all padding) gives the lowest value of the type and index -1.
  const DataType dtype = ctx.input(0).dtype();
  const double lowest = dtype == DataType::kInt8    ? -128.0
                        : dtype == DataType::kUInt8 ? 0.0
                                                    : -std::numeric_limits<double>::infinity();
  const PlaneIndex in_at{geo.channels_last, geo.channels, in_size};
  const PlaneIndex out_at{geo.channels_last, geo.channels, out_size};
  for_each_window(geo, [&](int64_t plane, int64_t o, const std::vector<Tap>& taps) {
    double best = lowest;
    int64_t best_index = -1;
    for (const Tap& tap : taps) {
      if (tap.offset < 0) continue;
      const double v = x[size_t(in_at(plane, tap.offset))];
      if (best_index < 0 || v > best) {  // the first maximum in window order wins ties
        best = v;
        best_index = plane * in_size + (storage_order ? tap.column_major_offset : tap.offset);
      }
    }
    store_double(y, out_at(plane, o), best);
    if (indices) indices[plane * out_size + o] = best_index;  // NCHW only (checked at infer)
  });
}

void compute_average_pool(ComputeContext& ctx) {
  const PoolGeometry geo = geometry_at_compute(ctx, /*allow_int8=*/false);
  const bool count_include_pad = ctx.node().attr_int("count_include_pad", 0) != 0;
  const std::vector<double> x = ctx.input(0).to_double_vector();
  const int64_t in_size = volume(geo.in_spatial);
  const int64_t out_size = volume(geo.out_spatial);
  Tensor& y = ctx.output(0);
  const PlaneIndex in_at{geo.channels_last, geo.channels, in_size};
  const PlaneIndex out_at{geo.channels_last, geo.channels, out_size};
  for_each_window(geo, [&](int64_t plane, int64_t o, const std::vector<Tap>& taps) {
    double sum = 0;
    int64_t count = 0;
    for (const Tap& tap : taps) {
      if (tap.offset >= 0) {
        sum += x[size_t(in_at(plane, tap.offset))];
        ++count;
      } else if (count_include_pad && tap.counts_as_padding) {
        ++count;
      }
    }
    // An all-padding window has nothing to average: 0/0 is NaN, as in onnxruntime.
    store_double(y, out_at(plane, o),
                 count ? sum / double(count) : std::numeric_limits<double>::quiet_NaN());
  });
}

double lp_norm(double sum_of_powers, int64_t p) { return std::pow(sum_of_powers, 1.0 / double(p)); }

int64_t read_p(const InferContext& ctx) {
  const int64_t p = ctx.node().attr_int("p", 2);
  ctx.check(p >= 1, "p must be >= 1, got ", p);
  return p;
}

void compute_lp_pool(ComputeContext& ctx) {
  const PoolGeometry geo = geometry_at_compute(ctx, /*allow_int8=*/false);
  const int64_t p = ctx.node().attr_int("p", 2);
  const std::vector<double> x = ctx.input(0).to_double_vector();
  const int64_t in_size = volume(geo.in_spatial);
  const int64_t out_size = volume(geo.out_spatial);
  Tensor& y = ctx.output(0);
  for_each_window(geo, [&](int64_t plane, int64_t o, const std::vector<Tap>& taps) {
    double sum = 0;
    for (const Tap& tap : taps) {
      if (tap.offset >= 0) sum += std::pow(std::fabs(x[size_t(plane * in_size + tap.offset)]), p);
    }
    store_double(y, plane * out_size + o, lp_norm(sum, p));
  });
}

// Global pools: N x C x spatial... -> N x C x 1 x ... x 1.
void infer_global(InferContext& ctx) {
  check_pool_input(ctx, /*allow_int8=*/false);
  Dims out = ctx.input_shape(0);
  std::fill(out.begin() + 2, out.end(), 1);
  ctx.set_output(0, ctx.input_dtype(0), out);
}

// Calls reduce(plane_values, count) -> double for each (n, c) plane.
template <typename Reduce>
void compute_global(ComputeContext& ctx, Reduce reduce) {
  const Tensor& in = ctx.input(0);
  const std::vector<double> x = in.to_double_vector();
  const int64_t planes = in.dim(0) * in.dim(1);
  const int64_t plane_size = planes ? int64_t(x.size()) / planes : 0;
  for (int64_t plane = 0; plane < planes; ++plane) {
    store_double(ctx.output(0), plane, reduce(&x[size_t(plane * plane_size)], plane_size));
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "MaxPool",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 2,  // Y, optional Indices
    .infer =
        [](InferContext& ctx) {
          const PoolGeometry geo = pool_geometry(ctx, /*allow_int8=*/true);
          const int64_t storage_order = ctx.node().attr_int("storage_order", 0);
          ctx.check(storage_order == 0 || storage_order == 1, "storage_order must be 0 or 1, got ",
                    storage_order);
          ctx.check(!geo.channels_last || ctx.num_outputs() == 1,
                    "layout NHWC has no Indices output");
          ctx.set_output(0, ctx.input_dtype(0), pooled_shape(geo));
          if (ctx.num_outputs() > 1) ctx.set_output(1, DataType::kInt64, pooled_shape(geo));
        },
    .compute = compute_max_pool,
});

KILN_REGISTER_OP(OpDef{
    .name = "AveragePool",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          const PoolGeometry geo = pool_geometry(ctx, /*allow_int8=*/false);
          ctx.set_output(0, ctx.input_dtype(0), pooled_shape(geo));
        },
    .compute = compute_average_pool,
});

KILN_REGISTER_OP(OpDef{
    .name = "LpPool",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          const PoolGeometry geo = pool_geometry(ctx, /*allow_int8=*/false);
          ctx.check(!geo.channels_last, "layout NHWC is for MaxPool and AveragePool only");
          read_p(ctx);
          ctx.set_output(0, ctx.input_dtype(0), pooled_shape(geo));
        },
    .compute = compute_lp_pool,
});

KILN_REGISTER_OP(OpDef{
    .name = "GlobalAveragePool",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_global,
    .compute =
        [](ComputeContext& ctx) {
          compute_global(ctx, [](const double* v, int64_t n) {
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) sum += v[i];
            return sum / double(n);
          });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "GlobalMaxPool",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_global,
    .compute =
        [](ComputeContext& ctx) {
          compute_global(ctx, [](const double* v, int64_t n) {
            double best = -std::numeric_limits<double>::infinity();
            for (int64_t i = 0; i < n; ++i) best = std::max(best, v[i]);
            return best;
          });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "GlobalLpPool",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          read_p(ctx);
          infer_global(ctx);
        },
    .compute =
        [](ComputeContext& ctx) {
          const int64_t p = ctx.node().attr_int("p", 2);
          compute_global(ctx, [p](const double* v, int64_t n) {
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) sum += std::pow(std::fabs(v[i]), p);
            return lp_norm(sum, p);
          });
        },
});

}  // namespace
PoolGeometry window_pool_geometry(const InferContext& ctx) {
  const Dims& x = ctx.input_shape(0);
  ctx.check(x.size() >= 3, "X must have rank >= 3 (N x C x spatial...), got shape ", to_string(x));
  const size_t rank = x.size() - 2;
  const std::string layout = ctx.node().attr_string("layout", "NCHW");
  ctx.check(layout == "NCHW" || layout == "NHWC", "attribute layout must be NCHW or NHWC, got '",
            layout, "'");
  PoolGeometry geo;
  geo.channels_last = layout == "NHWC";
  geo.batch = x[0];
  geo.channels = geo.channels_last ? x.back() : x[1];
  geo.in_spatial.assign(x.begin() + (geo.channels_last ? 1 : 2),
                        x.end() - (geo.channels_last ? 1 : 0));
  ctx.check(ctx.node().has_attr("kernel_shape"), "attribute kernel_shape is required");
  geo.kernel = ctx.node().attr_ints("kernel_shape");
  ctx.check(geo.kernel.size() == rank, "kernel_shape has ", geo.kernel.size(), " values, expected ",
            rank, " (one per spatial axis of the input)");
  const bool positive =
      std::all_of(geo.kernel.begin(), geo.kernel.end(), [](int64_t k) { return k >= 1; });
  ctx.check(positive, "kernel_shape must be >= 1, got ", to_string(geo.kernel));
  check_window_values(ctx, "kernel_shape", geo.kernel);
  geo.strides = read_window_steps(ctx, "strides", rank);
  geo.dilations = read_window_steps(ctx, "dilations", rank);
  const int64_t ceil_mode = ctx.node().attr_int("ceil_mode", 0);
  ctx.check(ceil_mode == 0 || ceil_mode == 1, "ceil_mode must be 0 or 1, got ", ceil_mode);
  ForwardWindow window = resolve_forward_window(ctx, read_auto_pad(ctx), geo.in_spatial, geo.kernel,
                                                geo.strides, geo.dilations, ceil_mode != 0);
  geo.pads_begin = std::move(window.pads.begin);
  geo.pads_end = std::move(window.pads.end);
  geo.out_spatial = std::move(window.out_spatial);
  return geo;
}

PoolGeometry resolve_pool(const ir::Node& node, DataType dtype, const Dims& x) {
  InferContext ctx(node, {TensorDesc{dtype, x}}, {});
  return window_pool_geometry(ctx);
}

}  // namespace kiln::ops
