// RMSNormalization (ONNX opset 23): each row X[i0, ..., i(axis-1), :] (the block of the last
// rank - axis dims) is divided by its root mean square, then multiplied by `scale`, which
// broadcasts unidirectionally to X:
//   Y = X / sqrt(mean(X^2 over dims axis..rank-1) + epsilon) * scale
// The mean of squares accumulates in double (at least the precision stash_type asks for);
// element math is float32 for float16/bfloat16/float32 inputs and double for float64, and
// the result is rounded once to X's type. `scale` may have another float type than X.
#include <array>
#include <cmath>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

int64_t first_normalized_axis(const ir::Node& node, int64_t rank) {
  return normalize_axis(node, node.attr_int("axis", -1), rank);
}

void infer_rms_norm(InferContext& ctx) {
  for (size_t i = 0; i < 2; ++i) {
    ctx.check(is_float_type(ctx.input_dtype(i)), i == 0 ? "X" : "scale", " has type ",
              to_string(ctx.input_dtype(i)), "; float16, bfloat16, float32 or float64 expected");
  }
  const Dims& shape = ctx.input_shape(0);
  ctx.check(!shape.empty(), "X must have rank 1 or more");
  first_normalized_axis(ctx.node(), int64_t(shape.size()));
  const Dims& scale = ctx.input_shape(1);
  ctx.check(scale.size() <= shape.size() && broadcast_shapes(ctx.node(), {shape, scale}) == shape,
            "scale of shape ", to_string(scale), " does not broadcast to X of shape ",
            to_string(shape));
  // ONNX TensorProto codes: 1 float, 10 float16, 11 double, 16 bfloat16.
  const int64_t stash = ctx.node().attr_int("stash_type", 1);
  ctx.check(stash == 1 || stash == 10 || stash == 11 || stash == 16, "stash_type ", stash,
            " is not a floating-point type (1 float, 10 float16, 11 double, 16 bfloat16)");
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

// y = x * inv_rms[row] * scale, with T the compute type.
template <typename T>
void scale_rows(const T* x, T* y, const Dims& shape, int64_t row_size,
                const std::vector<double>& inv_rms, const Tensor& scale) {
  const std::vector<double> scale_values = scale.to_double_vector();
  const Dims scale_strides = broadcast_strides(scale.shape(), shape);
  for_each_broadcast<1>(shape, {scale_strides},
                        [&](int64_t i, const std::array<int64_t, 1>& scale_offset) {
                          const T normalized = x[i] * T(inv_rms[size_t(i / row_size)]);
                          y[i] = normalized * T(scale_values[size_t(scale_offset[0])]);
                        });
}

void compute_rms_norm(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const Dims& shape = x.shape();
  const int64_t axis = first_normalized_axis(ctx.node(), int64_t(shape.size()));
  int64_t row_size = 1;
  for (size_t d = size_t(axis); d < shape.size(); ++d) row_size *= shape[d];
  if (x.numel() == 0) return;
  const double epsilon = ctx.node().attr_float("epsilon", 1e-5);

  const std::vector<double> values = x.to_double_vector();
  const int64_t rows = x.numel() / row_size;
  std::vector<double> inv_rms(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double sum_squares = 0;
    for (int64_t i = 0; i < row_size; ++i) {
      const double v = values[size_t(r * row_size + i)];
      sum_squares += v * v;
    }
    inv_rms[size_t(r)] = 1.0 / std::sqrt(sum_squares / double(row_size) + epsilon);
  }

  if (x.dtype() == DataType::kFloat64) {
    scale_rows(x.data<double>(), y.data<double>(), shape, row_size, inv_rms, ctx.input(1));
    return;
  }
  const Tensor xf = to_float32(x);
  Tensor yf = Tensor::zeros(DataType::kFloat32, shape);
  scale_rows(xf.data<float>(), yf.data<float>(), shape, row_size, inv_rms, ctx.input(1));
  store_from_float32(yf, y);
}

KILN_REGISTER_OP(OpDef{
    .name = "RMSNormalization",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_rms_norm,
    .compute = compute_rms_norm,
});

}  // namespace
}  // namespace kiln::ops
