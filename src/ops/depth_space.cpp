// DepthToSpace and SpaceToDepth on NCHW tensors with square blocks of `blocksize`. Channel
// c' of the deep tensor and pixel (h * bs + i, w * bs + j) of the wide one correspond, with C
// the wide tensor's channel count and c its channel:
//   DCR (depth-column-row): c' = (i * bs + j) * C + c
//   CRD (column-row-depth): c' = c * bs * bs + i * bs + j
// SpaceToDepth is the inverse mapping (ONNX defines its DCR/CRD by the same reshape/transpose
// pairs reversed). Both computes walk the wide tensor and copy one element per step.
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

struct BlockLayout {
  int64_t blocksize;
  bool dcr;
};

BlockLayout read_layout(const ir::Node& node) {
  const int64_t blocksize = node.attr_int("blocksize");
  KILN_CHECK(blocksize >= 1, ErrorCode::kInvalidModel, node.describe(), ": blocksize ", blocksize,
             " must be positive");
  const std::string mode = node.attr_string("mode", "DCR");
  KILN_CHECK(mode == "DCR" || mode == "CRD", ErrorCode::kInvalidModel, node.describe(), ": mode '",
             mode, "' is not DCR or CRD");
  return {blocksize, mode == "DCR"};
}

// Calls copy(wide_offset, deep_offset) for every element; `wide` is [N, C, H*bs, W*bs] and the
// deep tensor [N, C*bs*bs, H, W].
template <typename Fn>
void for_each_pair(const Dims& wide, const BlockLayout& layout, Fn&& copy) {
  const int64_t bs = layout.blocksize;
  const int64_t n = wide[0], channels = wide[1], wide_h = wide[2], wide_w = wide[3];
  const int64_t h = wide_h / bs, w = wide_w / bs;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t y = 0; y < wide_h; ++y) {
        const int64_t i = y % bs;
        const int64_t row = y / bs;
        int64_t wide_offset = ((b * channels + c) * wide_h + y) * wide_w;
        for (int64_t j = 0; j < bs; ++j) {
          const int64_t deep_c = layout.dcr ? (i * bs + j) * channels + c : (c * bs + i) * bs + j;
          const int64_t deep_row = ((b * channels * bs * bs + deep_c) * h + row) * w;
          // pixels x = col * bs + j of this wide row come from deep (deep_c, row, col)
          for (int64_t col = 0; col < w; ++col) copy(wide_offset + col * bs + j, deep_row + col);
        }
      }
    }
  }
}

void check_rank4(const InferContext& ctx) {
  ctx.check(ctx.input_shape(0).size() == 4, "input must be 4-D (NCHW), got shape ",
            to_string(ctx.input_shape(0)));
}

void infer_depth_to_space(InferContext& ctx) {
  check_rank4(ctx);
  const BlockLayout layout = read_layout(ctx.node());
  const Dims& in = ctx.input_shape(0);
  const int64_t bs = layout.blocksize;
  ctx.check(in[1] % (bs * bs) == 0, "channels ", in[1],
            " are not divisible by blocksize^2 = ", bs * bs);
  ctx.set_output(0, ctx.input_dtype(0), {in[0], in[1] / (bs * bs), in[2] * bs, in[3] * bs});
}

void infer_space_to_depth(InferContext& ctx) {
  check_rank4(ctx);
  const BlockLayout layout = read_layout(ctx.node());
  const Dims& in = ctx.input_shape(0);
  const int64_t bs = layout.blocksize;
  ctx.check(in[2] % bs == 0 && in[3] % bs == 0, "height ", in[2], " and width ", in[3],
            " must be divisible by blocksize ", bs);
  ctx.set_output(0, ctx.input_dtype(0), {in[0], in[1] * bs * bs, in[2] / bs, in[3] / bs});
}

void compute(ComputeContext& ctx, bool to_space) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  const size_t element = element_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  const BlockLayout layout = read_layout(ctx.node());
  if (to_space) {
    for_each_pair(out.shape(), layout, [&](int64_t wide, int64_t deep) {
      std::memcpy(dst + size_t(wide) * element, src + size_t(deep) * element, element);
    });
  } else {
    for_each_pair(in.shape(), layout, [&](int64_t wide, int64_t deep) {
      std::memcpy(dst + size_t(deep) * element, src + size_t(wide) * element, element);
    });
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "DepthToSpace",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_depth_to_space,
    .compute = [](ComputeContext& ctx) { compute(ctx, true); },
});

KILN_REGISTER_OP(OpDef{
    .name = "SpaceToDepth",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_space_to_depth,
    .compute = [](ComputeContext& ctx) { compute(ctx, false); },
});

}  // namespace
}  // namespace kiln::ops
