// Shared machinery of the elementwise op families (binary arithmetic, comparisons, unary math,
// activations, Where, Cast): dtype sets for inference checks, element "kinds" that say how a
// dtype is stored and computed, dtype dispatch, and the broadcasting loops.
//
// The loops are templates over the per-element function, so the function is inlined and the
// float32 same-shape case compiles to a plain (vectorizable) loop. Broadcasting first drops
// output dims of extent 1 and merges adjacent dims that every input walks the same way, so
// that the innermost loop is as long as possible and usually has a stride of 1 or 0 per input
// (bias add over NCHW, a [hidden] vector against [batch, seq, hidden], a scalar operand).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/common.h"

namespace kiln::ops::elementwise {

// ---------------------------------------------------------------------------------------------
// dtype sets, for the type checks in inference

using TypeSet = uint32_t;

constexpr TypeSet type_bit(DataType type) { return TypeSet(1) << unsigned(type); }

inline constexpr TypeSet kFloatTypes = type_bit(DataType::kFloat32) | type_bit(DataType::kFloat64) |
                                       type_bit(DataType::kFloat16) | type_bit(DataType::kBFloat16);
inline constexpr TypeSet kFloat8Types =
    type_bit(DataType::kFloat8E4M3) | type_bit(DataType::kFloat8E5M2);
inline constexpr TypeSet kSignedIntTypes = type_bit(DataType::kInt8) | type_bit(DataType::kInt16) |
                                           type_bit(DataType::kInt32) | type_bit(DataType::kInt64);
inline constexpr TypeSet kUnsignedIntTypes =
    type_bit(DataType::kUInt8) | type_bit(DataType::kUInt16) | type_bit(DataType::kUInt32) |
    type_bit(DataType::kUInt64);
inline constexpr TypeSet kIntTypes = kSignedIntTypes | kUnsignedIntTypes;
inline constexpr TypeSet kNumericTypes = kFloatTypes | kIntTypes;
inline constexpr TypeSet kBoolType = type_bit(DataType::kBool);
// Types kiln only converts, quantizes and moves (kiln/types.h).
inline constexpr TypeSet kNarrowStorageTypes =
    type_bit(DataType::kInt4) | type_bit(DataType::kUInt4) | type_bit(DataType::kInt2) |
    type_bit(DataType::kUInt2) | type_bit(DataType::kFloat4E2M1) |
    type_bit(DataType::kFloat8E4M3FNUZ) | type_bit(DataType::kFloat8E5M2FNUZ) |
    type_bit(DataType::kFloat8E8M0);
inline constexpr TypeSet kAllTypes = kNumericTypes | kBoolType | kFloat8Types | kNarrowStorageTypes;

inline bool type_in(DataType type, TypeSet set) { return (type_bit(type) & set) != 0; }

// "float32, float64, ..." in DataType order.
inline std::string describe_types(TypeSet set) {
  std::string out;
  for (int i = 0; i < kDataTypeCount; ++i) {
    if (!type_in(DataType(i), set)) continue;
    if (!out.empty()) out += ", ";
    out += to_string(DataType(i));
  }
  return out;
}

inline void check_input_type(const InferContext& ctx, size_t input, TypeSet allowed) {
  const DataType type = ctx.input_dtype(input);
  ctx.check(type_in(type, allowed), "input ", input, " has type ", to_string(type), "; ",
            ctx.node().op, " accepts ", describe_types(allowed));
}

// Every given input (omitted optional ones skipped) has the type of input `first`.
inline void check_same_types(const InferContext& ctx, size_t first, size_t end) {
  const DataType type = ctx.input_dtype(first);
  for (size_t i = first + 1; i < end; ++i) {
    if (!ctx.has_input(i)) continue;
    ctx.check(ctx.input_dtype(i) == type, "input ", i, " has type ", to_string(ctx.input_dtype(i)),
              " but input ", first, " has type ", to_string(type), "; they must match");
  }
}

// Numpy broadcast of the shapes of inputs [first, end) (omitted optional inputs skipped).
inline Dims broadcast_input_shapes(const InferContext& ctx, size_t first, size_t end) {
  std::vector<Dims> shapes;
  for (size_t i = first; i < end; ++i) {
    if (ctx.has_input(i)) shapes.push_back(ctx.input_shape(i));
  }
  return broadcast_shapes(ctx.node(), shapes);
}

// ---------------------------------------------------------------------------------------------
// Element kinds: how a dtype is stored and in which C++ type it is computed. float16 and
// bfloat16 compute in float32 and round on store; bool is stored as one byte 0/1.

template <typename S, typename C = S>
struct Direct {
  using Storage = S;
  using Compute = C;
  static Compute load(Storage v) { return Compute(v); }
  static Storage store(Compute v) { return Storage(v); }
};

struct Float16Kind {
  using Storage = uint16_t;
  using Compute = float;
  static float load(uint16_t v) { return fp16_to_float(v); }
  static uint16_t store(float v) { return float_to_fp16(v); }
};

struct BFloat16Kind {
  using Storage = uint16_t;
  using Compute = float;
  static float load(uint16_t v) { return bf16_to_float(v); }
  static uint16_t store(float v) { return float_to_bf16(v); }
};

// float8 kinds are only read through these (IsNaN, IsInf, Cast from float8); Cast writes
// float8 itself, honouring its `saturate` attribute.
struct Float8E4M3Kind {
  using Storage = uint8_t;
  using Compute = float;
  static float load(uint8_t v) { return fp8e4m3_to_float(v); }
  static uint8_t store(float v) { return float_to_fp8e4m3(v); }
};

struct Float8E5M2Kind {
  using Storage = uint8_t;
  using Compute = float;
  static float load(uint8_t v) { return fp8e5m2_to_float(v); }
  static uint8_t store(float v) { return float_to_fp8e5m2(v); }
};

struct BoolKind {
  using Storage = uint8_t;
  using Compute = bool;
  static bool load(uint8_t v) { return v != 0; }
  static uint8_t store(bool v) { return uint8_t(v); }
};

using Float32Kind = Direct<float>;
using Float64Kind = Direct<double>;

template <typename Kind>
using ComputeOf = typename Kind::Compute;
template <typename Kind>
using StorageOf = typename Kind::Storage;

// The kind that holds Kind's compute type as is (float32 for float16: an accumulator).
template <typename Kind>
using WideKind = Direct<typename Kind::Compute>;

// ---------------------------------------------------------------------------------------------
// dtype dispatch: fn(Kind{}) for the kind of `type`. Each family instantiates fn only for the
// dtypes it supports; inference has rejected the others already, so reaching the fallback
// is a kiln bug.

[[noreturn]] inline void unexpected_dtype(const char* family, DataType type) {
  fail(ErrorCode::kInternal, "elementwise ", family, " dispatch reached unsupported dtype ",
       to_string(type));
}

template <typename Fn>
void dispatch_float(DataType type, Fn&& fn) {
  switch (type) {
    case DataType::kFloat32:
      return fn(Float32Kind{});
    case DataType::kFloat64:
      return fn(Float64Kind{});
    case DataType::kFloat16:
      return fn(Float16Kind{});
    case DataType::kBFloat16:
      return fn(BFloat16Kind{});
    default:
      unexpected_dtype("float", type);
  }
}

template <typename Fn>
void dispatch_int(DataType type, Fn&& fn) {
  switch (type) {
    case DataType::kInt8:
      return fn(Direct<int8_t>{});
    case DataType::kInt16:
      return fn(Direct<int16_t>{});
    case DataType::kInt32:
      return fn(Direct<int32_t>{});
    case DataType::kInt64:
      return fn(Direct<int64_t>{});
    case DataType::kUInt8:
      return fn(Direct<uint8_t>{});
    case DataType::kUInt16:
      return fn(Direct<uint16_t>{});
    case DataType::kUInt32:
      return fn(Direct<uint32_t>{});
    case DataType::kUInt64:
      return fn(Direct<uint64_t>{});
    default:
      unexpected_dtype("integer", type);
  }
}

template <typename Fn>
void dispatch_numeric(DataType type, Fn&& fn) {
  if (type_in(type, kFloatTypes)) return dispatch_float(type, fn);
  dispatch_int(type, fn);
}

// Numeric types and bool (comparisons, Equal).
template <typename Fn>
void dispatch_numeric_or_bool(DataType type, Fn&& fn) {
  if (type == DataType::kBool) return fn(BoolKind{});
  dispatch_numeric(type, fn);
}

// The four float types and the two float8 types (IsNaN, IsInf).
template <typename Fn>
void dispatch_float_or_float8(DataType type, Fn&& fn) {
  if (type == DataType::kFloat8E4M3) return fn(Float8E4M3Kind{});
  if (type == DataType::kFloat8E5M2) return fn(Float8E5M2Kind{});
  dispatch_float(type, fn);
}

// ---------------------------------------------------------------------------------------------
// Integer arithmetic that wraps (two's complement) instead of overflowing into undefined
// behaviour: computed in uint64_t, where overflow is modular, then truncated.

template <typename T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return T(uint64_t(a) + uint64_t(b));
  } else {
    return a + b;
  }
}

