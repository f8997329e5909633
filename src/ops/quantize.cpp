// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear (ONNX opset 25+ semantics).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
//
// The scale (and the zero point, which has the scale's shape) gives the granularity:
//   - per tensor: a scalar, or any one-element tensor (the ONNX reference and onnxruntime accept
//     shape [1] too, and the conformance tests use it);
//   - per axis: a 1-D tensor of x's extent along `axis` (default 1);
//   - blocked (attribute block_size > 0): x's shape except along `axis`, where it has
//     ceil(D / block_size) entries, each covering block_size consecutive elements.
//
// Quantized types in kiln: int8, uint8, int16, uint16, int4, uint4, int2, uint2 (integer,
// saturating to the type's range), float8 e4m3fn, e5m2, e4m3fnuz, e5m2fnuz (rounded as Cast
// does, `saturate` choosing between clamping and NaN/inf) and float4 e2m1 (always saturating:
// it has no NaN or infinity). ONNX's float6 types are not kiln DataTypes.
//
// QuantizeLinear divides in the precision of the `precision` attribute (a kiln DataType) or
// else of the scale's type, as the spec says: float16/bfloat16 operands and quotient are rounded
// to that type, float32 divides in float32, an int32 scale divides in double (numpy's int32 /
// int32). DequantizeLinear subtracts exactly and multiplies in float32 (the ONNX reference's
// arithmetic), then rounds once to the output type.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/half.h"
#include "core/narrow_types.h"
#include "ops/quantized_common.h"

namespace kiln::ops {
namespace {

// ---------------------------------------------------------------------------------------------
// Granularity of the scale / zero point

enum class Granularity { kPerTensor, kPerAxis, kBlocked };

struct QuantLayout {
  Granularity granularity = Granularity::kPerTensor;
  int64_t axis_extent = 1;   // x's extent along the axis
  int64_t inner = 1;         // product of x's extents after the axis
  int64_t scale_extent = 1;  // the scale's extent along the axis
  int64_t block = 1;

