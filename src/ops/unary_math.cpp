// Unary math: Abs, Neg, Sign (numeric types); Sqrt, Reciprocal, Exp, Log, Erf, Tanh, Sigmoid,
// the trigonometric and hyperbolic functions and their inverses, Floor, Ceil and Round (float
// types). Each is the C library function in the compute type (float32 for float16/bfloat16,
// double for float64); NaN in gives NaN out.
#include <cmath>

#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

// Abs and Neg wrap for the most negative integer (Abs(INT_MIN) is INT_MIN), as two's
// complement hardware and onnxruntime do.
template <typename T>
T absolute(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::fabs(x);
  } else if constexpr (std::is_unsigned_v<T>) {
    return x;
  } else {
    return x < 0 ? wrapping_neg(x) : x;
  }
}

template <typename T>
T sign(T x) {
  if constexpr (std::is_unsigned_v<T>) {
    return x > 0 ? T(1) : T(0);
  } else {
    if (x > 0) return T(1);
    if (x < 0) return T(-1);
    return x == 0 ? T(0) : x;  // NaN stays NaN
  }
}

template <typename T>
T sigmoid(T x) {
  // For very negative x, exp(-x) overflows to inf and the result is the correct 0.
  return T(1) / (T(1) + std::exp(-x));
}

KILN_REGISTER_OP(unary_op<kNumericTypes>("Abs", [](auto x) { return absolute(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes | kSignedIntTypes>("Neg",
                                                         [](auto x) { return wrapping_neg(x); }));
KILN_REGISTER_OP(unary_op<kNumericTypes>("Sign", [](auto x) { return sign(x); }));

KILN_REGISTER_OP(unary_op<kFloatTypes>("Sqrt", [](auto x) { return std::sqrt(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Reciprocal", [](auto x) { return decltype(x)(1) / x; }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Exp", [](auto x) { return std::exp(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Log", [](auto x) { return std::log(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Erf", [](auto x) { return std::erf(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Tanh", [](auto x) { return std::tanh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Sigmoid", [](auto x) { return sigmoid(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Sin", [](auto x) { return std::sin(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Cos", [](auto x) { return std::cos(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Tan", [](auto x) { return std::tan(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Asin", [](auto x) { return std::asin(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Acos", [](auto x) { return std::acos(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Atan", [](auto x) { return std::atan(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Sinh", [](auto x) { return std::sinh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Cosh", [](auto x) { return std::cosh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Asinh", [](auto x) { return std::asinh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Acosh", [](auto x) { return std::acosh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Atanh", [](auto x) { return std::atanh(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Floor", [](auto x) { return std::floor(x); }));
KILN_REGISTER_OP(unary_op<kFloatTypes>("Ceil", [](auto x) { return std::ceil(x); }));
// nearbyint rounds in the current rounding mode, which is round-half-to-even by default (and
// kiln never changes it): Round(2.5) = 2, Round(-1.5) = -2, as ONNX asks.
KILN_REGISTER_OP(unary_op<kFloatTypes>("Round", [](auto x) { return std::nearbyint(x); }));

}  // namespace
}  // namespace kiln::ops
