// DeformConv (ONNX opset 19/22), 2-D: a grouped convolution whose kernel taps are moved by
// learned offsets and optionally scaled by a mask.
//
//   y[n, oc, i, j] = B[oc] + sum over ic in oc's group, kernel tap (ki, kj):
//       W[oc, ic', ki, kj] * mask[n, g, ki, kj, i, j] *
//       bilinear(X[n, ic], i * stride_h - pad_top + ki * dilation_h + offset[n, g, ki, kj, 0, i,
//       j],
//                          j * stride_w - pad_left + kj * dilation_w + offset[n, g, ki, kj, 1, i,
//                          j])
//
// where g = ic / (C / offset_group) is the input channel's offset group, offset has shape
// [N, offset_group * kH * kW * 2, oH, oW] (per tap: the h then the w displacement) and mask
// [N, offset_group * kH * kW, oH, oW] (ones when omitted). bilinear() interpolates the four
// neighbours of a fractional position, a neighbour outside the image counting as 0 (GridSample
// with align_corners and zero padding, which is how the ONNX reference computes it). Sums are
// accumulated in double; float16/bfloat16 round once at the end.
#include "ops/deform_conv.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

template <typename... Args>
void check(const ir::Node& node, bool cond, Args&&... args) {
  if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", std::forward<Args>(args)...);
}

std::vector<int64_t> pair_attr(const ir::Node& node, const char* name, int64_t fallback,
                               size_t count) {
  std::vector<int64_t> v = node.attr_ints(name, std::vector<int64_t>(count, fallback));
  check(node, v.size() == count, name, " must have ", count, " values, got ", v.size());
  return v;
}

}  // namespace

DeformConvParams resolve_deform_conv(const ir::Node& node, const Dims& x, const Dims& w,
                                     const Dims& offset, const Dims* bias, const Dims* mask) {
  check(node, x.size() == 4,
        "only 2-D deformable convolution is supported: X must be "
        "[N, C, H, W], got shape ",
        to_string(x));
  check(node, w.size() == 4, "W must be [M, C / group, kH, kW], got shape ", to_string(w));
  DeformConvParams p;
  p.group = node.attr_int("group", 1);
  p.offset_group = node.attr_int("offset_group", 1);
  check(node, p.group >= 1 && p.offset_group >= 1, "group and offset_group must be >= 1");
  check(node, x[1] == w[1] * p.group && w[0] % p.group == 0, "X has ", x[1],
        " channels and W has shape ", to_string(w), ", which does not fit group ", p.group);
  check(node, x[1] % p.offset_group == 0, "X's ", x[1], " channels do not divide into ",
        p.offset_group, " offset groups");
  const std::vector<int64_t> kernel = pair_attr(node, "kernel_shape", 0, 2);
  p.kh = kernel[0] ? kernel[0] : w[2];
  p.kw = kernel[1] ? kernel[1] : w[3];
  check(node, p.kh == w[2] && p.kw == w[3], "kernel_shape differs from W's shape ", to_string(w));
  const auto strides = pair_attr(node, "strides", 1, 2);
  const auto dilations = pair_attr(node, "dilations", 1, 2);
  const auto pads = pair_attr(node, "pads", 0, 4);
  p.stride_h = strides[0], p.stride_w = strides[1];
  p.dilation_h = dilations[0], p.dilation_w = dilations[1];
  p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
  check(node, p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0,
        "strides and dilations must be positive");
  p.out_h = (x[2] + p.pad_top + p.pad_bottom - (p.kh - 1) * p.dilation_h - 1) / p.stride_h + 1;
  p.out_w = (x[3] + p.pad_left + p.pad_right - (p.kw - 1) * p.dilation_w - 1) / p.stride_w + 1;
  check(node, p.out_h > 0 && p.out_w > 0, "the kernel does not fit the padded input");
  const Dims want_offset = {x[0], p.offset_group * p.kh * p.kw * 2, p.out_h, p.out_w};
  check(node, offset == want_offset, "offset has shape ", to_string(offset), ", expected ",
        to_string(want_offset));
  if (bias) {
    check(node, *bias == Dims{w[0]}, "B has shape ", to_string(*bias), ", expected [", w[0], "]");
  }
  if (mask) {
    const Dims want_mask = {x[0], p.offset_group * p.kh * p.kw, p.out_h, p.out_w};
    check(node, *mask == want_mask, "mask has shape ", to_string(*mask), ", expected ",
          to_string(want_mask));
  }
  return p;
}

namespace {

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kFloat64;
}