  // The scale (and zero point) element that applies to x's element `i`.
  int64_t param_index(int64_t i) const {
    switch (granularity) {
      case Granularity::kPerTensor:
        return 0;
      case Granularity::kPerAxis:
        return (i / inner) % axis_extent;
      case Granularity::kBlocked: {
        const int64_t outer = i / (inner * axis_extent);
        const int64_t along = (i / inner) % axis_extent;
        return (outer * scale_extent + along / block) * inner + i % inner;
      }
    }
    return 0;
  }
};

template <typename... Args>
void check_node(const ir::Node& node, bool cond, Args&&... args) {
  if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", std::forward<Args>(args)...);
}

// Works out the granularity from the shapes of x, the scale and (when given) the zero point;
// checks that they agree with `axis` and `block_size`.
QuantLayout resolve_layout(const ir::Node& node, const Dims& x, const Dims& scale,
                           const Dims* zero_point) {
  QuantLayout layout;
  const int64_t block_size = node.attr_int("block_size", 0);
  check_node(node, block_size >= 0, "block_size must be >= 0, got ", block_size);
  if (zero_point) {
    const bool both_single = volume(scale) == 1 && volume(*zero_point) == 1;
    check_node(node, both_single || *zero_point == scale, "the zero point's shape ",
               to_string(*zero_point), " differs from the scale's shape ", to_string(scale));
  }
  if (volume(scale) == 1 && (scale.size() <= 1 || block_size == 0)) return layout;

  const int64_t rank = int64_t(x.size());
  check_node(node, rank >= 1, "a scale of shape ", to_string(scale),
             " needs an input of rank >= 1 (per-axis or blocked quantization)");
  const int64_t axis = normalize_axis(node, node.attr_int("axis", 1), rank);
  layout.axis_extent = x[size_t(axis)];
  for (int64_t d = axis + 1; d < rank; ++d) layout.inner *= x[size_t(d)];

  if (block_size == 0) {
    check_node(node, scale.size() == 1 && scale[0] == layout.axis_extent,
               "per-axis quantization needs a 1-D scale of x's extent along axis ", axis, " (",
               layout.axis_extent, "), got shape ", to_string(scale),
               " (set block_size for blocked quantization)");
    layout.granularity = Granularity::kPerAxis;
    return layout;
  }
  check_node(node, int64_t(scale.size()) == rank,
             "blocked quantization needs a scale of x's rank (", rank, "), got shape ",
             to_string(scale));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t expected =
        d == axis ? (x[size_t(d)] + block_size - 1) / block_size : x[size_t(d)];
    check_node(node, scale[size_t(d)] == expected, "blocked quantization of x ", to_string(x),
               " along axis ", axis, " with block_size ", block_size, " needs a scale of extent ",
               expected, " on axis ", d, ", got shape ", to_string(scale));
  }
  layout.granularity = Granularity::kBlocked;
  layout.scale_extent = scale[size_t(axis)];
  layout.block = block_size;
  return layout;
}

// ---------------------------------------------------------------------------------------------
// Quantized types

bool is_quantized_type(DataType t) {
  switch (t) {
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat4E2M1:
      return true;
    default:
      return false;
  }
}

// The float quantized types: rounded as Cast rounds, the zero point added as a float.
bool is_float_quantized(DataType t) { return is_quantized_type(t) && is_floating_point(t); }

uint8_t encode_float_quantized(DataType t, double v, bool saturate) {
  switch (t) {
    case DataType::kFloat8E4M3:
      return float_to_fp8e4m3(float(v), saturate);
    case DataType::kFloat8E5M2:
      return float_to_fp8e5m2(float(v), saturate);
    case DataType::kFloat8E4M3FNUZ:
      return float_to_fp8e4m3fnuz(v, saturate);
    case DataType::kFloat8E5M2FNUZ:
      return float_to_fp8e5m2fnuz(v, saturate);
    case DataType::kFloat4E2M1:
      return float_to_fp4e2m1(v);
    default:
      fail(ErrorCode::kInternal, "encode_float_quantized: unexpected ", to_string(t));
  }
}

constexpr const char* kQuantizedTypeNames =
    "int8, uint8, int16, uint16, int4, uint4, int2, uint2, float8e4m3, float8e5m2, "
    "float8e4m3fnuz, float8e5m2fnuz or float4e2m1";

std::pair<int64_t, int64_t> integer_range(DataType t) {
  switch (t) {
    case DataType::kInt8:
      return {-128, 127};
    case DataType::kUInt8:
      return {0, 255};
    case DataType::kInt16:
      return {-32768, 32767};
    case DataType::kUInt16:
      return {0, 65535};
    case DataType::kInt4:
      return {-8, 7};
    case DataType::kUInt4:
      return {0, 15};
    case DataType::kInt2:
      return {-2, 1};
    case DataType::kUInt2:
      return {0, 3};
    default:
      fail(ErrorCode::kInternal, "integer_range: ", to_string(t), " is not an integer type");
  }
}

void store_integer(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DataType::kInt8:
      t.data<int8_t>()[i] = int8_t(v);
      break;
    case DataType::kUInt8:
      t.data<uint8_t>()[i] = uint8_t(v);
      break;
    case DataType::kInt4:
    case DataType::kUInt4:
      t.data<uint8_t>()[i] = int4_code(v);
      break;
    case DataType::kInt2:
    case DataType::kUInt2:
      t.data<uint8_t>()[i] = int2_code(v);
      break;
    case DataType::kInt16:
      t.data<int16_t>()[i] = int16_t(v);
      break;
    case DataType::kUInt16:
      t.data<uint16_t>()[i] = uint16_t(v);
      break;
    default:
      fail(ErrorCode::kInternal, "store_integer: unexpected ", to_string(t.dtype()));
  }
}

