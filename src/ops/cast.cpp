// Cast (attribute `to`: a kiln::DataType value; the ONNX importer translates TensorProto type
// numbers) and CastLike (the type of input 1). Attribute `saturate` (default 1) applies to the
// float8 targets only, as in ONNX: out-of-range values clamp to the largest finite value, or
// become NaN (e4m3, e4m3fnuz, e5m2fnuz, e8m0) / infinity (e5m2) when it is 0. Attribute
// `round_mode` ("up" by default, "down", "nearest") applies to float8e8m0 targets only. The
// rules for the narrow types (int4, uint4, int2, uint2, float4e2m1, the FNUZ float8s, e8m0)
// are in core/narrow_types.h: integers keep their low bits, floats round to nearest even, FNUZ
// has one NaN (0x80) and no -0, float4e2m1 saturates always.
//
// Rules, per ONNX: float to integer truncates toward zero (NaN gives 0; out-of-range values,
// which ONNX leaves undefined, go through int64 and wrap, see float_to_integer); integer to
// integer keeps the low bits (two's complement); anything to bool is "not zero" (NaN is true);
// bool is 0 or 1.
//
// Every conversion goes through one of three wide types: int64 (bool and integers that fit),
// uint64 (uint64), or double (the float types, all exact in double). Elements are converted in
// chunks, source -> wide -> target, so each source and each target type has one typed loop
// instead of one per pair. Integer sources never pass through double, so int64 values beyond
// 2^53 keep every bit when cast to another integer type. A float64 going to float16 or float8
// is rounded to float32 first; this double rounding can differ from a direct rounding in the
// last bit for values within 2^-29 of a tie. The FNUZ and float4 targets round the double
// directly (one rounding); float8e8m0 reads float32 bits, as the ONNX reference does.
#include <algorithm>
#include <cstring>

#include "core/narrow_types.h"
#include "ops/cast_options.h"
#include "ops/elementwise_common.h"

