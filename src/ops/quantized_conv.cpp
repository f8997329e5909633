// ConvInteger and QLinearConv: convolution (NCHW, any number of spatial dims, groups, strides,
// dilations, explicit or automatic padding) of zero-point-shifted 8-bit operands.
//
//   ConvInteger: y = conv(x - x_zero_point, w - w_zero_point), int32 (accumulation wraps in
//                32 bits, which the spec allows).
//   QLinearConv: y = saturate(round_half_even((conv(...) + B) * (x_scale * w_scale / y_scale))
//                + y_zero_point), B an optional int32 bias per output channel. The multiplier is
//                float32 (the scales' type), the rest double, as the ONNX reference computes it.
//
// x's zero point and scale are per tensor; w's are per tensor or per output channel (1-D of M
// entries); y's are per tensor. Padding is implicit zeros of the shifted input, i.e. the
// padded positions hold x_zero_point in the quantized domain, as in onnxruntime.
//
// The geometry is Conv's (ops/convolution.h).
#include <cstdint>
#include <string>
#include <vector>

#include "ops/convolution.h"
#include "ops/quantized_common.h"

namespace kiln::ops {
namespace {

// A zero point or scale that is per tensor (one element) or, when `per_channel` is allowed,
// 1-D with one entry per output channel.
void check_param_shape(const InferContext& ctx, size_t input, const char* what, bool per_channel,
                       int64_t channels) {
  if (!ctx.has_input(input)) return;
  const Dims& shape = ctx.input_shape(input);
  if (volume(shape) == 1) return;
  ctx.check(
      per_channel && shape.size() == 1 && shape[0] == channels, what, " has shape ",
      to_string(shape),
      per_channel ? "; one element or one per output channel expected" : "; one element expected");
}

// Element c of a per-tensor or per-channel parameter.
double param_at(const Tensor& t, int64_t c) { return t.as_double(t.numel() == 1 ? 0 : c); }

// Direct convolution of the shifted operands, accumulated in int64 (exact for 8-bit data);
// returns the [N, M, out spatial...] sums in row-major order.
std::vector<int64_t> conv_accumulate(const ConvGeometry& s, const Tensor& x, const Tensor* x_zero,
                                     const Tensor& w, const Tensor* w_zero) {
  const int64_t x_shift = x_zero ? x_zero->as_int64(0) : 0;
  std::vector<int64_t> xs(size_t(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) xs[size_t(i)] = x.as_int64(i) - x_shift;
  const int64_t kernel_volume = volume(s.kernel);
  const int64_t group_in = s.in_channels / s.group;
  const int64_t filter_size = group_in * kernel_volume;
  std::vector<int64_t> ws(size_t(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t channel = i / filter_size;
    ws[size_t(i)] = w.as_int64(i) - (w_zero ? int64_t(param_at(*w_zero, channel)) : 0);
  }

  const size_t rank = s.in_spatial.size();
  const int64_t in_volume = volume(s.in_spatial);
  const int64_t out_volume = volume(s.out_spatial);
  const int64_t group_out = s.out_channels / s.group;
  const Dims out_strides = contiguous_strides(s.out_spatial);
  const Dims kernel_strides = contiguous_strides(s.kernel);
  const Dims in_strides = contiguous_strides(s.in_spatial);
  std::vector<int64_t> acc(size_t(s.batch * s.out_channels * out_volume), 0);
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t m = 0; m < s.out_channels; ++m) {
      const int64_t first_in_channel = (m / group_out) * group_in;
      for (int64_t o = 0; o < out_volume; ++o) {
        int64_t sum = 0;
        for (int64_t kk = 0; kk < kernel_volume; ++kk) {
          // The input position under kernel tap kk for output position o, if inside x.
          int64_t in_offset = 0;
          bool inside = true;
          for (size_t d = 0; d < rank && inside; ++d) {
            const int64_t out_coord = (o / out_strides[d]) % s.out_spatial[d];
            const int64_t k_coord = (kk / kernel_strides[d]) % s.kernel[d];
            const int64_t in_coord =
                out_coord * s.strides[d] - s.pads_begin[d] + k_coord * s.dilations[d];
            inside = in_coord >= 0 && in_coord < s.in_spatial[d];
            in_offset += in_coord * in_strides[d];
          }
          if (!inside) continue;
          for (int64_t c = 0; c < group_in; ++c) {
            const int64_t x_index =
                (n * s.in_channels + first_in_channel + c) * in_volume + in_offset;
            const int64_t w_index = (m * group_in + c) * kernel_volume + kk;
            sum += xs[size_t(x_index)] * ws[size_t(w_index)];
          }
        }
        acc[size_t((n * s.out_channels + m) * out_volume + o)] = sum;
      }
    }
  }
  return acc;
}

InferContext infer_from_tensors(const ComputeContext& ctx) {
  std::vector<std::optional<TensorDesc>> descs;
  std::vector<const Tensor*> values;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i)) {
      descs.push_back(TensorDesc{ctx.input(i).dtype(), ctx.input(i).shape()});
      values.push_back(&ctx.input(i));
    } else {
      descs.push_back(std::nullopt);
      values.push_back(nullptr);
    }
  }
  return InferContext(ctx.node(), std::move(descs), std::move(values));
}

void check_int8_input(const InferContext& ctx, size_t input, const char* what) {
  ctx.check(quantized::is_int8_type(ctx.input_dtype(input)), what, " has type ",
            to_string(ctx.input_dtype(input)), "; int8 or uint8 expected");
}