// `value` (already divided by the scale) rounded half to even, plus the zero point, clamped to
// the type's range. NaN, which has no integer meaning, quantizes to the zero point.
int64_t saturate_integer(double value, int64_t zero_point, DataType type) {
  const auto [lo, hi] = integer_range(type);
  // Clamping before the conversion keeps huge and infinite quotients well defined.
  const double rounded = std::isnan(value) ? 0.0 : std::nearbyint(std::clamp(value, -1e12, 1e12));
  return std::clamp(int64_t(rounded) + zero_point, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear

// x / scale in the precision `precision` (see the file comment).
double divide_in(DataType precision, double x, double scale) {
  switch (precision) {
    case DataType::kFloat32:
      return double(float(x) / float(scale));
    case DataType::kFloat16:
    case DataType::kBFloat16: {
      const float quotient =
          quantized::round_to(precision, float(x)) / quantized::round_to(precision, float(scale));
      return double(quantized::round_to(precision, quotient));
    }
    default:
      return x / scale;
  }
}

DataType quantize_output_type(const InferContext& ctx) {
  const ir::Node& node = ctx.node();
  if (ctx.has_input(2)) {
    const DataType zero_point_type = ctx.input_dtype(2);
    if (node.has_attr("output_dtype")) {
      const auto wanted = DataType(node.attr_int("output_dtype"));
      ctx.check(wanted == zero_point_type, "output_dtype ", to_string(wanted),
                " differs from the zero point's type ", to_string(zero_point_type));
    }
    return zero_point_type;
  }
  if (node.has_attr("output_dtype")) return DataType(node.attr_int("output_dtype"));
  return DataType::kUInt8;
}

DataType division_precision(const ir::Node& node, DataType scale_type) {
  if (node.has_attr("precision")) return DataType(node.attr_int("precision"));
  return scale_type == DataType::kInt32 ? DataType::kFloat64 : scale_type;
}

bool is_quantize_input_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kInt32;
}

void infer_quantize(InferContext& ctx) {
  const DataType x_type = ctx.input_dtype(0);
  const DataType scale_type = ctx.input_dtype(1);
  ctx.check(is_quantize_input_type(x_type), "x has type ", to_string(x_type),
            "; float32, float16, bfloat16 or int32 expected");
  ctx.check(is_quantize_input_type(scale_type), "y_scale has type ", to_string(scale_type),
            "; float32, float16, bfloat16 or int32 expected");
  const DataType out_type = quantize_output_type(ctx);
  ctx.check(is_quantized_type(out_type), "cannot quantize to ", to_string(out_type), "; ",
            kQuantizedTypeNames, " expected");
  const DataType precision = division_precision(ctx.node(), scale_type);
  ctx.check(precision == DataType::kFloat32 || precision == DataType::kFloat16 ||
                precision == DataType::kBFloat16 || precision == DataType::kFloat64,
            "precision ", to_string(precision), " is not a float type");
  const Dims& x = ctx.input_shape(0);
  resolve_layout(ctx.node(), x, ctx.input_shape(1),
                 ctx.has_input(2) ? &ctx.input_shape(2) : nullptr);
  ctx.set_output(0, out_type, x);
}

void compute_quantize(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zero_point = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  Tensor& y = ctx.output(0);
  const QuantLayout layout =
      resolve_layout(node, x.shape(), scale.shape(), zero_point ? &zero_point->shape() : nullptr);
  const DataType precision = division_precision(node, scale.dtype());
  const bool saturate = node.attr_int("saturate", 1) != 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t p = layout.param_index(i);
    const double quotient = divide_in(precision, x.as_double(i), scale.as_double(p));
    if (is_float_quantized(y.dtype())) {
      // The zero point of a float quantization is normally 0; the formula still adds it.
      const double v = quotient + (zero_point ? zero_point->as_double(p) : 0.0);
      y.data<uint8_t>()[i] = encode_float_quantized(y.dtype(), v, saturate);
    } else {
      const int64_t zp = zero_point ? zero_point->as_int64(p) : 0;
      store_integer(y, i, saturate_integer(quotient, zp, y.dtype()));
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "QuantizeLinear",
    .min_inputs = 2,
    .max_inputs = 3,
    .infer = infer_quantize,
    .compute = compute_quantize,
});

// ---------------------------------------------------------------------------------------------
// DequantizeLinear

bool is_dequantize_output_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

DataType dequantize_output_type(const ir::Node& node, DataType scale_type) {
  return node.has_attr("output_dtype") ? DataType(node.attr_int("output_dtype")) : scale_type;
}

void infer_dequantize(InferContext& ctx) {
  const DataType x_type = ctx.input_dtype(0);
  ctx.check(is_quantized_type(x_type) || x_type == DataType::kInt32, "x has type ",
            to_string(x_type), "; int32, ", kQuantizedTypeNames, " expected");
  const DataType scale_type = ctx.input_dtype(1);
  ctx.check(is_dequantize_output_type(scale_type), "x_scale has type ", to_string(scale_type),
            "; float32, float16 or bfloat16 expected");
  if (ctx.has_input(2)) {
    ctx.check(ctx.input_dtype(2) == x_type, "the zero point has type ",
              to_string(ctx.input_dtype(2)), " but x has type ", to_string(x_type));
  }
  const DataType out_type = dequantize_output_type(ctx.node(), scale_type);
  ctx.check(is_dequantize_output_type(out_type), "output_dtype ", to_string(out_type),
            " is not float32, float16 or bfloat16");
  const Dims& x = ctx.input_shape(0);
  resolve_layout(ctx.node(), x, ctx.input_shape(1),
                 ctx.has_input(2) ? &ctx.input_shape(2) : nullptr);
  ctx.set_output(0, out_type, x);
}

void compute_dequantize(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& scale = ctx.input(1);
  const Tensor* zero_point = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  Tensor& y = ctx.output(0);
  const QuantLayout layout = resolve_layout(ctx.node(), x.shape(), scale.shape(),
                                            zero_point ? &zero_point->shape() : nullptr);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t p = layout.param_index(i);
    // Exact in double for every quantized type (int32 included).
    const double centered = x.as_double(i) - (zero_point ? zero_point->as_double(p) : 0.0);
    store_float(y, i, float(centered) * load_float(scale, p));
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "DequantizeLinear",
    .min_inputs = 2,
    .max_inputs = 3,
    .infer = infer_dequantize,
    .compute = compute_dequantize,
});

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear: uint8 quantization of float32 x with a scale and zero point chosen
// from x's range (extended to include 0). All arithmetic is float32, as the spec's formulas
// and the ONNX reference do it.

