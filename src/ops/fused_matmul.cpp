// FusedMatMul: kiln's own op for a matrix product with its epilogue, made by the builder's
// matmul_epilogue_fusion pass (GPU engines) so that cuBLASLt applies bias, residual and
// activation while it writes the product:
//   Y = activation(MatMul(A, B) + bias + residual)
// A: [..., M, K]; B: [K, N] (the weights); bias (optional): [N]; residual (optional): Y's shape.
// activation: "none", "relu", "gelu" (erf form, as ONNX Gelu) or "gelu_tanh" (ONNX Gelu with
// approximate="tanh"). The reference is the decomposition: MatMul's own reference, then the
// epilogue in float32.
#include <cmath>
#include <numbers>

#include "ops/common.h"

namespace kiln::ops {
namespace {

float apply_activation(const std::string& activation, float x) {
  if (activation == "relu") return x > 0.0f ? x : 0.0f;
  if (activation == "gelu") return 0.5f * x * (1.0f + std::erf(x * float(std::numbers::sqrt2 / 2)));
  if (activation == "gelu_tanh") {
    const float k = float(std::sqrt(2.0 / std::numbers::pi));
    return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
  }
  return x;
}

KILN_REGISTER_OP(OpDef{
    .name = "FusedMatMul",
    .min_inputs = 2,
    .max_inputs = 4,
    .infer =
        [](InferContext& ctx) {
          const std::string activation = ctx.node().attr_string("activation", "none");
          ctx.check(activation == "none" || activation == "relu" || activation == "gelu" ||
                        activation == "gelu_tanh",
                    "attribute activation must be none, relu, gelu or gelu_tanh, got '", activation,
                    "'");
          const DataType t = ctx.input_dtype(0);
          ctx.check(t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16,
                    "A must be float32, float16 or bfloat16, got ", to_string(t));
          const Dims& a = ctx.input_shape(0);
          const Dims& b = ctx.input_shape(1);
          ctx.check(a.size() >= 2 && b.size() == 2, "A must have rank >= 2 and B rank 2, got ",
                    to_string(a), " and ", to_string(b));
          ctx.check(a.back() == b[0], "inner dimensions differ: A ", to_string(a), " and B ",
                    to_string(b));
          Dims out = a;
          out.back() = b[1];
          for (size_t i = 1; i < ctx.num_inputs(); ++i) {
            if (!ctx.has_input(i)) continue;
            ctx.check(ctx.input_dtype(i) == t, "input ", i, " has dtype ",
                      to_string(ctx.input_dtype(i)), " but A has ", to_string(t));
          }
          if (ctx.has_input(2)) {
            ctx.check(ctx.input_shape(2) == Dims{b[1]}, "bias must have shape [", b[1], "], got ",
                      to_string(ctx.input_shape(2)));
          }
          if (ctx.has_input(3)) {
            ctx.check(ctx.input_shape(3) == out, "residual must have the output's shape ",
                      to_string(out), ", got ", to_string(ctx.input_shape(3)));
          }
          ctx.set_output(0, t, out);
        },
    .compute =
        [](ComputeContext& ctx) {
          // The product by MatMul's reference (it reads only A and B), then the epilogue.
          ComputeContext product(ctx.node(), {&ctx.input(0), &ctx.input(1)}, {&ctx.output(0)});
          OpRegistry::instance().find("MatMul")->compute(product);
          Tensor& y = ctx.output(0);
          const std::string activation = ctx.node().attr_string("activation", "none");
          const int64_t n = ctx.input(1).shape()[1];
          for (int64_t i = 0; i < y.numel(); ++i) {
            float v = load_float(y, i);
            if (ctx.has_input(2)) v += load_float(ctx.input(2), i % n);
            if (ctx.has_input(3)) v += load_float(ctx.input(3), i);
            store_float(y, i, apply_activation(activation, v));
          }
        },
});

}  // namespace
}  // namespace kiln::ops
