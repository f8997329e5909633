// RotaryEmbedding (ONNX opset 23): rotary positional embeddings (RoPE).
//
// X is [batch, num_heads, seq, head_size] or [batch, seq, num_heads * head_size] (then the
// num_heads attribute says how the last dim splits). The first rotary_embedding_dim elements
// of each head (all of them when the attribute is 0) form rot/2 pairs (x1, x2), each rotated
// by the angle of its token's position:
//   x1' = cos * x1 - sin * x2,   x2' = sin * x1 + cos * x2
// A pair is (i, i + rot/2) by default and (2i, 2i + 1) when `interleaved`. The remaining
// elements are copied. The cos/sin values for pair i come from the caches: [max_pos, rot/2]
// rows picked by position_ids[batch, seq] when position_ids is given, else [batch, seq, rot/2].
// float16/bfloat16 compute in float32 and round once on store.
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

// How X's elements are addressed, resolved from its shape and the attributes.
struct RotaryLayout {
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t heads = 0;
  int64_t head_size = 0;
  int64_t rotary_dim = 0;
  bool heads_before_seq = false;  // 4-D input: [batch, heads, seq, head_size]

  // Offset of element 0 of the head vector (b, s, h) in X.
  int64_t head_offset(int64_t b, int64_t s, int64_t h) const {
    return heads_before_seq ? ((b * heads + h) * seq + s) * head_size
                            : ((b * seq + s) * heads + h) * head_size;
  }
};

// Validates X's shape and the attributes (through `check`, which throws naming the node).
template <typename Check>
RotaryLayout layout_of(const ir::Node& node, const Dims& shape, Check&& check) {
  RotaryLayout layout;
  check(shape.size() == 3 || shape.size() == 4,
        "X must be [batch, num_heads, seq, head_size] or [batch, seq, hidden], got ",
        to_string(shape));
  const int64_t num_heads = node.attr_int("num_heads", 0);
  layout.batch = shape[0];
  if (shape.size() == 4) {
    layout.heads_before_seq = true;
    layout.heads = shape[1];
    layout.seq = shape[2];
    layout.head_size = shape[3];
    check(num_heads == 0 || num_heads == layout.heads, "num_heads ", num_heads,
          " disagrees with X of shape ", to_string(shape), " (dim 1 is the number of heads)");
  } else {
    check(num_heads > 0, "a 3-D X needs the num_heads attribute (a positive number)");
    layout.seq = shape[1];
    layout.heads = num_heads;
    check(shape[2] % num_heads == 0, "the hidden size ", shape[2],
          " is not a multiple of num_heads ", num_heads);
    layout.head_size = shape[2] / num_heads;
  }
  const int64_t rotary_dim = node.attr_int("rotary_embedding_dim", 0);
  layout.rotary_dim = rotary_dim == 0 ? layout.head_size : rotary_dim;
  check(
      layout.rotary_dim > 0 && layout.rotary_dim <= layout.head_size && layout.rotary_dim % 2 == 0,
      "the rotated part (", layout.rotary_dim, " elements) must be even and within the head size ",
      layout.head_size);
  return layout;
}

void infer_rotary(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(
      dtype == DataType::kFloat32 || dtype == DataType::kFloat16 || dtype == DataType::kBFloat16,
      "X has type ", to_string(dtype), "; float32, float16 or bfloat16 expected");
  const auto check = [&ctx](bool cond, auto&&... args) { ctx.check(cond, args...); };
  const RotaryLayout layout = layout_of(ctx.node(), ctx.input_shape(0), check);
  ctx.check(ctx.input_dtype(1) == dtype && ctx.input_dtype(2) == dtype,
            "cos_cache and sin_cache must have X's type ", to_string(dtype));
  const Dims& cos_shape = ctx.input_shape(1);
  ctx.check(ctx.input_shape(2) == cos_shape, "sin_cache of shape ", to_string(ctx.input_shape(2)),
            " must have cos_cache's shape ", to_string(cos_shape));
  const int64_t half = layout.rotary_dim / 2;
  if (ctx.has_input(3)) {
    ctx.check(ctx.input_dtype(3) == DataType::kInt64, "position_ids has type ",
              to_string(ctx.input_dtype(3)), "; int64 expected");
    ctx.check(ctx.input_shape(3) == Dims{layout.batch, layout.seq},
              "position_ids must have shape [", layout.batch, ", ", layout.seq,
              "] ([batch, seq]), got ", to_string(ctx.input_shape(3)));
    ctx.check(cos_shape.size() == 2 && cos_shape[1] == half,
              "with position_ids the caches must be [max_position, ", half, "], got ",
              to_string(cos_shape));
  } else {
    ctx.check(cos_shape == Dims{layout.batch, layout.seq, half},
              "without position_ids the caches must be [batch, seq, rotary_dim / 2] = [",
              layout.batch, ", ", layout.seq, ", ", half, "], got ", to_string(cos_shape));
  }
  ctx.set_output(0, dtype, ctx.input_shape(0));
}

void compute_rotary(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const auto check = [&node](bool cond, auto&&... args) {
    KILN_CHECK(cond, ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  const RotaryLayout layout = layout_of(node, ctx.input(0).shape(), check);
  const Tensor x = to_float32(ctx.input(0));
  const Tensor cos_cache = to_float32(ctx.input(1));
  const Tensor sin_cache = to_float32(ctx.input(2));
  Tensor y = Tensor::zeros(DataType::kFloat32, x.shape());
  const float* in = x.data<float>();
  float* out = y.data<float>();
  const int64_t half = layout.rotary_dim / 2;
  const bool interleaved = node.attr_int("interleaved", 0) != 0;
  const int64_t max_position = cos_cache.dim(0);

  for (int64_t b = 0; b < layout.batch; ++b) {
    for (int64_t s = 0; s < layout.seq; ++s) {
      // The cache row of this token.
      int64_t row = b * layout.seq + s;
      if (ctx.has_input(3)) {
        row = ctx.input(3).as_int64(b * layout.seq + s);
        KILN_CHECK(row >= 0 && row < max_position, ErrorCode::kInvalidArgument, node.describe(),
                   ": position id ", row, " of token (", b, ", ", s, ") is outside [0, ",
                   max_position, ") of the caches");
      }
      const float* cos_row = cos_cache.data<float>() + row * half;
      const float* sin_row = sin_cache.data<float>() + row * half;
      for (int64_t h = 0; h < layout.heads; ++h) {
        const int64_t base = layout.head_offset(b, s, h);
        for (int64_t i = 0; i < half; ++i) {
          const int64_t first = base + (interleaved ? 2 * i : i);
          const int64_t second = base + (interleaved ? 2 * i + 1 : i + half);
          const float x1 = in[first];
          const float x2 = in[second];
          out[first] = cos_row[i] * x1 - sin_row[i] * x2;
          out[second] = sin_row[i] * x1 + cos_row[i] * x2;
        }
        for (int64_t d = layout.rotary_dim; d < layout.head_size; ++d) out[base + d] = in[base + d];
      }
    }
  }
  store_from_float32(y, ctx.output(0));
}

KILN_REGISTER_OP(OpDef{
    .name = "RotaryEmbedding",
    .min_inputs = 3,
    .max_inputs = 4,
    .infer = infer_rotary,
    .compute = compute_rotary,
});

}  // namespace
}  // namespace kiln::ops
