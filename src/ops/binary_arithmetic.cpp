// Binary arithmetic with numpy broadcasting: Add, Sub, Mul, Div, Pow, Mod, BitShift,
// BitwiseAnd/Or/Xor, and the variadic Max, Min, Sum, Mean.
//
// Integer semantics follow ONNX (and C): Div truncates toward zero, signed overflow wraps
// (two's complement), Mod with fmod=0 takes the sign of the divisor. Integer division or
// modulo by zero has no defined result anywhere, so it is reported as an error naming the
// node instead of crashing the process.
#include <cmath>

#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

void infer_binary_same_type(InferContext& ctx, TypeSet allowed) {
  check_input_type(ctx, 0, allowed);
  check_same_types(ctx, 0, 2);
  ctx.set_output(0, ctx.input_dtype(0), broadcast_input_shapes(ctx, 0, 2));
}

// An op C = f(A, B) over the types `kAllowed` (the numeric types, or only the integer ones),
// with f a generic lambda on compute values.
template <TypeSet kAllowed, typename F>
OpDef binary_op(std::string name, F f) {
  return OpDef{
      .name = std::move(name),
      .min_inputs = 2,
      .max_inputs = 2,
      .infer = [](InferContext& ctx) { infer_binary_same_type(ctx, kAllowed); },
      .compute =
          [f](ComputeContext& ctx) {
            auto run = [&](auto kind) {
              using K = decltype(kind);
              map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0), f);
            };
            if constexpr ((kAllowed & kFloatTypes) != 0) {
              dispatch_numeric(ctx.input(0).dtype(), run);
            } else {
              dispatch_int(ctx.input(0).dtype(), run);
            }
          },
  };
}

KILN_REGISTER_OP(binary_op<kNumericTypes>("Add",
                                          [](auto a, auto b) { return wrapping_add(a, b); }));
KILN_REGISTER_OP(binary_op<kNumericTypes>("Sub",
                                          [](auto a, auto b) { return wrapping_sub(a, b); }));
KILN_REGISTER_OP(binary_op<kNumericTypes>("Mul",
                                          [](auto a, auto b) { return wrapping_mul(a, b); }));
KILN_REGISTER_OP(binary_op<kIntTypes>("BitwiseAnd",
                                      [](auto a, auto b) { return decltype(a)(a & b); }));
KILN_REGISTER_OP(binary_op<kIntTypes>("BitwiseOr",
                                      [](auto a, auto b) { return decltype(a)(a | b); }));
KILN_REGISTER_OP(binary_op<kIntTypes>("BitwiseXor",
                                      [](auto a, auto b) { return decltype(a)(a ^ b); }));

// ---------------------------------------------------------------------------------------------
// Div and Mod

[[noreturn]] void fail_division_by_zero(const ir::Node& node, const char* what) {
  fail(ErrorCode::kRuntime, node.describe(), ": integer ", what, " by zero");
}

void compute_div(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  dispatch_numeric(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0), [&node](T a, T b) -> T {
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) fail_division_by_zero(node, "division");
        // INT_MIN / -1 overflows (and traps on x86); the wrapped result is INT_MIN.
        if constexpr (std::is_signed_v<T>) {
          if (b == -1) return wrapping_neg(a);
        }
        return T(a / b);
      } else {
        return a / b;
      }
    });
  });
}

// Remainder with the sign of the divisor (fmod=0): a - floor(a / b) * b.
template <typename T>
T floor_mod(T a, T b, const ir::Node& node) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) fail_division_by_zero(node, "modulo");
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;  // INT_MIN % -1 would trap
      T r = T(a % b);
      if (r != 0 && ((r < 0) != (b < 0))) r = T(r + b);
      return r;
    } else {
      return T(a % b);
    }
  } else {
    // std::fmod gives NaN for an infinite a or a zero b, as ONNX asks; a finite a against an
    // infinite b of the other sign becomes that b after the correction, as ONNX asks too.
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    if (r == 0) r = std::copysign(T(0), b);
    return r;
  }
}

// Remainder with the sign of the dividend (fmod=1): a - trunc(a / b) * b, as C's % and fmod.
template <typename T>
T truncated_mod(T a, T b, const ir::Node& node) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) fail_division_by_zero(node, "modulo");
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;
    }
    return T(a % b);
  } else {
    return std::fmod(a, b);
  }
}

void infer_mod(InferContext& ctx) {
  const int64_t fmod = ctx.node().attr_int("fmod", 0);
  ctx.check(fmod == 0 || fmod == 1, "attribute fmod must be 0 or 1, got ", fmod);
  infer_binary_same_type(ctx, kNumericTypes);
}