void check_same_type(const InferContext& ctx, size_t input, size_t like, const char* what) {
  if (!ctx.has_input(input)) return;
  ctx.check(ctx.input_dtype(input) == ctx.input_dtype(like), what, " has type ",
            to_string(ctx.input_dtype(input)), " but must have type ",
            to_string(ctx.input_dtype(like)));
}

// ---------------------------------------------------------------------------------------------
// ConvInteger: x, w, x_zero_point, w_zero_point

ConvGeometry infer_conv_integer(const InferContext& ctx) {
  check_int8_input(ctx, 0, "x");
  check_int8_input(ctx, 1, "w");
  check_same_type(ctx, 2, 0, "x_zero_point");
  check_same_type(ctx, 3, 1, "w_zero_point");
  ConvGeometry s = conv_geometry(ctx, ctx.input_shape(0), ctx.input_shape(1));
  check_param_shape(ctx, 2, "x_zero_point", false, s.out_channels);
  check_param_shape(ctx, 3, "w_zero_point", true, s.out_channels);
  return s;
}

KILN_REGISTER_OP(OpDef{
    .name = "ConvInteger",
    .min_inputs = 2,
    .max_inputs = 4,
    .infer =
        [](InferContext& ctx) {
          ctx.set_output(0, DataType::kInt32, conv_output_shape(infer_conv_integer(ctx)));
        },
    .compute =
        [](ComputeContext& ctx) {
          const ConvGeometry s = infer_conv_integer(infer_from_tensors(ctx));
          const std::vector<int64_t> acc =
              conv_accumulate(s, ctx.input(0), ctx.has_input(2) ? &ctx.input(2) : nullptr,
                              ctx.input(1), ctx.has_input(3) ? &ctx.input(3) : nullptr);
          Tensor& y = ctx.output(0);
          // int64 to int32 keeps the low 32 bits: the wrap the spec allows.
          for (size_t i = 0; i < acc.size(); ++i) y.data<int32_t>()[i] = int32_t(acc[i]);
        },
});

// ---------------------------------------------------------------------------------------------
// QLinearConv: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B

ConvGeometry infer_qlinear_conv(const InferContext& ctx) {
  check_int8_input(ctx, 0, "x");
  check_int8_input(ctx, 3, "w");
  check_same_type(ctx, 2, 0, "x_zero_point");
  check_same_type(ctx, 5, 3, "w_zero_point");
  if (ctx.has_input(7)) check_int8_input(ctx, 7, "y_zero_point");
  for (size_t i : {size_t(1), size_t(4), size_t(6)}) {
    ctx.check(ctx.input_dtype(i) == DataType::kFloat32, "input ", i, " (a scale) has type ",
              to_string(ctx.input_dtype(i)), "; float32 expected");
  }
  ConvGeometry s = conv_geometry(ctx, ctx.input_shape(0), ctx.input_shape(3));
  check_param_shape(ctx, 1, "x_scale", false, s.out_channels);
  check_param_shape(ctx, 2, "x_zero_point", false, s.out_channels);
  check_param_shape(ctx, 4, "w_scale", true, s.out_channels);
  check_param_shape(ctx, 5, "w_zero_point", true, s.out_channels);
  check_param_shape(ctx, 6, "y_scale", false, s.out_channels);
  check_param_shape(ctx, 7, "y_zero_point", false, s.out_channels);
  if (ctx.has_input(8)) {
    ctx.check(ctx.input_dtype(8) == DataType::kInt32, "B has type ", to_string(ctx.input_dtype(8)),
              "; int32 expected");
    ctx.check(ctx.input_shape(8) == Dims{s.out_channels}, "B has shape ",
              to_string(ctx.input_shape(8)), "; [", s.out_channels, "] expected");
  }
  return s;
}

KILN_REGISTER_OP(OpDef{
    .name = "QLinearConv",
    .min_inputs = 8,
    .max_inputs = 9,
    .infer =
        [](InferContext& ctx) {
          const ConvGeometry s = infer_qlinear_conv(ctx);
          // Without y_zero_point the output has x's type (the ONNX reference's choice).
          const DataType out_type = ctx.has_input(7) ? ctx.input_dtype(7) : ctx.input_dtype(0);
          ctx.set_output(0, out_type, conv_output_shape(s));
        },
    .compute =
        [](ComputeContext& ctx) {
          const ConvGeometry s = infer_qlinear_conv(infer_from_tensors(ctx));
          const std::vector<int64_t> acc =
              conv_accumulate(s, ctx.input(0), ctx.has_input(2) ? &ctx.input(2) : nullptr,
                              ctx.input(3), ctx.has_input(5) ? &ctx.input(5) : nullptr);
          const float x_scale = load_float(ctx.input(1), 0);
          const float y_scale = load_float(ctx.input(6), 0);
          const double y_zero = ctx.has_input(7) ? ctx.input(7).as_double(0) : 0.0;
          const int64_t out_volume = volume(s.out_spatial);
          Tensor& y = ctx.output(0);
          for (size_t i = 0; i < acc.size(); ++i) {
            const int64_t channel = (int64_t(i) / out_volume) % s.out_channels;
            const double bias = ctx.has_input(8) ? ctx.input(8).as_double(channel) : 0.0;
            const double multiplier = quantized::requantize_multiplier(
                DataType::kFloat32, x_scale, float(param_at(ctx.input(4), channel)), y_scale);
            quantized::store_quantized(y, int64_t(i),
                                       (double(acc[i]) + bias) * multiplier + y_zero);
          }
        },
});

}  // namespace
}  // namespace kiln::ops
