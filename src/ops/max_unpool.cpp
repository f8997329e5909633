// MaxUnpool (ONNX opset 22 semantics): the partial inverse of MaxPool. Each value of X goes to
// the place its index in I names; everything else is zero. The default output shape inverts
// the pooling geometry: (in - 1) * stride - (pad_begin + pad_end) + kernel per spatial axis.
//
// The indices are flat row-major indices into a tensor of that default shape (as MaxPool's
// Indices output of an input of that shape). When the optional output_shape input asks for a
// larger output, the default-shaped result sits at its origin and the rest is zero: this is the
// ONNX reference implementation's reading, which the ONNX test data follows (onnxruntime instead
// reads the indices as indices into output_shape).
#include "ops/max_unpool.h"

#include <cstring>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

constexpr size_t kX = 0, kIndices = 1, kOutputShape = 2;

void infer_max_unpool(InferContext& ctx) {
  const Dims& x = ctx.input_shape(kX);
  const Dims unpooled = max_unpool_default_shape(ctx.node(), x);
  ctx.check(ctx.input_dtype(kIndices) == DataType::kInt64, "I has type ",
            to_string(ctx.input_dtype(kIndices)), "; int64 expected");
  ctx.check(ctx.input_shape(kIndices) == x, "I has shape ", to_string(ctx.input_shape(kIndices)),
            "; X's shape ", to_string(x), " expected");
  Dims out = unpooled;
  if (ctx.has_input(kOutputShape)) {
    out = ctx.require_shape_value(kOutputShape, "output_shape");
    ctx.check(out.size() == x.size(), "output_shape ", to_string(out), " must have ", x.size(),
              " values");
    for (size_t i = 0; i < out.size(); ++i) {
      ctx.check(out[i] >= unpooled[i], "output_shape ", to_string(out),
                " is smaller than the unpooled shape ", to_string(unpooled));
    }
    ctx.check(out[0] == x[0] && out[1] == x[1], "output_shape ", to_string(out),
              " must keep X's batch and channels ", x[0], " and ", x[1]);
  }
  ctx.set_output(0, ctx.input_dtype(kX), out);
}

void compute_max_unpool(ComputeContext& ctx) {
  const Tensor& x = ctx.input(kX);
  const std::vector<int64_t> indices = ctx.input(kIndices).to_int64_vector();
  Tensor& out = ctx.output(0);
  if (out.numel() > 0) std::memset(out.raw(), 0, out.nbytes());
  const Dims unpooled = max_unpool_default_shape(ctx.node(), x.shape());
  const Dims unpooled_strides = contiguous_strides(unpooled);
  const Dims out_strides = contiguous_strides(out.shape());
  const int64_t unpooled_size = volume(unpooled);
  const size_t element = element_size(x.dtype());
  for (int64_t e = 0; e < x.numel(); ++e) {
    const int64_t index = indices[size_t(e)];
    KILN_CHECK(index >= 0 && index < unpooled_size, ErrorCode::kInvalidArgument,
               ctx.node().describe(), ": index ", index, " is outside the unpooled shape ",
               to_string(unpooled));
    // Same multi-index in the (possibly larger) output.
    int64_t rest = index, target = 0;
    for (size_t d = 0; d < unpooled.size(); ++d) {
      target += rest / unpooled_strides[d] * out_strides[d];
      rest %= unpooled_strides[d];
    }
    std::memcpy(static_cast<char*>(out.raw()) + size_t(target) * element,
                static_cast<const char*>(x.raw()) + size_t(e) * element, element);
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "MaxUnpool",
    .min_inputs = 2,
    .max_inputs = 3,
    .infer = infer_max_unpool,
    .compute = compute_max_unpool,
});

}  // namespace
Dims max_unpool_default_shape(const ir::Node& node, const Dims& x) {
  auto check = [&](bool cond, auto&&... args) {
    if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  const Dims kernel = node.attr_ints("kernel_shape");
  const size_t spatial = kernel.size();
  check(x.size() >= 3 && x.size() == spatial + 2, "X has shape ", to_string(x), "; rank ",
        spatial + 2, " expected for a ", spatial, "-D kernel_shape");
  const Dims strides = node.attr_ints("strides", Dims(spatial, 1));
  const Dims pads = node.attr_ints("pads", Dims(2 * spatial, 0));
  check(strides.size() == spatial && pads.size() == 2 * spatial, "strides and pads must have ",
        spatial, " and ", 2 * spatial, " values");
  Dims out = {x[0], x[1]};
  for (size_t i = 0; i < spatial; ++i) {
    check(kernel[i] > 0 && strides[i] > 0 && pads[i] >= 0 && pads[spatial + i] >= 0,
          "kernel_shape and strides must be positive and pads non-negative");
    const int64_t extent = (x[i + 2] - 1) * strides[i] - (pads[i] + pads[spatial + i]) + kernel[i];
    check(extent >= 0, "spatial axis ", i, " would have a negative extent ", extent);
    out.push_back(extent);
  }
  return out;
}

}  // namespace kiln::ops
