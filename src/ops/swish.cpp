// Swish (ONNX opset 24) and SwiGLU (opset 28), the gated activations of modern transformers'
// MLP blocks:
//   Swish(x)     = x * sigmoid(alpha * x)
//   SwiGLU(a, b) = Swish(a) * b     (a and b of identical shape: no broadcasting)
// float16/bfloat16 compute in float32 and round once on store; float64 computes in double.
#include <cmath>

#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

// x * sigmoid(alpha * x), written so that neither branch overflows: for large |alpha * x|
// exp(-|alpha * x|) underflows to 0 instead of exp(+|...|) overflowing to infinity.
template <typename T>
T swish(T x, T alpha) {
  const T z = alpha * x;
  const T e = std::exp(-std::abs(z));
  const T sigmoid = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
  return x * sigmoid;
}

double alpha_of(const ir::Node& node) { return node.attr_float("alpha", 1.0); }

KILN_REGISTER_OP(OpDef{
    .name = "Swish",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { infer_same_as_input(ctx, kFloatTypes); },
    .compute =
        [](ComputeContext& ctx) {
          const double alpha = alpha_of(ctx.node());
          compute_unary<kFloatTypes>(ctx, [alpha](auto x) { return swish(x, decltype(x)(alpha)); });
        },
});

void infer_swiglu(InferContext& ctx) {
  check_input_type(ctx, 0, kFloatTypes);
  check_same_types(ctx, 0, 2);
  ctx.check(ctx.input_shape(0) == ctx.input_shape(1), "A of shape ", to_string(ctx.input_shape(0)),
            " and B of shape ", to_string(ctx.input_shape(1)),
            " must have identical shapes (SwiGLU does not broadcast)");
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
}

void compute_swiglu(ComputeContext& ctx) {
  const double alpha = alpha_of(ctx.node());
  dispatch_float(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0),
                        [alpha](auto a, auto b) { return swish(a, decltype(a)(alpha)) * b; });
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "SwiGLU",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_swiglu,
    .compute = compute_swiglu,
});

}  // namespace
}  // namespace kiln::ops
