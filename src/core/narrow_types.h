// Conversions for the narrow types beyond half.h: int4, uint4, int2, uint2, float4 e2m1,
// float8 e4m3fnuz / e5m2fnuz and float8 e8m0. Each is held one element per byte (kiln/types.h);
// these functions map that byte to and from wider values with ONNX's Cast rules, and pack /
// unpack ONNX's sub-byte encoding.
//
// Float rounding is round-to-nearest-even on the exact value (a double holds every float32 /
// float16 / bfloat16 / int32 value exactly), so a value is rounded once. The rules per type:
//
//   type             NaN    +-Inf (saturate / not)   beyond max (saturate / not)   -0
//   float8e4m3fnuz   0x80   +-240 / 0x80              +-240 / 0x80                 0x00
//   float8e5m2fnuz   0x80   +-57344 / 0x80            +-57344 / 0x80               0x00
//   float4e2m1       0x8    +-6                       +-6                          0x8
//
// "Beyond max" means beyond after rounding: 248 rounds (to even) to 256 in e4m3fnuz, past 240,
// so it is NaN without saturation. float4e2m1 has no NaN and no infinity: it always saturates,
// and NaN becomes 0x8 (-0), as the ONNX reference (ml_dtypes) does. The FNUZ types have no
// negative zero: -0 and negative values that round to zero give 0x00.
//
// Integers to int4/uint4/int2/uint2 keep the low bits (two's complement), as ONNX's Cast does
// for every integer narrowing (and ml_dtypes, which makes the reference outputs); floats are
// first truncated toward zero (float_to_integer).
//
// float8e8m0 follows the ONNX reference (onnx.numpy_helper.to_float8e8m0) on float32 bits: the
// code is the float32 biased exponent (0 for zero and float32 subnormals; the sign is ignored,
// negative inputs being undefined), and the fraction decides the rounding by `round_mode`:
// up: any nonzero fraction adds one; down: truncates; nearest: adds one when the fraction is
// >= 1/2 (for exponent 0, > 1/2). With saturate, rounding never goes past 0xfe (2^127) and an
// infinity gives 0xfe (the spec's table); without, it gives 0xff (NaN). NaN gives 0xff.
//
// The conversions of single elements are host and device functions: the CUDA backend's Cast
// (src/backends/cuda/cast.cu) calls the same code, so both backends agree bit for bit.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kiln/types.h"

#if defined(__CUDACC__)
#define KILN_HOST_DEVICE __host__ __device__
#else
#define KILN_HOST_DEVICE
#endif