template <typename T>
T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return T(uint64_t(a) - uint64_t(b));
  } else {
    return a - b;
  }
}

template <typename T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return T(uint64_t(a) * uint64_t(b));
  } else {
    return a * b;
  }
}

template <typename T>
T wrapping_neg(T a) {
  if constexpr (std::is_integral_v<T>) {
    return T(uint64_t(0) - uint64_t(a));
  } else {
    return -a;
  }
}

// A float converted to an integer type as Cast does: truncated toward zero; NaN gives 0; the
// result saturates at the int64 range (uint64's for uint64) and then wraps into T as an
// integer cast would (ONNX leaves out-of-range results undefined; this is x86's behaviour for
// the common cases, and never undefined behaviour in C++).
template <typename T>
T float_to_integer(double v) {
  if (std::isnan(v)) return T(0);
  v = std::trunc(v);
  constexpr double kTwo63 = 9223372036854775808.0;
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (v >= 2 * kTwo63) return std::numeric_limits<uint64_t>::max();
    if (v >= kTwo63) return uint64_t(v);
  }
  if (v >= kTwo63) return T(std::numeric_limits<int64_t>::max());
  if (v < -kTwo63) return T(std::numeric_limits<int64_t>::min());
  return T(int64_t(v));
}

// ---------------------------------------------------------------------------------------------
// Broadcast plans