namespace kiln::ops {

E8M0Rounding e8m0_rounding_of(const ir::Node& node) {
  const std::string mode = node.attr_string("round_mode", "up");
  if (mode == "up") return E8M0Rounding::kUp;
  if (mode == "down") return E8M0Rounding::kDown;
  if (mode == "nearest") return E8M0Rounding::kNearest;
  fail(ErrorCode::kInvalidModel, node.describe(), ": round_mode '", mode,
       "' is not one of up, down, nearest");
}

namespace {

using namespace elementwise;

constexpr int64_t kChunk = 256;

// Element kinds of the narrow storage types, for reading them (core/narrow_types.h).
template <typename Value, Value (*kDecode)(uint8_t)>
struct NarrowKind {
  using Storage = uint8_t;
  using Compute = Value;
  static Value load(uint8_t v) { return kDecode(v); }
};
template <float (*kDecode)(uint8_t)>
using NarrowFloatKind = NarrowKind<float, kDecode>;
template <int (*kDecode)(uint8_t)>
using NarrowIntKind = NarrowKind<int, kDecode>;

// How a cast writes its target: the float8 `saturate` and the e8m0 `round_mode` attributes.
struct CastOptions {
  bool saturate = true;
  E8M0Rounding e8m0_rounding = E8M0Rounding::kUp;
};

// ---------------------------------------------------------------------------------------------
// source -> wide

template <typename Kind, typename Wide>
void load_chunk(const Tensor& in, int64_t begin, int64_t count, Wide* wide) {
  const auto* src = in.data<StorageOf<Kind>>() + begin;
  // int8 storage holds numbers, not characters.
  for (int64_t i = 0; i < count; ++i)
    wide[i] = Wide(Kind::load(src[i]));  // NOLINT(bugprone-signed-char-misuse)
}

// Calls fn(Kind{}, Wide{}): the element kind of `type` and the wide type it converts through.
template <typename Fn>
void with_wide_type(DataType type, Fn&& fn) {
  switch (type) {
    case DataType::kFloat32:
      return fn(Float32Kind{}, double{});
    case DataType::kFloat64:
      return fn(Float64Kind{}, double{});
    case DataType::kFloat16:
      return fn(Float16Kind{}, double{});
    case DataType::kBFloat16:
      return fn(BFloat16Kind{}, double{});
    case DataType::kFloat8E4M3:
      return fn(Float8E4M3Kind{}, double{});
    case DataType::kFloat8E5M2:
      return fn(Float8E5M2Kind{}, double{});
    case DataType::kBool:
      return fn(BoolKind{}, int64_t{});
    case DataType::kInt8:
      return fn(Direct<int8_t>{}, int64_t{});
    case DataType::kInt16:
      return fn(Direct<int16_t>{}, int64_t{});
    case DataType::kInt32:
      return fn(Direct<int32_t>{}, int64_t{});
    case DataType::kInt64:
      return fn(Direct<int64_t>{}, int64_t{});
    case DataType::kUInt8:
      return fn(Direct<uint8_t>{}, int64_t{});
    case DataType::kUInt16:
      return fn(Direct<uint16_t>{}, int64_t{});
    case DataType::kUInt32:
      return fn(Direct<uint32_t>{}, int64_t{});
    case DataType::kUInt64:
      return fn(Direct<uint64_t>{}, uint64_t{});
    case DataType::kInt4:
      return fn(NarrowIntKind<int4_value>{}, int64_t{});
    case DataType::kUInt4:
      return fn(NarrowIntKind<uint4_value>{}, int64_t{});
    case DataType::kInt2:
      return fn(NarrowIntKind<int2_value>{}, int64_t{});
    case DataType::kUInt2:
      return fn(NarrowIntKind<uint2_value>{}, int64_t{});
    case DataType::kFloat4E2M1:
      return fn(NarrowFloatKind<fp4e2m1_to_float>{}, double{});
    case DataType::kFloat8E4M3FNUZ:
      return fn(NarrowFloatKind<fp8e4m3fnuz_to_float>{}, double{});
    case DataType::kFloat8E5M2FNUZ:
      return fn(NarrowFloatKind<fp8e5m2fnuz_to_float>{}, double{});
    case DataType::kFloat8E8M0:
      return fn(NarrowFloatKind<fp8e8m0_to_float>{}, double{});
  }
  unexpected_dtype("cast source", type);
}

// ---------------------------------------------------------------------------------------------
// wide -> target

template <typename T, typename Wide>
T to_integer(Wide v) {
  if constexpr (std::is_floating_point_v<Wide>) {
    return float_to_integer<T>(v);
  } else {
    return T(v);  // modular since C++20: keeps the low bits
  }
}

template <typename Storage, typename Wide, typename Convert>
void store_with(Tensor& out, int64_t begin, int64_t count, const Wide* wide, Convert convert) {
  Storage* dst = out.data<Storage>() + begin;
  for (int64_t i = 0; i < count; ++i) dst[i] = convert(wide[i]);
}

template <typename Wide>
void store_chunk(Tensor& out, int64_t begin, int64_t count, const Wide* wide,
                 const CastOptions& options) {
  const bool saturate = options.saturate;
  switch (out.dtype()) {
    case DataType::kFloat32:
      return store_with<float>(out, begin, count, wide, [](Wide v) { return float(v); });
    case DataType::kFloat64:
      return store_with<double>(out, begin, count, wide, [](Wide v) { return double(v); });
    case DataType::kFloat16:
      return store_with<uint16_t>(out, begin, count, wide,
                                  [](Wide v) { return float_to_fp16(float(v)); });
    case DataType::kBFloat16:
      return store_with<uint16_t>(out, begin, count, wide,
                                  [](Wide v) { return float_to_bf16(float(v)); });
    case DataType::kFloat8E4M3:
      return store_with<uint8_t>(out, begin, count, wide, [saturate](Wide v) {
        return float_to_fp8e4m3(float(v), saturate);
      });
    case DataType::kFloat8E5M2:
      return store_with<uint8_t>(out, begin, count, wide, [saturate](Wide v) {
        return float_to_fp8e5m2(float(v), saturate);
      });
    case DataType::kBool:
      return store_with<uint8_t>(out, begin, count, wide,
                                 [](Wide v) { return uint8_t(v != Wide(0)); });
    case DataType::kInt8:
      return store_with<int8_t>(out, begin, count, wide, to_integer<int8_t, Wide>);
    case DataType::kInt16:
      return store_with<int16_t>(out, begin, count, wide, to_integer<int16_t, Wide>);
    case DataType::kInt32:
      return store_with<int32_t>(out, begin, count, wide, to_integer<int32_t, Wide>);
    case DataType::kInt64:
      return store_with<int64_t>(out, begin, count, wide, to_integer<int64_t, Wide>);
    case DataType::kUInt8:
      return store_with<uint8_t>(out, begin, count, wide, to_integer<uint8_t, Wide>);
    case DataType::kUInt16:
      return store_with<uint16_t>(out, begin, count, wide, to_integer<uint16_t, Wide>);
    case DataType::kUInt32:
      return store_with<uint32_t>(out, begin, count, wide, to_integer<uint32_t, Wide>);
    case DataType::kUInt64:
      return store_with<uint64_t>(out, begin, count, wide, to_integer<uint64_t, Wide>);
    case DataType::kInt4:
    case DataType::kUInt4:  // the same low bits
      return store_with<uint8_t>(out, begin, count, wide,
                                 [](Wide v) { return int4_code(to_integer<int64_t, Wide>(v)); });
    case DataType::kInt2:
    case DataType::kUInt2:
      return store_with<uint8_t>(out, begin, count, wide,
                                 [](Wide v) { return int2_code(to_integer<int64_t, Wide>(v)); });
    case DataType::kFloat4E2M1:
      return store_with<uint8_t>(out, begin, count, wide,
                                 [](Wide v) { return float_to_fp4e2m1(double(v)); });
    case DataType::kFloat8E4M3FNUZ:
      return store_with<uint8_t>(out, begin, count, wide, [saturate](Wide v) {
        return float_to_fp8e4m3fnuz(double(v), saturate);
      });
    case DataType::kFloat8E5M2FNUZ:
      return store_with<uint8_t>(out, begin, count, wide, [saturate](Wide v) {
        return float_to_fp8e5m2fnuz(double(v), saturate);
      });
    case DataType::kFloat8E8M0:
      return store_with<uint8_t>(out, begin, count, wide, [&options](Wide v) {
        return float_to_fp8e8m0(float(v), options.saturate, options.e8m0_rounding);
      });
  }
  unexpected_dtype("cast target", out.dtype());
}

void cast_into(const Tensor& in, Tensor& out, const CastOptions& options) {
  const int64_t n = in.numel();
  if (in.dtype() == out.dtype()) {
    if (n > 0 && in.raw() != out.raw()) std::memcpy(out.raw(), in.raw(), in.nbytes());
    return;
  }
  // float32 <-> float16/bfloat16 (mixed-precision engines cast at every precision boundary):
  // one direct loop, the same result as through double.
  const auto identity = [](float v) { return v; };
  if (in.dtype() == DataType::kFloat32) {
    if (out.dtype() == DataType::kFloat16)
      return map_unary<Float32Kind, Float16Kind>(in, out, identity);
    if (out.dtype() == DataType::kBFloat16)
      return map_unary<Float32Kind, BFloat16Kind>(in, out, identity);
  }
  if (out.dtype() == DataType::kFloat32) {
    if (in.dtype() == DataType::kFloat16)
      return map_unary<Float16Kind, Float32Kind>(in, out, identity);
    if (in.dtype() == DataType::kBFloat16)
      return map_unary<BFloat16Kind, Float32Kind>(in, out, identity);
  }
  with_wide_type(in.dtype(), [&](auto kind, auto wide_tag) {
    using K = decltype(kind);
    using Wide = decltype(wide_tag);
    Wide wide[kChunk];
    for (int64_t begin = 0; begin < n; begin += kChunk) {
      const int64_t count = std::min(kChunk, n - begin);
      load_chunk<K>(in, begin, count, wide);
      store_chunk(out, begin, count, wide, options);
    }
  });
}

CastOptions read_options(const ir::Node& node) {
  CastOptions options;
  options.saturate = node.attr_int("saturate", 1) != 0;
  options.e8m0_rounding = e8m0_rounding_of(node);
  return options;
}

void infer_cast(InferContext& ctx) {
  check_input_type(ctx, 0, kAllTypes);
  const int64_t to = ctx.node().attr_int("to");
  ctx.check(is_valid_data_type(to), "attribute to = ", to, " is not a kiln data type");
  read_options(ctx.node());  // rejects a bad round_mode when the network is built
  ctx.set_output(0, DataType(to), ctx.input_shape(0));
}

void infer_cast_like(InferContext& ctx) {
  check_input_type(ctx, 0, kAllTypes);
  read_options(ctx.node());
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_shape(0));
}

void compute_cast(ComputeContext& ctx) {
  cast_into(ctx.input(0), ctx.output(0), read_options(ctx.node()));
}

KILN_REGISTER_OP(OpDef{
    .name = "Cast",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_cast,
    .compute = compute_cast,
});

KILN_REGISTER_OP(OpDef{
    .name = "CastLike",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_cast_like,
    .compute = compute_cast,
});

}  // namespace
}  // namespace kiln::ops