void infer_deform_conv(InferContext& ctx) {
  const DataType t = ctx.input_dtype(0);
  ctx.check(is_float_type(t), "X has type ", to_string(t), "; a float type expected");
  for (size_t i = 1; i < 5; ++i) {
    if (!ctx.has_input(i)) continue;
    ctx.check(ctx.input_dtype(i) == t, "input ", i, " has type ", to_string(ctx.input_dtype(i)),
              " but X has type ", to_string(t));
  }
  const Dims& x = ctx.input_shape(0);
  const Dims& w = ctx.input_shape(1);
  const DeformConvParams p = resolve_deform_conv(ctx.node(), x, w, ctx.input_shape(2),
                                                 ctx.has_input(3) ? &ctx.input_shape(3) : nullptr,
                                                 ctx.has_input(4) ? &ctx.input_shape(4) : nullptr);
  ctx.set_output(0, t, {x[0], w[0], p.out_h, p.out_w});
}

// X[plane] at fractional (y, x), zero outside.
double bilinear(const double* plane, int64_t height, int64_t width, double y, double x) {
  const double y0 = std::floor(y), x0 = std::floor(x);
  const double fy = y - y0, fx = x - x0;
  double sum = 0;
  for (int dy = 0; dy < 2; ++dy) {
    for (int dx = 0; dx < 2; ++dx) {
      const double yy = y0 + dy, xx = x0 + dx;
      if (yy < 0 || yy >= double(height) || xx < 0 || xx >= double(width)) continue;
      const double weight = (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx);
      if (weight != 0) sum += weight * plane[int64_t(yy) * width + int64_t(xx)];
    }
  }
  return sum;
}

void compute_deform_conv(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& xt = ctx.input(0);
  const Tensor& wt = ctx.input(1);
  const Tensor& offset_t = ctx.input(2);
  const Tensor* bias_t = ctx.has_input(3) ? &ctx.input(3) : nullptr;
  const Tensor* mask_t = ctx.has_input(4) ? &ctx.input(4) : nullptr;
  const DeformConvParams p =
      resolve_deform_conv(node, xt.shape(), wt.shape(), offset_t.shape(),
                          bias_t ? &bias_t->shape() : nullptr, mask_t ? &mask_t->shape() : nullptr);
  const std::vector<double> x = xt.to_double_vector();
  const std::vector<double> w = wt.to_double_vector();
  const std::vector<double> offset = offset_t.to_double_vector();
  const std::vector<double> mask = mask_t ? mask_t->to_double_vector() : std::vector<double>{};
  const int64_t n = xt.dim(0), channels = xt.dim(1), height = xt.dim(2), width = xt.dim(3);
  const int64_t out_channels = wt.dim(0), in_per_group = wt.dim(1);
  const int64_t out_per_group = out_channels / p.group;
  const int64_t in_per_offset_group = channels / p.offset_group;
  const int64_t taps = p.kh * p.kw, out_plane = p.out_h * p.out_w;

  std::vector<double> y(size_t(n * out_channels * out_plane), 0.0);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oc = 0; oc < out_channels; ++oc) {
      const int64_t g = oc / out_per_group;
      double* out = y.data() + (b * out_channels + oc) * out_plane;
      const double bias = bias_t ? bias_t->as_double(oc) : 0.0;
      for (int64_t i = 0; i < out_plane; ++i) out[i] = bias;
      for (int64_t icg = 0; icg < in_per_group; ++icg) {
        const int64_t ic = g * in_per_group + icg;
        const int64_t og = ic / in_per_offset_group;
        const double* plane = x.data() + (b * channels + ic) * height * width;
        const double* weights = w.data() + (oc * in_per_group + icg) * taps;
        for (int64_t tap = 0; tap < taps; ++tap) {
          const int64_t ki = tap / p.kw, kj = tap % p.kw;
          // offset channel of this tap's h displacement; the w displacement follows it
          const int64_t off_channel = (og * taps + tap) * 2;
          const double* off_h =
              offset.data() + (b * p.offset_group * taps * 2 + off_channel) * out_plane;
          const double* off_w = off_h + out_plane;
          const double* m =
              mask_t ? mask.data() + (b * p.offset_group * taps + og * taps + tap) * out_plane
                     : nullptr;
          for (int64_t oi = 0; oi < p.out_h; ++oi) {
            for (int64_t oj = 0; oj < p.out_w; ++oj) {
              const int64_t at = oi * p.out_w + oj;
              const double sy = double(oi * p.stride_h - p.pad_top + ki * p.dilation_h) + off_h[at];
              const double sx =
                  double(oj * p.stride_w - p.pad_left + kj * p.dilation_w) + off_w[at];
              double v = bilinear(plane, height, width, sy, sx) * weights[tap];
              if (m) v *= m[at];
              out[at] += v;
            }
          }
        }
      }
    }
  }
  const Tensor wide = Tensor::from_vector<double>(DataType::kFloat64, ctx.output(0).shape(), y);
  const Tensor converted = wide.cast(ctx.output(0).dtype());
  if (converted.nbytes()) std::memcpy(ctx.output(0).raw(), converted.raw(), converted.nbytes());
}

KILN_REGISTER_OP(OpDef{
    .name = "DeformConv",
    .min_inputs = 3,
    .max_inputs = 5,
    .infer = infer_deform_conv,
    .compute = compute_deform_conv,
});

}  // namespace
}  // namespace kiln::ops