void compute_mod(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const bool truncated = node.attr_int("fmod", 0) == 1;
  dispatch_numeric(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    if (truncated) {
      map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0),
                          [&node](T a, T b) { return truncated_mod(a, b, node); });
    } else {
      map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0),
                          [&node](T a, T b) { return floor_mod(a, b, node); });
    }
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "Div",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = [](InferContext& ctx) { infer_binary_same_type(ctx, kNumericTypes); },
    .compute = compute_div,
});

KILN_REGISTER_OP(OpDef{
    .name = "Mod",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_mod,
    .compute = compute_mod,
});

// ---------------------------------------------------------------------------------------------
// Pow: the exponent may have another type than the base; the output has the base's type.

inline constexpr TypeSet kPowBaseTypes =
    kFloatTypes | type_bit(DataType::kInt32) | type_bit(DataType::kInt64);

void infer_pow(InferContext& ctx) {
  check_input_type(ctx, 0, kPowBaseTypes);
  check_input_type(ctx, 1, kNumericTypes);
  ctx.set_output(0, ctx.input_dtype(0), broadcast_input_shapes(ctx, 0, 2));
}

// base^exponent by repeated squaring, wrapping on overflow. A negative exponent gives the
// truncated quotient 1 / base^-exponent: 0 unless |base| is 1.
template <typename T>
T integer_pow(T base, int64_t exponent, const ir::Node& node) {
  if (exponent < 0) {
    if (base == 0) fail(ErrorCode::kRuntime, node.describe(), ": integer 0 to a negative power");
    if (base == 1) return 1;
    if (base == -1) return (exponent % 2 == 0) ? 1 : -1;
    return 0;
  }
  T result = 1;
  while (exponent != 0) {
    if (exponent & 1) result = wrapping_mul(result, base);
    base = wrapping_mul(base, base);
    exponent >>= 1;
  }
  return result;
}

void compute_pow(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& base = ctx.input(0);
  Tensor& out = ctx.output(0);
  // The exponent is read in one type per base type (converted first when it differs), so
  // that each base type has one loop rather than one per exponent type.
  auto exponent_as = [&](DataType type) {
    const Tensor& e = ctx.input(1);
    return e.dtype() == type ? e : e.cast(type);
  };
  const DataType exponent_type = ctx.input(1).dtype();
  if (type_in(base.dtype(), kFloatTypes)) {
    dispatch_float(base.dtype(), [&](auto kind) {
      using K = decltype(kind);
      using T = ComputeOf<K>;
      const DataType wide = std::is_same_v<T, double> ? DataType::kFloat64 : DataType::kFloat32;
      const Tensor exponent = exponent_as(wide);
      // x^2 (layer norm's variance in exported BERTs) and x^1 as plain arithmetic: both are
      // exact where pow is correctly rounded, and much faster.
      if (exponent.numel() == 1 && exponent.shape().size() <= base.shape().size()) {
        const double e = exponent.as_double(0);
        if (e == 2.0) return map_unary<K, K>(base, out, [](T x) { return x * x; });
        if (e == 1.0) return map_unary<K, K>(base, out, [](T x) { return x; });
      }
      map_binary<K, Direct<T>, K>(base, exponent, out, [](T x, T y) { return std::pow(x, y); });
    });
    return;
  }
  auto integer_base = [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    if (type_in(exponent_type, kIntTypes)) {
      map_binary<K, Direct<int64_t>, K>(
          base, exponent_as(DataType::kInt64), out,
          [&node](T x, int64_t y) { return integer_pow(x, y, node); });
    } else {
      map_binary<K, Float64Kind, K>(base, exponent_as(DataType::kFloat64), out, [](T x, double y) {
        return float_to_integer<T>(std::pow(double(x), y));
      });
    }
  };
  if (base.dtype() == DataType::kInt32) {
    integer_base(Direct<int32_t>{});
  } else {
    integer_base(Direct<int64_t>{});
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Pow",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_pow,
    .compute = compute_pow,
});

// ---------------------------------------------------------------------------------------------
// BitShift: RIGHT is arithmetic for signed types; a shift by a negative amount or by the bit
// width or more leaves only the sign fill (-1 or 0).

void infer_bitshift(InferContext& ctx) {
  const std::string direction = ctx.node().attr_string("direction");
  ctx.check(direction == "LEFT" || direction == "RIGHT",
            "attribute direction must be \"LEFT\" or \"RIGHT\", got \"", direction, "\"");
  infer_binary_same_type(ctx, kIntTypes);
}

