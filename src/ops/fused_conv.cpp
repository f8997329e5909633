// FusedConv: kiln's own op for a 2-D convolution with its epilogue, made by the builder's
// conv_fusion passes (GPU engines) so that cuDNN applies bias, residual and ReLU while it
// writes the convolution, and so that FP16/BF16 convolutions can run channels-last:
//   Y = activation(Conv(X, W) + B + Z)
// Attributes: Conv's own (auto_pad, dilations, group, kernel_shape, pads, strides), plus
// activation ("none" or "relu") and layout:
// - "NCHW": X [N, C, H, W], W [K, C/group, R, S], Y and Z [N, K, OH, OW] (as Conv);
// - "NHWC": X [N, H, W, C], W [K, R, S, C/group], Y and Z [N, OH, OW, K] (channels last).
// B (optional) is [K]. The reference is the decomposition: Conv's own reference on NCHW
// copies, then the epilogue in float32.
#include <array>
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool channels_last(const ir::Node& node) { return node.attr_string("layout", "NCHW") == "NHWC"; }

// [N, H, W, C] <-> [N, C, H, W] of a shape.
Dims to_nchw(const Dims& s) { return {s[0], s[3], s[1], s[2]}; }
Dims to_nhwc(const Dims& s) { return {s[0], s[2], s[3], s[1]}; }

// A 4-D tensor with its axes permuted: out[i0..i3] = in[i_perm[0]..], as Transpose does.
Tensor permuted(const Tensor& in, const std::array<int, 4>& perm) {
  const Dims& s = in.shape();
  const Dims out_shape{s[size_t(perm[0])], s[size_t(perm[1])], s[size_t(perm[2])],
                       s[size_t(perm[3])]};
  Tensor out = Tensor::zeros(in.dtype(), out_shape);
  const Dims in_strides = contiguous_strides(s);
  const size_t bytes = element_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  int64_t o = 0;
  for (int64_t a = 0; a < out_shape[0]; ++a)
    for (int64_t b = 0; b < out_shape[1]; ++b)
      for (int64_t c = 0; c < out_shape[2]; ++c)
        for (int64_t d = 0; d < out_shape[3]; ++d, ++o) {
          const int64_t idx[4] = {a, b, c, d};
          int64_t offset = 0;
          for (int k = 0; k < 4; ++k) offset += idx[k] * in_strides[size_t(perm[size_t(k)])];
          std::memcpy(dst + size_t(o) * bytes, src + size_t(offset) * bytes, bytes);
        }
  return out;
}
constexpr std::array<int, 4> kToNchw{0, 3, 1, 2};
constexpr std::array<int, 4> kToNhwc{0, 2, 3, 1};

KILN_REGISTER_OP(OpDef{
    .name = "FusedConv",
    .min_inputs = 2,
    .max_inputs = 4,  // X, W, optional B, optional Z
    .infer =
        [](InferContext& ctx) {
          const std::string activation = ctx.node().attr_string("activation", "none");
          ctx.check(activation == "none" || activation == "relu",
                    "attribute activation must be none or relu, got '", activation, "'");
          const std::string layout = ctx.node().attr_string("layout", "NCHW");
          ctx.check(layout == "NCHW" || layout == "NHWC",
                    "attribute layout must be NCHW or NHWC, got '", layout, "'");
          const bool nhwc = channels_last(ctx.node());
          ctx.check(ctx.input_shape(0).size() == 4 && ctx.input_shape(1).size() == 4,
                    "X and W must be 4-D, got ", to_string(ctx.input_shape(0)), " and ",
                    to_string(ctx.input_shape(1)));
          // Conv's inference on the NCHW view of X and W.
          std::vector<std::optional<TensorDesc>> descs;
          for (size_t i = 0; i < 3; ++i) {
            if (!ctx.has_input(i)) {
              descs.push_back(std::nullopt);
              continue;
            }
            TensorDesc d = ctx.input(i);
            if (nhwc && i < 2) d.shape = to_nchw(d.shape);
            descs.push_back(d);
          }
          InferContext conv(ctx.node(), descs, {nullptr, nullptr, nullptr});
          OpRegistry::instance().find("Conv")->infer(conv);
          TensorDesc y = *conv.outputs()[0];
          if (nhwc) y.shape = to_nhwc(y.shape);
          if (ctx.has_input(3)) {
            ctx.check(ctx.input_dtype(3) == y.dtype && ctx.input_shape(3) == y.shape, "Z must be ",
                      to_string(y.dtype), " of the output's shape ", to_string(y.shape), ", got ",
                      to_string(ctx.input_dtype(3)), " ", to_string(ctx.input_shape(3)));
          }
          ctx.set_output(0, y.dtype, y.shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const bool nhwc = channels_last(ctx.node());
          const Tensor x = nhwc ? permuted(ctx.input(0), kToNchw) : ctx.input(0);
          const Tensor w = nhwc ? permuted(ctx.input(1), kToNchw) : ctx.input(1);
          Tensor& out = ctx.output(0);
          Tensor y = nhwc ? Tensor::zeros(out.dtype(), to_nchw(out.shape())) : out;
          ComputeContext conv(ctx.node(), {&x, &w, ctx.has_input(2) ? &ctx.input(2) : nullptr},
                              {&y});
          OpRegistry::instance().find("Conv")->compute(conv);
          if (nhwc) {
            const Tensor back = permuted(y, kToNhwc);
            std::memcpy(out.raw(), back.raw(), back.nbytes());
          }
          const bool relu = ctx.node().attr_string("activation", "none") == "relu";
          for (int64_t i = 0; i < out.numel(); ++i) {
            float v = load_float(out, i);
            if (ctx.has_input(3)) v += load_float(ctx.input(3), i);
            store_float(out, i, relu && v < 0.0f ? 0.0f : v);
          }
        },
});

}  // namespace
}  // namespace kiln::ops