void infer_dynamic_quantize(InferContext& ctx) {
  ctx.check(ctx.input_dtype(0) == DataType::kFloat32, "x has type ", to_string(ctx.input_dtype(0)),
            "; float32 expected");
  ctx.set_output(0, DataType::kUInt8, ctx.input_shape(0));
  if (ctx.num_outputs() > 1) ctx.set_output(1, DataType::kFloat32, {});
  if (ctx.num_outputs() > 2) ctx.set_output(2, DataType::kUInt8, {});
}

void compute_dynamic_quantize(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* values = x.data<float>();
  constexpr float kQMin = 0.0f, kQMax = 255.0f;
  // The range always includes 0, so an empty x gives min = max = 0.
  float min_value = 0.0f, max_value = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    min_value = std::min(min_value, values[i]);
    max_value = std::max(max_value, values[i]);
  }
  const float scale = (max_value == min_value ? 1.0f : max_value - min_value) / (kQMax - kQMin);
  const float zero_point = std::nearbyint(std::clamp(kQMin - min_value / scale, kQMin, kQMax));
  Tensor& y = ctx.output(0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float q = std::nearbyint(values[i] / scale) + zero_point;
    y.data<uint8_t>()[i] = uint8_t(std::isnan(q) ? zero_point : std::clamp(q, kQMin, kQMax));
  }
  if (ctx.has_output(1)) ctx.output(1).data<float>()[0] = scale;
  if (ctx.has_output(2)) ctx.output(2).data<uint8_t>()[0] = uint8_t(zero_point);
}

KILN_REGISTER_OP(OpDef{
    .name = "DynamicQuantizeLinear",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 3,
    .infer = infer_dynamic_quantize,
    .compute = compute_dynamic_quantize,
});

}  // namespace
}  // namespace kiln::ops
