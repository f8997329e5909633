// Activations: Relu, LeakyRelu, PRelu, Elu, Selu, Celu, ThresholdedRelu, HardSigmoid,
// HardSwish, Gelu, Softplus, Softsign, Mish, Clip, Shrink. Attributes have the newest ONNX
// spec's defaults; float attributes are applied in the compute type (float32 for
// float16/bfloat16). NaN inputs give NaN outputs (Relu and Clip included, as numpy's maximum
// and clip do).
#include <cmath>
#include <numbers>

#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

// x < 0 for any compute type (always false for unsigned, without a tautology warning).
template <typename T>
bool is_negative(T x) {
  if constexpr (std::is_unsigned_v<T>) {
    return false;
  } else {
    return x < T(0);
  }
}

KILN_REGISTER_OP(unary_op<kFloatTypes | kSignedIntTypes>("Relu", [](auto x) {
  return is_negative(x) ? decltype(x)(0) : x;
}));

// A float-only unary op whose function depends on the node's attributes: make_fn(node) returns
// the per-element lambda.
template <typename MakeFn>
OpDef float_activation(std::string name, MakeFn make_fn) {
  return OpDef{
      .name = std::move(name),
      .min_inputs = 1,
      .max_inputs = 1,
      .infer = [](InferContext& ctx) { infer_same_as_input(ctx, kFloatTypes); },
      .compute =
          [make_fn](ComputeContext& ctx) { compute_unary<kFloatTypes>(ctx, make_fn(ctx.node())); },
  };
}

KILN_REGISTER_OP(float_activation("LeakyRelu", [](const ir::Node& node) {
  const double alpha = node.attr_float("alpha", 0.01);
  return [alpha](auto x) {
    using T = decltype(x);
    return x < 0 ? T(alpha) * x : x;
  };
}));

KILN_REGISTER_OP(float_activation("Elu", [](const ir::Node& node) {
  const double alpha = node.attr_float("alpha", 1.0);
  return [alpha](auto x) {
    using T = decltype(x);
    return x < 0 ? T(alpha) * std::expm1(x) : x;
  };
}));

// Selu's defaults are the float32 values ONNX's spec stores.
KILN_REGISTER_OP(float_activation("Selu", [](const ir::Node& node) {
  const double alpha = node.attr_float("alpha", 1.67326319217681884765625);
  const double gamma = node.attr_float("gamma", 1.05070102214813232421875);
  return [alpha, gamma](auto x) {
    using T = decltype(x);
    return x > 0 ? T(gamma) * x : T(gamma) * (T(alpha) * std::expm1(x));
  };
}));

KILN_REGISTER_OP(float_activation("ThresholdedRelu", [](const ir::Node& node) {
  const double alpha = node.attr_float("alpha", 1.0);
  return [alpha](auto x) {
    using T = decltype(x);
    return x > T(alpha) ? x : T(0);
  };
}));

// max(0, min(1, alpha * x + beta)), keeping NaN.
template <typename T>
T hard_sigmoid(T x, T alpha, T beta) {
  const T v = alpha * x + beta;
  return v < 0 ? T(0) : (v > 1 ? T(1) : v);
}

KILN_REGISTER_OP(float_activation("HardSigmoid", [](const ir::Node& node) {
  const double alpha = node.attr_float("alpha", 0.2);
  const double beta = node.attr_float("beta", 0.5);
  return [alpha, beta](auto x) {
    using T = decltype(x);
    return hard_sigmoid(x, T(alpha), T(beta));
  };
}));

KILN_REGISTER_OP(float_activation("HardSwish", [](const ir::Node&) {
  return [](auto x) {
    using T = decltype(x);
    return x * hard_sigmoid(x, T(1.0 / 6.0), T(0.5));
  };
}));

