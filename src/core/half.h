// Conversions between float32 and the 16- and 8-bit float storage types, bit-exact with
// round-to-nearest-even (the rounding numpy, onnxruntime and CUDA use).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace kiln {

inline float fp16_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t float_to_fp16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000u) {  // inf or nan
    return sign | (absx > 0x7f800000u ? 0x7e00 : 0x7c00);
  }
  if (absx >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: overflow to inf
  if (absx < 0x38800000u) {                       // below the smallest normal half: subnormal
    // value * 2^24 rounded to nearest even is the subnormal mantissa
    float scaled = std::bit_cast<float>(absx) * 16777216.0f;
    return sign | uint16_t(std::nearbyint(scaled));
  }
  uint32_t mant_odd = (absx >> 13) & 1;
  absx += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
  return sign | uint16_t(absx >> 13);
}

inline float bf16_to_float(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

inline uint16_t float_to_bf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffff) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // quiet nan
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

// float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN, max 448.
inline float fp8e4m3_to_float(uint8_t v) {
  uint32_t sign = v & 0x80;
  uint32_t exp = (v >> 3) & 0xf;
  uint32_t mant = v & 0x7;
  if (exp == 0xf && mant == 0x7) return std::nanf("");
  float mag = exp == 0 ? std::ldexp(float(mant), -9) : std::ldexp(float(8 + mant), int(exp) - 10);
  return sign ? -mag : mag;
}

// float8 e5m2: bias 15, IEEE-like with infinities and NaNs.
inline float fp8e5m2_to_float(uint8_t v) { return fp16_to_float(uint16_t(v) << 8); }

// Rounds to nearest even. Beyond the range (|x| > 448) it saturates to +-448 when `saturate`
// (ONNX's default) and gives NaN otherwise, as e4m3fn has no infinity.
inline uint8_t float_to_fp8e4m3(float f, bool saturate = true) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a > 448.0f) {
    if (saturate) return sign | 0x7e;
    if (a >= 464.0f) return sign | 0x7f;  // rounds past 448: no such value
    return sign | 0x7e;
  }
  // nearest of the 127 finite magnitudes, ties to the even code (simple and exact)
  uint8_t best = 0;
  float best_err = INFINITY;
  for (uint8_t code = 0; code < 0x7f; ++code) {
    float err = std::fabs(fp8e4m3_to_float(code) - a);
    if (err < best_err || (err == best_err && (code & 1) == 0)) {
      best = code;
      best_err = err;
    }
  }
  return sign | best;
}

inline uint8_t float_to_fp8e5m2(float f, bool saturate = true) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (std::isinf(f)) return saturate ? (sign | 0x7b) : (sign | 0x7c);
  if (a >= 61440.0f) return saturate ? (sign | 0x7b) : (sign | 0x7c);
  uint16_t h = float_to_fp16(a);
  uint16_t lower = h & 0xff, keep = h >> 8;
  if (lower > 0x80 || (lower == 0x80 && (keep & 1))) ++keep;
  return sign | uint8_t(keep);
}

}  // namespace kiln
