// MatMulInteger and QLinearMatMul: numpy-style matmul (1-D operands promoted, batch dims
// broadcast) of zero-point-shifted 8-bit operands.
//
//   MatMulInteger: Y = (A - a_zero_point) @ (B - b_zero_point), int32 (accumulation wraps in 32
//                  bits, which the spec allows; products are exact).
//   QLinearMatMul: y = saturate(round_half_even(acc * (a_scale * b_scale / y_scale)) + y_zp),
//                  with acc the product above. The multiplier is computed in the scales' type;
//                  the rest in double, as the ONNX reference (numpy) does it.
//
// Zero points and scales of A are per tensor (one element) or per row: a 1-D tensor of M
// entries, or an N-D tensor broadcastable to A with a last extent of 1 ([D1, D2, M, 1]). Those
// of B are per tensor or per column: 1-D of N entries, or N-D with extent 1 on the K axis
// ([D1, D2, 1, N]). QLinearMatMul's output scale and zero point are per tensor. QLinearMatMul
// also accepts float8 e4m3fn/e5m2 operands, shifted and accumulated in double.
#include <cstdint>
#include <vector>

#include "ops/quantized_common.h"

namespace kiln::ops {
namespace {

using quantized::broadcasts_to;

// A and B seen as batches of [M, K] and [K, N] matrices; the output as [batch..., M, N]
// ("full"), which has the same element order as the real output, where a promoted 1-D
// operand's M or N axis is dropped.
struct MatMulGeometry {
  Dims a_full, b_full, out_full, out_shape;
  int64_t m = 1, k = 1, n = 1;
  bool a_vector = false, b_vector = false;
};

MatMulGeometry matmul_geometry(const InferContext& ctx, const Dims& a, const Dims& b) {
  ctx.check(!a.empty() && !b.empty(), "operands must have rank >= 1, got shapes ", to_string(a),
            " and ", to_string(b));
  MatMulGeometry g;
  g.a_vector = a.size() == 1;
  g.b_vector = b.size() == 1;
  g.a_full = g.a_vector ? Dims{1, a[0]} : a;
  g.b_full = g.b_vector ? Dims{b[0], 1} : b;
  g.m = g.a_full[g.a_full.size() - 2];
  g.k = g.a_full.back();
  g.n = g.b_full.back();
  const int64_t b_k = g.b_full[g.b_full.size() - 2];
  ctx.check(g.k == b_k, "inner extents differ: A has shape ", to_string(a), ", B has shape ",
            to_string(b));
  const Dims a_batch(g.a_full.begin(), g.a_full.end() - 2);
  const Dims b_batch(g.b_full.begin(), g.b_full.end() - 2);
  const Dims batch = broadcast_shapes(ctx.node(), {a_batch, b_batch});
  g.out_full = batch;
  g.out_full.push_back(g.m);
  g.out_full.push_back(g.n);
  g.out_shape = batch;
  if (!g.a_vector) g.out_shape.push_back(g.m);
  if (!g.b_vector) g.out_shape.push_back(g.n);
  return g;
}

// The shape a zero point or scale of A is read with: {} per tensor, [..., M, 1] per row.
Dims row_param_shape(const InferContext& ctx, const char* what, const Dims& shape,
                     const MatMulGeometry& g) {
  if (volume(shape) == 1) return {};
  if (shape.size() == 1 && !g.a_vector) {
    ctx.check(shape[0] == g.m, what, " has ", shape[0],
              " entries; per-row quantization of A needs ", g.m);
    return {shape[0], 1};
  }
  ctx.check(shape.size() >= 2 && shape.back() == 1 && broadcasts_to(shape, g.a_full), what,
            " has shape ", to_string(shape), ", which is neither one element nor per row of A ",
            to_string(g.a_full));
  return shape;
}

// The shape a zero point or scale of B is read with: {} per tensor, [..., 1, N] per column.
Dims column_param_shape(const InferContext& ctx, const char* what, const Dims& shape,
                        const MatMulGeometry& g) {
  if (volume(shape) == 1) return {};
  if (shape.size() == 1 && !g.b_vector) {
    ctx.check(shape[0] == g.n, what, " has ", shape[0],
              " entries; per-column quantization of B needs ", g.n);
    return shape;
  }
  ctx.check(shape.size() >= 2 && shape[shape.size() - 2] == 1 && broadcasts_to(shape, g.b_full),
            what, " has shape ", to_string(shape),
            ", which is neither one element nor per column of B ", to_string(g.b_full));
  return shape;
}

// The operand's elements minus its zero point (broadcast with `zero_point_shape`), as T.
template <typename T>
std::vector<T> shifted(const Tensor& x, const Dims& full, const Tensor* zero_point,
                       const Dims& zero_point_shape) {
  std::vector<T> out(size_t(x.numel()));
  const std::array<Dims, 1> strides = {broadcast_strides(zero_point_shape, full)};
  for_each_broadcast<1>(full, strides, [&](int64_t i, const std::array<int64_t, 1>& offsets) {
    const double zp = zero_point ? zero_point->as_double(offsets[0]) : 0.0;
    out[size_t(i)] = T(x.as_double(i) - zp);  // exact for the 8-bit types
  });
  return out;
}

// acc[batch..., m, n] = sum_k a[batch..., m, k] * b[batch..., k, n] over out_full.
template <typename T>
std::vector<T> batched_matmul(const std::vector<T>& a, const std::vector<T>& b,
                              const MatMulGeometry& g) {
  const Dims out_batch(g.out_full.begin(), g.out_full.end() - 2);
  const Dims a_batch_strides =
      broadcast_strides(Dims(g.a_full.begin(), g.a_full.end() - 2), out_batch);
  const Dims b_batch_strides =
      broadcast_strides(Dims(g.b_full.begin(), g.b_full.end() - 2), out_batch);
  const Dims out_batch_strides = contiguous_strides(out_batch);
  const int64_t batches = volume(out_batch);
  std::vector<T> acc(size_t(batches * g.m * g.n), T(0));
  for (int64_t batch = 0; batch < batches; ++batch) {
    int64_t a_matrix = 0, b_matrix = 0, rest = batch;
    for (size_t d = 0; d < out_batch.size(); ++d) {
      const int64_t index = rest / out_batch_strides[d];
      rest %= out_batch_strides[d];
      a_matrix += index * a_batch_strides[d];
      b_matrix += index * b_batch_strides[d];
    }
    const T* a_rows = a.data() + a_matrix * g.m * g.k;
    const T* b_rows = b.data() + b_matrix * g.k * g.n;
    T* out = acc.data() + batch * g.m * g.n;
    for (int64_t i = 0; i < g.m; ++i) {
      for (int64_t kk = 0; kk < g.k; ++kk) {
        const T a_value = a_rows[i * g.k + kk];
        for (int64_t j = 0; j < g.n; ++j) out[i * g.n + j] += a_value * b_rows[kk * g.n + j];
      }
    }
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// MatMulInteger

void check_zero_point_type(const InferContext& ctx, size_t zp, size_t of, const char* what) {
  if (!ctx.has_input(zp)) return;
  ctx.check(ctx.input_dtype(zp) == ctx.input_dtype(of), what, " has type ",
            to_string(ctx.input_dtype(zp)), " but its operand has type ",
            to_string(ctx.input_dtype(of)));
}

MatMulGeometry infer_matmul_integer_geometry(const InferContext& ctx, Dims& a_zp, Dims& b_zp) {
  for (size_t i : {size_t(0), size_t(1)}) {
    ctx.check(quantized::is_int8_type(ctx.input_dtype(i)), "input ", i, " has type ",
              to_string(ctx.input_dtype(i)), "; int8 or uint8 expected");
  }
  check_zero_point_type(ctx, 2, 0, "a_zero_point");
  check_zero_point_type(ctx, 3, 1, "b_zero_point");
  MatMulGeometry g = matmul_geometry(ctx, ctx.input_shape(0), ctx.input_shape(1));
  if (ctx.has_input(2)) a_zp = row_param_shape(ctx, "a_zero_point", ctx.input_shape(2), g);
  if (ctx.has_input(3)) b_zp = column_param_shape(ctx, "b_zero_point", ctx.input_shape(3), g);
  return g;
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

KILN_REGISTER_OP(OpDef{
    .name = "MatMulInteger",
    .min_inputs = 2,
    .max_inputs = 4,
    .infer =
        [](InferContext& ctx) {
          Dims a_zp, b_zp;
          const MatMulGeometry g = infer_matmul_integer_geometry(ctx, a_zp, b_zp);
          ctx.set_output(0, DataType::kInt32, g.out_shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          Dims a_zp, b_zp;
          const MatMulGeometry g =
              infer_matmul_integer_geometry(infer_from_tensors(ctx), a_zp, b_zp);
          const Tensor* a_zero = ctx.has_input(2) ? &ctx.input(2) : nullptr;
          const Tensor* b_zero = ctx.has_input(3) ? &ctx.input(3) : nullptr;
          // uint32 arithmetic wraps as the spec allows int32 accumulation to, without the
          // undefined behavior of signed overflow.
          const auto a = shifted<int64_t>(ctx.input(0), g.a_full, a_zero, a_zp);
          const auto b = shifted<int64_t>(ctx.input(1), g.b_full, b_zero, b_zp);
          const std::vector<uint32_t> acc =
              batched_matmul(std::vector<uint32_t>(a.begin(), a.end()),
                             std::vector<uint32_t>(b.begin(), b.end()), g);
          Tensor& y = ctx.output(0);
          for (size_t i = 0; i < acc.size(); ++i) y.data<int32_t>()[i] = int32_t(acc[i]);
        },
});

// ---------------------------------------------------------------------------------------------
// QLinearMatMul: inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
// y_zero_point.

bool is_qlinear_type(DataType t) {
  return quantized::is_int8_type(t) || t == DataType::kFloat8E4M3 || t == DataType::kFloat8E5M2;
}

struct QLinearMatMulShapes {
  MatMulGeometry g;
  Dims a_param, b_param;  // how the scales and zero points of A and B are read
};

QLinearMatMulShapes infer_qlinear_matmul_shapes(const InferContext& ctx) {
  for (size_t i : {size_t(0), size_t(3)}) {
    ctx.check(is_qlinear_type(ctx.input_dtype(i)), "input ", i, " has type ",
              to_string(ctx.input_dtype(i)), "; int8, uint8, float8e4m3 or float8e5m2 expected");
  }
  check_zero_point_type(ctx, 2, 0, "a_zero_point");
  check_zero_point_type(ctx, 5, 3, "b_zero_point");
  const DataType scale_type = ctx.input_dtype(1);
  ctx.check(scale_type == DataType::kFloat32 || scale_type == DataType::kFloat16 ||
                scale_type == DataType::kBFloat16,
            "a_scale has type ", to_string(scale_type), "; float32, float16 or bfloat16 expected");
  for (size_t i : {size_t(4), size_t(6)}) {
    ctx.check(ctx.input_dtype(i) == scale_type, "input ", i, " has type ",
              to_string(ctx.input_dtype(i)), " but a_scale has type ", to_string(scale_type));
  }
  QLinearMatMulShapes s;
  s.g = matmul_geometry(ctx, ctx.input_shape(0), ctx.input_shape(3));
  s.a_param = row_param_shape(ctx, "a_scale", ctx.input_shape(1), s.g);
  s.b_param = column_param_shape(ctx, "b_scale", ctx.input_shape(4), s.g);
  if (ctx.has_input(2)) {
    ctx.check(row_param_shape(ctx, "a_zero_point", ctx.input_shape(2), s.g) == s.a_param,
              "a_zero_point's shape ", to_string(ctx.input_shape(2)), " differs from a_scale's ",
              to_string(ctx.input_shape(1)));
  }
  if (ctx.has_input(5)) {
    ctx.check(column_param_shape(ctx, "b_zero_point", ctx.input_shape(5), s.g) == s.b_param,
              "b_zero_point's shape ", to_string(ctx.input_shape(5)), " differs from b_scale's ",
              to_string(ctx.input_shape(4)));
  }
  ctx.check(volume(ctx.input_shape(6)) == 1, "y_scale must have one element, got shape ",
            to_string(ctx.input_shape(6)));
  if (ctx.has_input(7)) {
    ctx.check(is_qlinear_type(ctx.input_dtype(7)), "y_zero_point has type ",
              to_string(ctx.input_dtype(7)), "; int8, uint8, float8e4m3 or float8e5m2 expected");
    ctx.check(volume(ctx.input_shape(7)) == 1, "y_zero_point must have one element, got shape ",
              to_string(ctx.input_shape(7)));
  }
  return s;
}

KILN_REGISTER_OP(OpDef{
    .name = "QLinearMatMul",
    .min_inputs = 7,
    .max_inputs = 8,
    .infer =
        [](InferContext& ctx) {
          const QLinearMatMulShapes s = infer_qlinear_matmul_shapes(ctx);
          // Without y_zero_point the output has A's type (the ONNX reference's choice).
          const DataType out_type = ctx.has_input(7) ? ctx.input_dtype(7) : ctx.input_dtype(0);
          ctx.set_output(0, out_type, s.g.out_shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const QLinearMatMulShapes s = infer_qlinear_matmul_shapes(infer_from_tensors(ctx));
          const MatMulGeometry& g = s.g;
          const Tensor* a_zero = ctx.has_input(2) ? &ctx.input(2) : nullptr;
          const Tensor* b_zero = ctx.has_input(5) ? &ctx.input(5) : nullptr;
          const std::vector<double> acc =
              batched_matmul(shifted<double>(ctx.input(0), g.a_full, a_zero, s.a_param),
                             shifted<double>(ctx.input(3), g.b_full, b_zero, s.b_param), g);
          const Tensor& a_scale = ctx.input(1);
          const Tensor& b_scale = ctx.input(4);
          const float y_scale = load_float(ctx.input(6), 0);
          const double y_zero = ctx.has_input(7) ? ctx.input(7).as_double(0) : 0.0;
          Tensor& y = ctx.output(0);
          const std::array<Dims, 2> strides = {broadcast_strides(s.a_param, g.out_full),
                                               broadcast_strides(s.b_param, g.out_full)};
          for_each_broadcast<2>(
              g.out_full, strides, [&](int64_t i, const std::array<int64_t, 2>& offsets) {
                const double multiplier = quantized::requantize_multiplier(
                    a_scale.dtype(), load_float(a_scale, offsets[0]),
                    load_float(b_scale, offsets[1]), y_scale);
                quantized::store_quantized(y, i, acc[size_t(i)] * multiplier + y_zero);
              });
        },
});

}  // namespace
}  // namespace kiln::ops