// The output shape reduced to the dims that matter, with each input's strides over them.
template <size_t N>
struct BroadcastPlan {
  Dims shape;  // rank >= 1
  std::array<Dims, N> strides;
};

template <size_t N>
BroadcastPlan<N> plan_broadcast(const Dims& out_shape, const std::array<const Dims*, N>& inputs) {
  std::array<Dims, N> full;
  for (size_t k = 0; k < N; ++k) full[k] = broadcast_strides(*inputs[k], out_shape);
  BroadcastPlan<N> plan;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] == 1) continue;  // index always 0: contributes nothing
    bool merge = !plan.shape.empty();
    // Dim d continues the previous kept dim when every input steps over both as one dim.
    for (size_t k = 0; k < N && merge; ++k) {
      merge = plan.strides[k].back() == full[k][d] * out_shape[d];
    }
    if (merge) {
      plan.shape.back() *= out_shape[d];
      for (size_t k = 0; k < N; ++k) plan.strides[k].back() = full[k][d];
    } else {
      plan.shape.push_back(out_shape[d]);
      for (size_t k = 0; k < N; ++k) plan.strides[k].push_back(full[k][d]);
    }
  }
  if (plan.shape.empty()) {  // one element
    plan.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) plan.strides[k].push_back(0);
  }
  return plan;
}

// Calls row(offsets, out_offset, count, steps) for every innermost row of the plan: `count`
// output elements from `out_offset` on, input k read from offsets[k] in steps of steps[k].
template <size_t N, typename Row>
void for_each_row(const BroadcastPlan<N>& plan, Row&& row) {
  const size_t rank = plan.shape.size();
  const int64_t count = plan.shape[rank - 1];
  if (count == 0) return;
  std::array<int64_t, N> steps;
  std::array<Dims, N> outer_strides;
  for (size_t k = 0; k < N; ++k) {
    steps[k] = plan.strides[k][rank - 1];
    outer_strides[k].assign(plan.strides[k].begin(), plan.strides[k].end() - 1);
  }
  const Dims outer_shape(plan.shape.begin(), plan.shape.end() - 1);
  for_each_broadcast<N>(outer_shape, outer_strides,
                        [&](int64_t flat, const std::array<int64_t, N>& offsets) {
                          row(offsets, flat * count, count, steps);
                        });
}

// ---------------------------------------------------------------------------------------------
// Loops

// out[i] = f(in[i]) over same-shaped tensors.
template <typename In, typename Out, typename F>
void map_unary(const Tensor& in, Tensor& out, F&& f) {
  const auto* src = in.data<StorageOf<In>>();
  auto* dst = out.data<StorageOf<Out>>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] = Out::store(f(In::load(src[i])));
}