namespace kiln {

// Math for the conversions below that compiles for the host and the device alike.
namespace narrow_math {
KILN_HOST_DEVICE inline bool is_nan(double v) { return v != v; }
KILN_HOST_DEVICE inline bool is_inf(double v) {
  return v == std::numeric_limits<double>::infinity() ||
         v == -std::numeric_limits<double>::infinity();
}
#ifdef __CUDA_ARCH__
__device__ inline bool sign_bit(double v) { return copysign(1.0, v) < 0.0; }
__device__ inline int ilogb_of(double v) { return ilogb(v); }
__device__ inline double ldexp_of(double v, int e) { return ldexp(v, e); }
__device__ inline float ldexpf_of(float v, int e) { return ldexpf(v, e); }
__device__ inline double nearest_even(double v) { return rint(v); }
__device__ inline double abs_of(double v) { return fabs(v); }
__device__ inline uint32_t bits_of(float f) { return __float_as_uint(f); }
__device__ inline float float_of(uint32_t bits) { return __uint_as_float(bits); }
#else
inline bool sign_bit(double v) { return std::signbit(v); }
inline int ilogb_of(double v) { return std::ilogb(v); }
inline double ldexp_of(double v, int e) { return std::ldexp(v, e); }
inline float ldexpf_of(float v, int e) { return std::ldexp(v, e); }
inline double nearest_even(double v) { return std::nearbyint(v); }  // the default rounding mode
inline double abs_of(double v) { return std::fabs(v); }
inline uint32_t bits_of(float f) { return std::bit_cast<uint32_t>(f); }
inline float float_of(uint32_t bits) { return std::bit_cast<float>(bits); }
#endif
KILN_HOST_DEVICE inline float quiet_nan() { return std::numeric_limits<float>::quiet_NaN(); }
}  // namespace narrow_math

// ---------------------------------------------------------------------------------------------
// Sub-byte integers. A byte holds the value's low bits (two's complement), the high bits zero.

KILN_HOST_DEVICE inline uint8_t int4_code(int64_t v) { return uint8_t(uint64_t(v) & 0xf); }
KILN_HOST_DEVICE inline uint8_t uint4_code(int64_t v) { return uint8_t(uint64_t(v) & 0xf); }
KILN_HOST_DEVICE inline uint8_t int2_code(int64_t v) { return uint8_t(uint64_t(v) & 0x3); }
KILN_HOST_DEVICE inline uint8_t uint2_code(int64_t v) { return uint8_t(uint64_t(v) & 0x3); }
// The values of the codes (bits above the type's width are ignored).
KILN_HOST_DEVICE inline int int4_value(uint8_t code) { return int8_t(uint8_t(code << 4)) >> 4; }
KILN_HOST_DEVICE inline int uint4_value(uint8_t code) { return code & 0xf; }
KILN_HOST_DEVICE inline int int2_value(uint8_t code) { return int8_t(uint8_t(code << 6)) >> 6; }
KILN_HOST_DEVICE inline int uint2_value(uint8_t code) { return code & 0x3; }

// ---------------------------------------------------------------------------------------------
// Small binary float formats with subnormals (exponent field 0 means 2^(1 - bias) * 0.mantissa).

namespace minifloat {

// |a| (finite, >= 0) rounded to nearest even with `mantissa_bits` fraction bits.
KILN_HOST_DEVICE inline double round_magnitude(double a, int mantissa_bits, int bias) {
  if (a == 0) return 0;
  const int min_exponent = 1 - bias;
  const int exponent = std::max(narrow_math::ilogb_of(a), min_exponent);
  const double quantum = narrow_math::ldexp_of(1.0, exponent - mantissa_bits);
  return narrow_math::nearest_even(a / quantum) * quantum;  // exact: quantum is a power of two
}

// The exponent and mantissa fields of an exactly representable magnitude.
KILN_HOST_DEVICE inline uint8_t encode_magnitude(double r, int mantissa_bits, int bias) {
  if (r == 0) return 0;
  const int min_exponent = 1 - bias;
  const int exponent = narrow_math::ilogb_of(r);
  if (exponent < min_exponent) {
    return uint8_t(r / narrow_math::ldexp_of(1.0, min_exponent - mantissa_bits));
  }
  const uint32_t mantissa =
      uint32_t(r / narrow_math::ldexp_of(1.0, exponent - mantissa_bits)) - (1u << mantissa_bits);
  return uint8_t(uint32_t(exponent + bias) << mantissa_bits | mantissa);
}

KILN_HOST_DEVICE inline float decode_magnitude(uint32_t bits, int mantissa_bits, int bias) {
  const uint32_t exponent = bits >> mantissa_bits;
  const uint32_t mantissa = bits & ((1u << mantissa_bits) - 1);
  if (exponent == 0) return narrow_math::ldexpf_of(float(mantissa), 1 - bias - mantissa_bits);
  return narrow_math::ldexpf_of(float(mantissa + (1u << mantissa_bits)),
                                int(exponent) - bias - mantissa_bits);
}

// float8 "FNUZ": 1 sign bit, no infinities, no negative zero, 0x80 the only NaN.
template <int kMantissaBits, int kBias>
KILN_HOST_DEVICE uint8_t encode_fnuz(double v, bool saturate) {
  constexpr uint8_t kNaN = 0x80, kMaxCode = 0x7f;
  if (narrow_math::is_nan(v)) return kNaN;
  const uint8_t sign = narrow_math::sign_bit(v) ? 0x80 : 0;
  const double max = decode_magnitude(kMaxCode, kMantissaBits, kBias);
  const double a = narrow_math::abs_of(v);
  const double rounded = narrow_math::is_inf(a) ? a : round_magnitude(a, kMantissaBits, kBias);
  if (rounded > max) return saturate ? uint8_t(sign | kMaxCode) : kNaN;
  const uint8_t magnitude = encode_magnitude(rounded, kMantissaBits, kBias);
  return magnitude == 0 ? 0 : uint8_t(sign | magnitude);
}

template <int kMantissaBits, int kBias>
KILN_HOST_DEVICE float decode_fnuz(uint8_t code) {
  if (code == 0x80) return narrow_math::quiet_nan();
  const float magnitude = decode_magnitude(code & 0x7f, kMantissaBits, kBias);
  return code & 0x80 ? -magnitude : magnitude;
}

}  // namespace minifloat

KILN_HOST_DEVICE inline uint8_t float_to_fp8e4m3fnuz(double v, bool saturate = true) {
  return minifloat::encode_fnuz<3, 8>(v, saturate);
}
KILN_HOST_DEVICE inline float fp8e4m3fnuz_to_float(uint8_t code) {
  return minifloat::decode_fnuz<3, 8>(code);
}

KILN_HOST_DEVICE inline uint8_t float_to_fp8e5m2fnuz(double v, bool saturate = true) {
  return minifloat::encode_fnuz<2, 16>(v, saturate);
}
KILN_HOST_DEVICE inline float fp8e5m2fnuz_to_float(uint8_t code) {
  return minifloat::decode_fnuz<2, 16>(code);
}

// float4 e2m1: magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6; the code is 4 bits (sign in bit 3).
KILN_HOST_DEVICE inline uint8_t float_to_fp4e2m1(double v) {
  constexpr uint8_t kMaxCode = 0x7;
  if (narrow_math::is_nan(v)) return 0x8;
  const uint8_t sign = narrow_math::sign_bit(v) ? 0x8 : 0;
  const double a = narrow_math::abs_of(v);
  const double rounded = narrow_math::is_inf(a) ? a : minifloat::round_magnitude(a, 1, 1);
  if (rounded > 6.0) return uint8_t(sign | kMaxCode);
  return uint8_t(sign | minifloat::encode_magnitude(rounded, 1, 1));
}
KILN_HOST_DEVICE inline float fp4e2m1_to_float(uint8_t code) {
  const float magnitude = minifloat::decode_magnitude(code & 0x7, 1, 1);
  return code & 0x8 ? -magnitude : magnitude;
}

// ---------------------------------------------------------------------------------------------
// float8 e8m0

enum class E8M0Rounding { kUp, kDown, kNearest };

KILN_HOST_DEVICE inline uint8_t float_to_fp8e8m0(float f, bool saturate = true,
                                                 E8M0Rounding rounding = E8M0Rounding::kUp) {
  const uint32_t bits = narrow_math::bits_of(f);
  uint32_t exponent = (bits >> 23) & 0xff;
  const uint32_t fraction = bits & 0x7fffff;
  if (exponent == 0xff) {
    if (fraction != 0 || !saturate) return 0xff;  // NaN, or an infinity without saturation
    return 0xfe;
  }
  bool round_up = false;
  switch (rounding) {
    case E8M0Rounding::kUp:
      round_up = fraction != 0;
      break;
    case E8M0Rounding::kDown:
      break;
    case E8M0Rounding::kNearest: {
      const bool guard = bits & 0x400000, round = bits & 0x200000, sticky = bits & 0x1fffff;
      round_up = guard && (round || sticky || exponent > 0);
      break;
    }
  }
  if (round_up && !(saturate && exponent == 0xfe)) ++exponent;  // 0xfe + 1 is NaN
  return uint8_t(exponent);
}

KILN_HOST_DEVICE inline float fp8e8m0_to_float(uint8_t code) {
  if (code == 0xff) return narrow_math::quiet_nan();
  // 2^(code - 127): code 0 is 2^-127, a float32 subnormal.
  return narrow_math::float_of(code == 0 ? uint32_t(0x00400000) : uint32_t(code) << 23);
}

// ---------------------------------------------------------------------------------------------
// ONNX's packing of the sub-byte types: element i sits in byte i * bits / 8, at bit
// (i * bits) % 8 (the first element in the least significant bits).

// Bytes that `count` packed elements of `bits` bits take.
inline size_t packed_size(int64_t count, int bits) { return size_t((count * bits + 7) / 8); }

// Unpacks `count` elements into one byte each (the code in the low bits).
inline void unpack_sub_byte(DataType type, const uint8_t* packed, int64_t count, uint8_t* out) {
  const int bits = packed_bits(type);
  const uint32_t mask = (1u << bits) - 1;
  const int per_byte = 8 / bits;
  for (int64_t i = 0; i < count; ++i) {
    out[i] = uint8_t((packed[i / per_byte] >> ((i % per_byte) * bits)) & mask);
  }
}

// Packs `count` one-per-byte elements (the inverse of unpack_sub_byte; padding bits are 0).
inline void pack_sub_byte(DataType type, const uint8_t* unpacked, int64_t count, uint8_t* out) {
  const int bits = packed_bits(type);
  const uint32_t mask = (1u << bits) - 1;
  const int per_byte = 8 / bits;
  for (size_t b = 0; b < packed_size(count, bits); ++b) out[b] = 0;
  for (int64_t i = 0; i < count; ++i) {
    out[i / per_byte] |= uint8_t((unpacked[i] & mask) << ((i % per_byte) * bits));
  }
}

}  // namespace kiln
