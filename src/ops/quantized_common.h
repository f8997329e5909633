// Helpers shared by the integer and quantized matmul / convolution ops (MatMulInteger,
// QLinearMatMul, ConvInteger, QLinearConv).
#pragma once

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "ops/common.h"

namespace kiln::ops::quantized {

// Whether `from` broadcasts to `to` (numpy rules, in one direction: `to` is unchanged).
inline bool broadcasts_to(const Dims& from, const Dims& to) {
  if (from.size() > to.size()) return false;
  const size_t offset = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[offset + i]) return false;
  }
  return true;
}

inline bool is_int8_type(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// float32 `v` rounded to `t` (float16 or bfloat16; any other type leaves it as is).
inline float round_to(DataType t, float v) {
  switch (t) {
    case DataType::kFloat16:
      return fp16_to_float(float_to_fp16(v));
    case DataType::kBFloat16:
      return bf16_to_float(float_to_bf16(v));
    default:
      return v;
  }
}

// The requantization multiplier in_scale * weight_scale / out_scale, computed in the scales'
// type as numpy computes it on arrays of that type (float16/bfloat16 round after each step).
inline double requantize_multiplier(DataType scale_type, float in_scale, float weight_scale,
                                    float out_scale) {
  const float product = round_to(scale_type, in_scale * weight_scale);
  return double(round_to(scale_type, product / out_scale));
}

// Stores `value` (the requantized result, zero point already added) into y[i]: int8/uint8
// round half to even and saturate (NaN gives 0), float8 rounds with saturation.
inline void store_quantized(Tensor& y, int64_t i, double value) {
  switch (y.dtype()) {
    case DataType::kInt8:
    case DataType::kUInt8: {
      const double lo = y.dtype() == DataType::kInt8 ? -128.0 : 0.0;
      const double hi = y.dtype() == DataType::kInt8 ? 127.0 : 255.0;
      const double q = std::isnan(value) ? 0.0 : std::clamp(std::nearbyint(value), lo, hi);
      if (y.dtype() == DataType::kInt8)
        y.data<int8_t>()[i] = int8_t(q);
      else
        y.data<uint8_t>()[i] = uint8_t(q);
      break;
    }
    case DataType::kFloat8E4M3:
      y.data<uint8_t>()[i] = float_to_fp8e4m3(float(value));
      break;
    case DataType::kFloat8E5M2:
      y.data<uint8_t>()[i] = float_to_fp8e5m2(float(value));
      break;
    default:
      fail(ErrorCode::kInternal, "store_quantized: unexpected ", to_string(y.dtype()));
  }
}

}  // namespace kiln::ops::quantized
