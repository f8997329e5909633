// MatMul (numpy.matmul semantics: 1-D operands are promoted to a matrix and the added axis is
// removed again; leading batch axes broadcast) and Gemm (Y = alpha * A' * B' + beta * C, with
// A' / B' optionally transposed and C broadcast to M x N).
//
// Reference computes: floats accumulate in double and round once; integers compute with the
// wrap-around of their own width (as numpy and onnxruntime do).
#include <array>
#include <cmath>
#include <concepts>
#include <type_traits>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool is_matmul_dtype(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

void check_operand_types(const InferContext& ctx) {
  const DataType t = ctx.input_dtype(0);
  ctx.check(is_matmul_dtype(t),
            "A must be float32, float64, float16, bfloat16, int32, int64, uint32 or uint64, got ",
            to_string(t));
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    ctx.check(ctx.input_dtype(i) == t, "input ", i, " has dtype ", to_string(ctx.input_dtype(i)),
              " but A has ", to_string(t));
  }
}

// MatMul's operands viewed as batches of matrices.
struct MatMulShapes {
  Dims a_batch, b_batch, out_batch;  // batch extents (before broadcasting, and after)
  int64_t m = 1, k = 1, n = 1;
  Dims out;  // the output's shape, promoted axes removed
};

MatMulShapes matmul_shapes(const InferContext& ctx) {
  const Dims& a = ctx.input_shape(0);
  const Dims& b = ctx.input_shape(1);
  ctx.check(!a.empty() && !b.empty(), "operands must have rank >= 1, got ", to_string(a), " and ",
            to_string(b));
  MatMulShapes s;
  // A 1-D A is a row vector [1, K]; a 1-D B a column vector [K, 1].
  s.m = a.size() == 1 ? 1 : a[a.size() - 2];
  s.k = a.back();
  const int64_t b_k = b.size() == 1 ? b[0] : b[b.size() - 2];
  s.n = b.size() == 1 ? 1 : b.back();
  ctx.check(s.k == b_k, "inner dimensions differ: A ", to_string(a), " and B ", to_string(b));
  if (a.size() > 2) s.a_batch.assign(a.begin(), a.end() - 2);
  if (b.size() > 2) s.b_batch.assign(b.begin(), b.end() - 2);
  s.out_batch = broadcast_shapes(ctx.node(), {s.a_batch, s.b_batch});
  s.out = s.out_batch;
  if (a.size() > 1) s.out.push_back(s.m);
  if (b.size() > 1) s.out.push_back(s.n);
  return s;
}

MatMulShapes shapes_at_compute(const ComputeContext& ctx) {
  std::vector<std::optional<TensorDesc>> descs{
      TensorDesc{ctx.input(0).dtype(), ctx.input(0).shape()},
      TensorDesc{ctx.input(1).dtype(), ctx.input(1).shape()}};
  InferContext ictx(ctx.node(), std::move(descs), {});
  return matmul_shapes(ictx);
}

// Arithmetic type of the reference: double for floats; for integers the unsigned type of the
// same width, whose arithmetic wraps without undefined behaviour.
template <typename T>
struct AccumulatorOf {
  using type = double;
};
template <std::integral T>
struct AccumulatorOf<T> {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
using Accumulator = typename AccumulatorOf<T>::type;

// The tensor's elements in the accumulator type (float16/bfloat16 storage converts to double).
template <typename T>
std::vector<Accumulator<T>> load_values(const Tensor& t) {
  if constexpr (std::is_integral_v<T>) {
    std::vector<Accumulator<T>> out(size_t(t.numel()));
    for (size_t i = 0; i < out.size(); ++i) out[i] = Accumulator<T>(t.data<T>()[i]);
    return out;
  } else {
    return t.to_double_vector();
  }
}

// Stores accumulator values into `out`; T = float stands for every float32-math dtype.
template <typename T>
void store_values(const std::vector<Accumulator<T>>& values, Tensor& out) {
  for (size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_integral_v<T>) {
      out.data<T>()[i] = T(values[i]);  // modular conversion back to the signed type
    } else if constexpr (std::is_same_v<T, double>) {
      out.data<double>()[i] = values[i];
    } else {
      store_float(out, int64_t(i), float(values[i]));
    }
  }
}

// The storage type used for arithmetic dispatch: float16/bfloat16 compute as floats.
template <typename Fn>
void dispatch_arithmetic(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kInt32:
      return fn(int32_t{});
    case DataType::kInt64:
      return fn(int64_t{});
    case DataType::kUInt32:
      return fn(uint32_t{});
    case DataType::kUInt64:
      return fn(uint64_t{});
    case DataType::kFloat64:
      return fn(double{});
    default:
      return fn(float{});  // float32, float16, bfloat16: double accumulation
  }
}

template <typename T>
void matmul_reference(ComputeContext& ctx, const MatMulShapes& s) {
  using Acc = Accumulator<T>;
  const std::vector<Acc> a = load_values<T>(ctx.input(0));
  const std::vector<Acc> b = load_values<T>(ctx.input(1));
  std::vector<Acc> y(size_t(volume(s.out)), Acc{});
  const std::array<Dims, 2> strides{broadcast_strides(s.a_batch, s.out_batch),
                                    broadcast_strides(s.b_batch, s.out_batch)};
  const int64_t m = s.m, k = s.k, n = s.n;
  for_each_broadcast<2>(s.out_batch, strides, [&](int64_t batch, const auto& offsets) {
    const Acc* a_mat = a.data() + offsets[0] * m * k;
    const Acc* b_mat = b.data() + offsets[1] * k * n;
    Acc* y_mat = y.data() + batch * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        Acc sum{};
        for (int64_t p = 0; p < k; ++p) sum += a_mat[i * k + p] * b_mat[p * n + j];
        y_mat[i * n + j] = sum;
      }
    }
  });
  store_values<T>(y, ctx.output(0));
}

