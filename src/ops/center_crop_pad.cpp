// CenterCropPad (ONNX opset 18): each listed axis is cropped or zero-padded to the extent
// given by the `shape` input, keeping the content centred. A crop starts at
// floor((in - out) / 2); a pad puts floor((out - in) / 2) zeros before the content and the
// rest after it. Elements are moved as bytes, so every type is supported.
#include <cstring>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

// The output extents, from the `shape` input (needed at shape time) and `axes`.
Dims output_shape(const InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  const int64_t rank = int64_t(in.size());
  const Tensor& shape = ctx.require_integer_value(1, "shape");
  ctx.check(shape.rank() == 1, "shape must be 1-D, got shape ", to_string(shape.shape()));
  std::vector<int64_t> axes;
  if (ctx.node().has_attr("axes")) {
    axes = ctx.node().attr_ints("axes");
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  ctx.check(shape.numel() == int64_t(axes.size()), "shape has ", shape.numel(),
            " entries but there are ", axes.size(), " axes");
  axes = normalize_axes(ctx.node(), axes, rank);
  Dims out = in;
  std::vector<bool> seen(size_t(rank), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t axis = size_t(axes[i]);
    ctx.check(!seen[axis], "axis ", axes[i], " is listed twice");
    seen[axis] = true;
    const int64_t extent = shape.as_int64(int64_t(i));
    ctx.check(extent >= 0, "shape[", i, "] = ", extent, " is negative");
    out[axis] = extent;
  }
  return out;
}

void compute_center_crop_pad(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const Dims& in = x.shape();
  const Dims& out = y.shape();
  const size_t rank = in.size();
  if (y.numel() == 0) return;  // zero-initialized already
  // Input index = output index + shift along each axis (negative while padding).
  Dims shift(rank);
  for (size_t d = 0; d < rank; ++d) {
    shift[d] = in[d] >= out[d] ? (in[d] - out[d]) / 2 : -((out[d] - in[d]) / 2);
  }
  const Dims in_strides = contiguous_strides(in);
  const size_t bytes = element_size(x.dtype());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  std::vector<int64_t> index(rank, 0);
  for (int64_t flat = 0; flat < y.numel(); ++flat) {
    int64_t source = 0;
    bool inside = true;
    for (size_t d = 0; d < rank && inside; ++d) {
      const int64_t i = index[d] + shift[d];
      inside = 0 <= i && i < in[d];
      source += i * in_strides[d];
    }
    if (inside) std::memcpy(dst + size_t(flat) * bytes, src + size_t(source) * bytes, bytes);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < out[d]) break;
      index[d] = 0;
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "CenterCropPad",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = [](InferContext& ctx) { ctx.set_output(0, ctx.input_dtype(0), output_shape(ctx)); },
    .compute = compute_center_crop_pad,
});

}  // namespace
}  // namespace kiln::ops