// log(1 + exp(x)) without overflow for large x or loss of precision for very negative x.
template <typename T>
T softplus(T x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

KILN_REGISTER_OP(unary_op<kFloatTypes>("Softplus", [](auto x) { return softplus(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Softsign",
                                       [](auto x) { return x / (decltype(x)(1) + std::fabs(x)); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Mish", [](auto x) { return x * std::tanh(softplus(x)); }));

// ---------------------------------------------------------------------------------------------
// Celu and Gelu check their attributes in inference.

KILN_REGISTER_OP(OpDef{
    .name = "Celu",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          const double alpha = ctx.node().attr_float("alpha", 1.0);
          ctx.check(alpha != 0.0, "attribute alpha must not be 0 (Celu divides by it)");
          infer_same_as_input(ctx, kFloatTypes);
        },
    .compute =
        [](ComputeContext& ctx) {
          const double alpha = ctx.node().attr_float("alpha", 1.0);
          compute_unary<kFloatTypes>(ctx, [alpha](auto x) {
            using T = decltype(x);
            // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
            const T negative_part = T(alpha) * std::expm1(x / T(alpha));
            return (x > 0 ? x : T(0)) + (negative_part < 0 ? negative_part : T(0));
          });
        },
});

std::string gelu_approximation(const ir::Node& node) {
  return node.attr_string("approximate", "none");
}

KILN_REGISTER_OP(OpDef{
    .name = "Gelu",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          const std::string approximate = gelu_approximation(ctx.node());
          ctx.check(approximate == "none" || approximate == "tanh",
                    "attribute approximate must be \"none\" or \"tanh\", got \"", approximate,
                    "\"");
          infer_same_as_input(ctx, kFloatTypes);
        },
    .compute =
        [](ComputeContext& ctx) {
          if (gelu_approximation(ctx.node()) == "tanh") {
            compute_unary<kFloatTypes>(ctx, [](auto x) {
              using T = decltype(x);
              const T k = T(std::sqrt(2.0 / std::numbers::pi));
              return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
            });
          } else {
            compute_unary<kFloatTypes>(ctx, [](auto x) {
              using T = decltype(x);
              return T(0.5) * x * (T(1) + std::erf(x * T(std::numbers::sqrt2 / 2)));
            });
          }
        },
});

// ---------------------------------------------------------------------------------------------
// PRelu: slope broadcasts to the input's shape (one way only).

inline constexpr TypeSet kPReluTypes = kFloatTypes | type_bit(DataType::kInt32) |
                                       type_bit(DataType::kInt64) | type_bit(DataType::kUInt32) |
                                       type_bit(DataType::kUInt64);

void infer_prelu(InferContext& ctx) {
  check_input_type(ctx, 0, kPReluTypes);
  check_same_types(ctx, 0, 2);
  const Dims& shape = ctx.input_shape(0);
  const Dims broadcast = broadcast_input_shapes(ctx, 0, 2);
  ctx.check(broadcast == shape, "slope of shape ", to_string(ctx.input_shape(1)),
            " does not broadcast to the input's shape ", to_string(shape));
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

void compute_prelu(ComputeContext& ctx) {
  dispatch_numeric(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0), [](auto x, auto slope) {
      return is_negative(x) ? wrapping_mul(slope, x) : x;
    });
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "PRelu",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_prelu,
    .compute = compute_prelu,
});

// ---------------------------------------------------------------------------------------------
// Clip: optional scalar inputs min and max (of the input's type). Without min (max) there is
// no lower (upper) bound; with min > max every value becomes max, as ONNX specifies.

void infer_clip(InferContext& ctx) {
  check_input_type(ctx, 0, kNumericTypes);
  check_same_types(ctx, 0, 3);
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    ctx.check(volume(ctx.input_shape(i)) == 1, "input ", i, " (", i == 1 ? "min" : "max",
              ") must be a scalar, got shape ", to_string(ctx.input_shape(i)));
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
}

void compute_clip(ComputeContext& ctx) {
  dispatch_numeric(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    const bool has_min = ctx.has_input(1);
    const bool has_max = ctx.has_input(2);
    const T lo = has_min ? K::load(ctx.input(1).template data<StorageOf<K>>()[0]) : T(0);
    const T hi = has_max ? K::load(ctx.input(2).template data<StorageOf<K>>()[0]) : T(0);
    // Comparisons with NaN are false, so a NaN input passes through both steps.
    map_unary<K, K>(ctx.input(0), ctx.output(0), [=](T x) {
      if (has_min && x < lo) x = lo;
      if (has_max && x > hi) x = hi;
      return x;
    });
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "Clip",
    .min_inputs = 1,
    .max_inputs = 3,
    .infer = infer_clip,
    .compute = compute_clip,
});

// ---------------------------------------------------------------------------------------------
// Shrink: x + bias below -lambd, x - bias above lambd, 0 between. Integer inputs compute in
// double and truncate back, as a Cast would.

void compute_shrink(ComputeContext& ctx) {
  const double lambd = ctx.node().attr_float("lambd", 0.5);
  const double bias = ctx.node().attr_float("bias", 0.0);
  dispatch_numeric(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    // W: the type the formula is evaluated in.
    using W = std::conditional_t<std::is_floating_point_v<T>, T, double>;
    map_unary<K, K>(ctx.input(0), ctx.output(0), [lambd, bias](T x) {
      const W v = W(x);
      W y = W(0);
      if (v < W(-lambd)) {
        y = v + W(bias);
      } else if (v > W(lambd)) {
        y = v - W(bias);
      }
      if constexpr (std::is_floating_point_v<T>) {
        return y;
      } else {
        return float_to_integer<T>(y);
      }
    });
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "Shrink",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { infer_same_as_input(ctx, kNumericTypes); },
    .compute = compute_shrink,
});

}  // namespace
}  // namespace kiln::ops
