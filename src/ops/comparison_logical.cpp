// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual: bool out, numpy
// broadcasting), logical ops on bool (And, Or, Xor, Not), BitwiseNot, and the float
// classifiers IsNaN and IsInf.
//
// Comparisons follow IEEE: any comparison with NaN is false (so Equal(NaN, NaN) is false).
#include <cmath>

#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

template <TypeSet kAllowed, typename F>
OpDef comparison_op(std::string name, F compare) {
  return OpDef{
      .name = std::move(name),
      .min_inputs = 2,
      .max_inputs = 2,
      .infer =
          [](InferContext& ctx) {
            check_input_type(ctx, 0, kAllowed);
            check_same_types(ctx, 0, 2);
            ctx.set_output(0, DataType::kBool, broadcast_input_shapes(ctx, 0, 2));
          },
      .compute =
          [compare](ComputeContext& ctx) {
            auto run = [&](auto kind) {
              using K = decltype(kind);
              map_binary<K, K, BoolKind>(ctx.input(0), ctx.input(1), ctx.output(0), compare);
            };
            if constexpr ((kAllowed & kBoolType) != 0) {
              dispatch_numeric_or_bool(ctx.input(0).dtype(), run);
            } else {
              dispatch_numeric(ctx.input(0).dtype(), run);
            }
          },
  };
}

KILN_REGISTER_OP(comparison_op<kNumericTypes | kBoolType>("Equal",
                                                          [](auto a, auto b) { return a == b; }));
KILN_REGISTER_OP(comparison_op<kNumericTypes>("Less", [](auto a, auto b) { return a < b; }));
KILN_REGISTER_OP(comparison_op<kNumericTypes>("Greater", [](auto a, auto b) { return a > b; }));
KILN_REGISTER_OP(comparison_op<kNumericTypes>("LessOrEqual",
                                              [](auto a, auto b) { return a <= b; }));
KILN_REGISTER_OP(comparison_op<kNumericTypes>("GreaterOrEqual",
                                              [](auto a, auto b) { return a >= b; }));

// ---------------------------------------------------------------------------------------------
// Logical ops on bool

template <typename F>
OpDef logical_op(std::string name, F f) {
  return OpDef{
      .name = std::move(name),
      .min_inputs = 2,
      .max_inputs = 2,
      .infer =
          [](InferContext& ctx) {
            check_input_type(ctx, 0, kBoolType);
            check_input_type(ctx, 1, kBoolType);
            ctx.set_output(0, DataType::kBool, broadcast_input_shapes(ctx, 0, 2));
          },
      .compute =
          [f](ComputeContext& ctx) {
            map_binary<BoolKind, BoolKind, BoolKind>(ctx.input(0), ctx.input(1), ctx.output(0), f);
          },
  };
}

KILN_REGISTER_OP(logical_op("And", [](bool a, bool b) { return a && b; }));
KILN_REGISTER_OP(logical_op("Or", [](bool a, bool b) { return a || b; }));
KILN_REGISTER_OP(logical_op("Xor", [](bool a, bool b) { return a != b; }));

KILN_REGISTER_OP(OpDef{
    .name = "Not",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          check_input_type(ctx, 0, kBoolType);
          ctx.set_output(0, DataType::kBool, ctx.input_shape(0));
        },
    .compute =
        [](ComputeContext& ctx) {
          map_unary<BoolKind, BoolKind>(ctx.input(0), ctx.output(0), [](bool x) { return !x; });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "BitwiseNot",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          check_input_type(ctx, 0, kIntTypes);
          ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
        },
    .compute =
        [](ComputeContext& ctx) {
          dispatch_int(ctx.input(0).dtype(), [&](auto kind) {
            using K = decltype(kind);
            map_unary<K, K>(ctx.input(0), ctx.output(0), [](auto x) { return decltype(x)(~x); });
          });
        },
});

// ---------------------------------------------------------------------------------------------
// IsNaN, IsInf

template <typename F>
void classify(ComputeContext& ctx, F predicate) {
  dispatch_float_or_float8(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    map_unary<K, BoolKind>(ctx.input(0), ctx.output(0), predicate);
  });
}

void infer_classifier(InferContext& ctx) {
  check_input_type(ctx, 0, kFloatTypes | kFloat8Types);
  ctx.set_output(0, DataType::kBool, ctx.input_shape(0));
}

KILN_REGISTER_OP(OpDef{
    .name = "IsNaN",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_classifier,
    .compute = [](ComputeContext& ctx) { classify(ctx, [](auto x) { return std::isnan(x); }); },
});

KILN_REGISTER_OP(OpDef{
    .name = "IsInf",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_classifier,
    .compute =
        [](ComputeContext& ctx) {
          const bool positive = ctx.node().attr_int("detect_positive", 1) != 0;
          const bool negative = ctx.node().attr_int("detect_negative", 1) != 0;
          classify(ctx, [positive, negative](auto x) {
            return std::isinf(x) && (x > 0 ? positive : negative);
          });
        },
});

}  // namespace
}  // namespace kiln::ops
