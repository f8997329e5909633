// Col2Im (ONNX opset 18): the inverse of im2col. The input [N, C * prod(block_shape), L] holds,
// for each of the L sliding-block positions, the C * prod(block_shape) values of one block;
// Col2Im sums every block's values back into an image [N, C, *image_shape]. Positions follow
// the convolution geometry of image_shape, block_shape and the strides, dilations and pads
// attributes (pads: begins then ends), so L must equal the number of block positions.
// image_shape and block_shape are int64 inputs read at shape time.
#include "ops/col2im.h"

#include <cstring>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

void infer_col2im(InferContext& ctx) {
  const Col2ImGeometry g = col2im_geometry(ctx.node(), ctx.require_integer_value(1, "image_shape"),
                                           ctx.require_integer_value(2, "block_shape"));
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(
      dtype != DataType::kBool && dtype != DataType::kFloat8E4M3 && dtype != DataType::kFloat8E5M2,
      "input type ", to_string(dtype), " is not supported");
  const Dims& in = ctx.input_shape(0);
  ctx.check(in.size() == 3, "input must be [N, C * prod(block_shape), L], not ", to_string(in));
  const int64_t block_size = volume(g.block);
  ctx.check(in[1] % block_size == 0, "input's dimension 1 (", in[1],
            ") is not a multiple of prod(block_shape) = ", block_size);
  ctx.check(in[2] == volume(g.blocks), "input's dimension 2 (", in[2], ") must be the number of ",
            "block positions, ", to_string(g.blocks), " = ", volume(g.blocks));
  Dims out = {in[0], in[1] / block_size};
  out.insert(out.end(), g.image.begin(), g.image.end());
  ctx.set_output(0, dtype, out);
}

// The row-major multi-index of element `flat` of a tensor of `extents`.
Dims unravel(int64_t flat, const Dims& extents) {
  Dims index(extents.size());
  for (size_t d = extents.size(); d-- > 0;) {
    index[d] = flat % extents[d];
    flat /= extents[d];
  }
  return index;
}

template <typename T>
void col2im(const T* in, T* out, int64_t batch, int64_t channels, const Col2ImGeometry& g) {
  const size_t dims = g.image.size();
  const int64_t block_size = volume(g.block), positions = volume(g.blocks);
  const int64_t image_size = volume(g.image);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const T* column = in + (n * channels + c) * block_size * positions;
      T* image = out + (n * channels + c) * image_size;
      for (int64_t k = 0; k < block_size; ++k) {
        const Dims offset = unravel(k, g.block);  // position within the block
        for (int64_t p = 0; p < positions; ++p) {
          const Dims position = unravel(p, g.blocks);  // which block
          int64_t flat = 0;
          bool inside = true;
          for (size_t i = 0; i < dims; ++i) {
            const int64_t at =
                position[i] * g.strides[i] - g.pads_begin[i] + offset[i] * g.dilations[i];
            if (at < 0 || at >= g.image[i]) inside = false;
            flat = flat * g.image[i] + at;
          }
          if (inside) image[flat] = T(image[flat] + column[k * positions + p]);
        }
      }
    }
  }
}

void compute_col2im(ComputeContext& ctx) {
  const Col2ImGeometry g = col2im_geometry(ctx.node(), ctx.input(1), ctx.input(2));
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() > 0) std::memset(out.raw(), 0, out.nbytes());
  const int64_t batch = out.dim(0), channels = out.dim(1);
  if (in.dtype() == DataType::kFloat16 || in.dtype() == DataType::kBFloat16) {
    // float32 sums, rounded once
    const Tensor in_f = to_float32(in);
    Tensor out_f = Tensor::zeros(DataType::kFloat32, out.shape());
    col2im(in_f.data<float>(), out_f.data<float>(), batch, channels, g);
    store_from_float32(out_f, out);
    return;
  }
  dispatch_storage(in.dtype(), [&](auto zero) {
    using T = decltype(zero);
    col2im(in.data<T>(), out.data<T>(), batch, channels, g);
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "Col2Im",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_col2im,
    .compute = compute_col2im,
});

}  // namespace

Col2ImGeometry col2im_geometry(const ir::Node& node, const Tensor& image_shape,
                               const Tensor& block_shape) {
  auto check = [&](bool cond, auto&&... args) {
    if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  Col2ImGeometry g;
  check(image_shape.rank() == 1 && block_shape.rank() == 1,
        "image_shape and block_shape must be 1-D");
  g.image = image_shape.to_int64_vector();
  g.block = block_shape.to_int64_vector();
  const size_t dims = g.image.size();
  check(dims >= 1 && g.block.size() == dims, "image_shape ", to_string(g.image),
        " and block_shape ", to_string(g.block), " must have the same, non-zero length");
  g.strides = node.attr_ints("strides", Dims(dims, 1));
  g.dilations = node.attr_ints("dilations", Dims(dims, 1));
  const Dims pads = node.attr_ints("pads", Dims(2 * dims, 0));
  check(g.strides.size() == dims && g.dilations.size() == dims && pads.size() == 2 * dims,
        "strides, dilations and pads must have ", dims, ", ", dims, " and ", 2 * dims, " values");
  for (size_t i = 0; i < dims; ++i) {
    check(g.image[i] > 0 && g.block[i] > 0, "image_shape ", to_string(g.image), " and block_shape ",
          to_string(g.block), " must be positive");
    check(g.strides[i] > 0 && g.dilations[i] > 0 && pads[i] >= 0 && pads[dims + i] >= 0,
          "strides and dilations must be positive and pads non-negative");
    const int64_t span = g.dilations[i] * (g.block[i] - 1) + 1;
    const int64_t padded = g.image[i] + pads[i] + pads[dims + i];
    check(padded >= span, "a block (extent ", span, ") does not fit the padded image (extent ",
          padded, ") along spatial axis ", i);
    g.blocks.push_back((padded - span) / g.strides[i] + 1);
    g.pads_begin.push_back(pads[i]);
  }
  return g;
}

}  // namespace kiln::ops