void compute_bitshift(ComputeContext& ctx) {
  const bool left = ctx.node().attr_string("direction") == "LEFT";
  dispatch_int(ctx.input(0).dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    constexpr int64_t kBits = int64_t(sizeof(T) * 8);
    auto in_range = [](T shift) {
      if constexpr (std::is_signed_v<T>) {
        if (shift < 0) return false;
      }
      return int64_t(shift) < kBits;
    };
    if (left) {
      map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0), [&](T x, T shift) {
        // Shifted as uint64, where bits past the top are simply dropped, then truncated.
        return in_range(shift) ? T(uint64_t(x) << unsigned(shift)) : T(0);
      });
    } else {
      map_binary<K, K, K>(ctx.input(0), ctx.input(1), ctx.output(0), [&](T x, T shift) {
        if (in_range(shift)) return T(x >> unsigned(shift));
        if constexpr (std::is_signed_v<T>) {
          return x < 0 ? T(-1) : T(0);
        } else {
          return T(0);
        }
      });
    }
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "BitShift",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_bitshift,
    .compute = compute_bitshift,
});

// ---------------------------------------------------------------------------------------------
// Variadic Max, Min, Sum, Mean. The running result is kept in the compute type (float32 for
// float16/bfloat16), so a half-precision Sum rounds once, on the final store.

void infer_variadic(InferContext& ctx, TypeSet allowed) {
  check_input_type(ctx, 0, allowed);
  check_same_types(ctx, 0, ctx.num_inputs());
  ctx.set_output(0, ctx.input_dtype(0), broadcast_input_shapes(ctx, 0, ctx.num_inputs()));
}

template <typename F>
void compute_variadic(ComputeContext& ctx, bool mean, F f) {
  Tensor& out = ctx.output(0);
  const size_t n = ctx.num_inputs();
  dispatch_numeric(out.dtype(), [&](auto kind) {
    using K = decltype(kind);
    using T = ComputeOf<K>;
    using Acc = WideKind<K>;
    // The output itself is the accumulator when it stores the compute type and no input that
    // is read after the first step shares its memory.
    bool in_place = std::is_same_v<StorageOf<K>, T>;
    for (size_t i = 2; i < n; ++i) {
      if (ctx.input(i).raw() == out.raw()) in_place = false;
    }
    DataType acc_type = out.dtype();
    if constexpr (std::is_same_v<T, float>) acc_type = DataType::kFloat32;
    Tensor acc = in_place ? out : Tensor::zeros(acc_type, out.shape());
    if (n == 1) {
      map_unary<K, Acc>(ctx.input(0), acc, [](T x) { return x; });
    } else {
      map_binary<K, K, Acc>(ctx.input(0), ctx.input(1), acc, f);
      for (size_t i = 2; i < n; ++i) map_binary<Acc, K, Acc>(acc, ctx.input(i), acc, f);
    }
    if (mean) {
      const T count = T(n);
      map_unary<Acc, K>(acc, out, [count](T x) { return x / count; });
    } else if (!in_place) {
      map_unary<Acc, K>(acc, out, [](T x) { return x; });
    }
  });
}

// max/min that propagate NaN, as numpy's maximum/minimum and onnxruntime do.
template <typename T>
T max_propagating_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
  }
  return a > b ? a : b;
}

template <typename T>
T min_propagating_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
  }
  return a < b ? a : b;
}

KILN_REGISTER_OP(OpDef{
    .name = "Max",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = [](InferContext& ctx) { infer_variadic(ctx, kNumericTypes); },
    .compute =
        [](ComputeContext& ctx) {
          compute_variadic(ctx, false, [](auto a, auto b) { return max_propagating_nan(a, b); });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "Min",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = [](InferContext& ctx) { infer_variadic(ctx, kNumericTypes); },
    .compute =
        [](ComputeContext& ctx) {
          compute_variadic(ctx, false, [](auto a, auto b) { return min_propagating_nan(a, b); });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "Sum",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = [](InferContext& ctx) { infer_variadic(ctx, kFloatTypes); },
    .compute =
        [](ComputeContext& ctx) {
          compute_variadic(ctx, false, [](auto a, auto b) { return wrapping_add(a, b); });
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "Mean",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = [](InferContext& ctx) { infer_variadic(ctx, kFloatTypes); },
    .compute =
        [](ComputeContext& ctx) {
          compute_variadic(ctx, true, [](auto a, auto b) { return wrapping_add(a, b); });
        },
});

}  // namespace
}  // namespace kiln::ops