void compute_matmul(ComputeContext& ctx) {
  const MatMulShapes s = shapes_at_compute(ctx);
  dispatch_arithmetic(ctx.input(0).dtype(),
                      [&](auto tag) { matmul_reference<decltype(tag)>(ctx, s); });
}

struct GemmShapes {
  int64_t m = 0, k = 0, n = 0;
  bool trans_a = false, trans_b = false;
};

GemmShapes gemm_shapes(const InferContext& ctx) {
  const Dims& a = ctx.input_shape(0);
  const Dims& b = ctx.input_shape(1);
  ctx.check(a.size() == 2 && b.size() == 2, "A and B must be 2-D, got ", to_string(a), " and ",
            to_string(b));
  GemmShapes s;
  const int64_t trans_a = ctx.node().attr_int("transA", 0);
  const int64_t trans_b = ctx.node().attr_int("transB", 0);
  ctx.check((trans_a == 0 || trans_a == 1) && (trans_b == 0 || trans_b == 1),
            "transA and transB must be 0 or 1, got ", trans_a, " and ", trans_b);
  s.trans_a = trans_a;
  s.trans_b = trans_b;
  s.m = s.trans_a ? a[1] : a[0];
  s.k = s.trans_a ? a[0] : a[1];
  const int64_t b_k = s.trans_b ? b[1] : b[0];
  s.n = s.trans_b ? b[0] : b[1];
  ctx.check(s.k == b_k, "inner dimensions differ: A ", to_string(a),
            (s.trans_a ? " (transposed)" : ""), " and B ", to_string(b),
            (s.trans_b ? " (transposed)" : ""));
  if (ctx.has_input(2)) {
    const Dims& c = ctx.input_shape(2);
    const Dims target{s.m, s.n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const int64_t want = target[2 - c.size() + i];
      ok = c[i] == want || c[i] == 1;
    }
    ctx.check(ok, "C of shape ", to_string(c), " does not broadcast to ", to_string(target));
  }
  return s;
}

template <typename T>
void gemm_reference(ComputeContext& ctx, const GemmShapes& s) {
  using Acc = Accumulator<T>;
  const std::vector<Acc> a = load_values<T>(ctx.input(0));
  const std::vector<Acc> b = load_values<T>(ctx.input(1));
  const double alpha = ctx.node().attr_float("alpha", 1.0);
  const double beta = ctx.node().attr_float("beta", 1.0);
  std::vector<Acc> c;
  Dims c_strides{0, 0};
  if (ctx.has_input(2)) {
    c = load_values<T>(ctx.input(2));
    c_strides = broadcast_strides(ctx.input(2).shape(), Dims{s.m, s.n});
  }
  std::vector<Acc> y(size_t(s.m * s.n));
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      Acc sum{};
      for (int64_t p = 0; p < s.k; ++p) {
        const Acc av = s.trans_a ? a[size_t(p * s.m + i)] : a[size_t(i * s.k + p)];
        const Acc bv = s.trans_b ? b[size_t(j * s.k + p)] : b[size_t(p * s.n + j)];
        sum += av * bv;
      }
      const Acc cv = c.empty() ? Acc{} : c[size_t(i * c_strides[0] + j * c_strides[1])];
      if constexpr (std::is_integral_v<T>) {
        // Integer alpha/beta keep exact wrap-around arithmetic; others go through double.
        if (alpha == std::trunc(alpha) && beta == std::trunc(beta)) {
          sum = sum * Acc(int64_t(alpha)) + (c.empty() ? Acc{} : cv * Acc(int64_t(beta)));
        } else {
          sum = Acc(int64_t(alpha * double(T(sum)) + (c.empty() ? 0.0 : beta * double(T(cv)))));
        }
      } else {
        sum = alpha * sum + (c.empty() ? 0.0 : beta * cv);
      }
      y[size_t(i * s.n + j)] = sum;
    }
  }
  store_values<T>(y, ctx.output(0));
}

KILN_REGISTER_OP(OpDef{
    .name = "MatMul",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer =
        [](InferContext& ctx) {
          check_operand_types(ctx);
          ctx.set_output(0, ctx.input_dtype(0), matmul_shapes(ctx).out);
        },
    .compute = compute_matmul,
});

KILN_REGISTER_OP(OpDef{
    .name = "Gemm",
    .min_inputs = 2,
    .max_inputs = 3,  // A, B, optional C
    .infer =
        [](InferContext& ctx) {
          check_operand_types(ctx);
          const GemmShapes s = gemm_shapes(ctx);
          ctx.set_output(0, ctx.input_dtype(0), {s.m, s.n});
        },
    .compute =
        [](ComputeContext& ctx) {
          std::vector<std::optional<TensorDesc>> descs;
          for (size_t i = 0; i < ctx.num_inputs(); ++i) {
            if (ctx.has_input(i)) {
              descs.push_back(TensorDesc{ctx.input(i).dtype(), ctx.input(i).shape()});
            } else {
              descs.push_back(std::nullopt);
            }
          }
          InferContext ictx(ctx.node(), std::move(descs), {});
          const GemmShapes s = gemm_shapes(ictx);
          dispatch_arithmetic(ctx.input(0).dtype(),
                              [&](auto tag) { gemm_reference<decltype(tag)>(ctx, s); });
        },
});

}  // namespace
}  // namespace kiln::ops