// out = f(a, b) with numpy broadcasting of a and b to out's shape. `out` may be `a` itself
// when a has out's shape (each element is read before it is written).
template <typename A, typename B, typename Out, typename F>
void map_binary(const Tensor& a, const Tensor& b, Tensor& out, F&& f) {
  const auto* pa = a.data<StorageOf<A>>();
  const auto* pb = b.data<StorageOf<B>>();
  auto* po = out.data<StorageOf<Out>>();
  if (out.numel() == 0) return;
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    const int64_t n = out.numel();
    for (int64_t i = 0; i < n; ++i) po[i] = Out::store(f(A::load(pa[i]), B::load(pb[i])));
    return;
  }
  const auto plan = plan_broadcast<2>(out.shape(), {&a.shape(), &b.shape()});
  for_each_row(plan, [&](const std::array<int64_t, 2>& offsets, int64_t out_offset, int64_t n,
                         const std::array<int64_t, 2>& steps) {
    const auto* ra = pa + offsets[0];
    const auto* rb = pb + offsets[1];
    auto* ro = po + out_offset;
    if (steps[0] == 1 && steps[1] == 1) {
      for (int64_t i = 0; i < n; ++i) ro[i] = Out::store(f(A::load(ra[i]), B::load(rb[i])));
    } else if (steps[0] == 1 && steps[1] == 0) {
      const auto vb = B::load(*rb);
      for (int64_t i = 0; i < n; ++i) ro[i] = Out::store(f(A::load(ra[i]), vb));
    } else if (steps[0] == 0 && steps[1] == 1) {
      const auto va = A::load(*ra);
      for (int64_t i = 0; i < n; ++i) ro[i] = Out::store(f(va, B::load(rb[i])));
    } else {
      for (int64_t i = 0; i < n; ++i) {
        ro[i] = Out::store(f(A::load(ra[i * steps[0]]), B::load(rb[i * steps[1]])));
      }
    }
  });
}

// out = f(a, b, c) with numpy broadcasting of all three to out's shape.
template <typename A, typename B, typename C, typename Out, typename F>
void map_ternary(const Tensor& a, const Tensor& b, const Tensor& c, Tensor& out, F&& f) {
  const auto* pa = a.data<StorageOf<A>>();
  const auto* pb = b.data<StorageOf<B>>();
  const auto* pc = c.data<StorageOf<C>>();
  auto* po = out.data<StorageOf<Out>>();
  if (out.numel() == 0) return;
  const auto plan = plan_broadcast<3>(out.shape(), {&a.shape(), &b.shape(), &c.shape()});
  for_each_row(plan, [&](const std::array<int64_t, 3>& offsets, int64_t out_offset, int64_t n,
                         const std::array<int64_t, 3>& steps) {
    const auto* ra = pa + offsets[0];
    const auto* rb = pb + offsets[1];
    const auto* rc = pc + offsets[2];
    auto* ro = po + out_offset;
    if (steps[0] == 1 && steps[1] == 1 && steps[2] == 1) {
      for (int64_t i = 0; i < n; ++i) {
        ro[i] = Out::store(f(A::load(ra[i]), B::load(rb[i]), C::load(rc[i])));
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        ro[i] = Out::store(
            f(A::load(ra[i * steps[0]]), B::load(rb[i * steps[1]]), C::load(rc[i * steps[2]])));
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Unary ops whose output has the input's type and shape

inline void infer_same_as_input(InferContext& ctx, TypeSet allowed) {
  check_input_type(ctx, 0, allowed);
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
}

// out = f(in), f a generic lambda on compute values, instantiated for the float types and,
// when kAllowed has integer types, for every integer type.
template <TypeSet kAllowed, typename F>
void compute_unary(ComputeContext& ctx, F&& f) {
  auto run = [&](auto kind) {
    using K = decltype(kind);
    map_unary<K, K>(ctx.input(0), ctx.output(0), f);
  };
  if constexpr ((kAllowed & kIntTypes) != 0) {
    dispatch_numeric(ctx.input(0).dtype(), run);
  } else {
    dispatch_float(ctx.input(0).dtype(), run);
  }
}

// An attribute-free unary op.
template <TypeSet kAllowed, typename F>
OpDef unary_op(std::string name, F f) {
  return OpDef{
      .name = std::move(name),
      .min_inputs = 1,
      .max_inputs = 1,
      .infer = [](InferContext& ctx) { infer_same_as_input(ctx, kAllowed); },
      .compute = [f](ComputeContext& ctx) { compute_unary<kAllowed>(ctx, f); },
  };
}

}  // namespace kiln::ops::elementwise
