#include "values.h"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "core/checked_size.h"
#include "core/narrow_types.h"
#include "kiln/error.h"

namespace kiln::cli {

size_t tensor_element_count(const std::string& what, DataType type, const Dims& dims) {
  check_tensor_size(type, dims, what);
  return size_t(checked_numel(dims, what));
}

size_t tensor_buffer_bytes(const std::string& what, DataType type, const Dims& dims) {
  return checked_bytes(type, int64_t(tensor_element_count(what, type, dims)), what);
}

namespace {

template <typename T>
T load(const void* data, size_t index) {
  T value;
  std::memcpy(&value, static_cast<const uint8_t*>(data) + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void store(void* data, size_t index, T value) {
  std::memcpy(static_cast<uint8_t*>(data) + index * sizeof(T), &value, sizeof(T));
}

// SplitMix64: a small, well-mixed generator whose sequence is the same on every platform
// (unlike std::uniform_*_distribution), so a seed names the same inputs everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double unit() { return double(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

}  // namespace

float half_to_float(uint16_t bits) {
  const uint32_t sign = uint32_t(bits & 0x8000) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  const uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    float magnitude = std::ldexp(float(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t float_to_half(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // inf stays inf; NaN stays a (quiet) NaN
    return uint16_t(sign | 0x7c00 | (magnitude > 0x7f800000u ? 0x200 : 0));
  }
  if (magnitude >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // >= 65520 rounds to inf
  if (magnitude < 0x38800000u) {
    // Below half's smallest normal (2^-14): a multiple of 2^-24. Scaling by 2^24 is exact, and
    // nearbyint rounds to nearest even; 1024 becomes the smallest normal, as it should.
    float scaled = std::bit_cast<float>(magnitude) * 16777216.0f;
    return uint16_t(sign | uint16_t(std::nearbyint(scaled)));
  }
  // Normal: rebias the exponent (127 -> 15) and round 23 mantissa bits to 10, to nearest even.
  uint32_t rebiased = magnitude - ((127u - 15u) << 23);
  rebiased += 0xfffu + ((rebiased >> 13) & 1u);
  return uint16_t(sign | (rebiased >> 13));
}

float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

uint16_t float_to_bfloat16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return uint16_t((bits >> 16) | 0x40);  // keep it a NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

float float8_to_float(uint8_t bits, DataType type) {
  const bool negative = bits & 0x80;
  float magnitude;
  if (type == DataType::kFloat8E4M3) {  // e4m3fn: bias 7, no infinities, 0x7f is NaN
    const int exponent = (bits >> 3) & 0xf;
    const int mantissa = bits & 0x7;
    if (exponent == 15 && mantissa == 7) return std::numeric_limits<float>::quiet_NaN();
    magnitude = exponent == 0 ? std::ldexp(float(mantissa), -9)
                              : std::ldexp(1.0f + float(mantissa) / 8.0f, exponent - 7);
  } else {  // e5m2: bias 15, IEEE-like infinities and NaNs
    const int exponent = (bits >> 2) & 0x1f;
    const int mantissa = bits & 0x3;
    if (exponent == 31) {
      if (mantissa != 0) return std::numeric_limits<float>::quiet_NaN();
      magnitude = std::numeric_limits<float>::infinity();
    } else {
      magnitude = exponent == 0 ? std::ldexp(float(mantissa), -16)
                                : std::ldexp(1.0f + float(mantissa) / 4.0f, exponent - 15);
    }
  }
  return negative ? -magnitude : magnitude;
}

uint8_t float_to_float8(float value, DataType type) {
  const bool e4m3 = type == DataType::kFloat8E4M3;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0;
  if (std::isnan(value)) return uint8_t(sign | 0x7f);
  const float magnitude = std::fabs(value);
  if (std::isinf(value) && !e4m3) return uint8_t(sign | 0x7c);
  // Search the 127 finite non-negative codes for the nearest value; on a tie the even code
  // (mantissa's last bit 0) wins, which is round-to-nearest-even. Beyond the largest finite
  // value, saturate to it (ONNX Cast's saturate=1 behaviour).
  const int last_finite = e4m3 ? 0x7e : 0x7b;
  int best = 0;
  float best_distance = std::numeric_limits<float>::infinity();
  for (int code = 0; code <= last_finite; ++code) {
    float distance = std::fabs(float8_to_float(uint8_t(code), type) - magnitude);
    if (distance < best_distance || (distance == best_distance && (code & 1) == 0)) {
      best = code;
      best_distance = distance;
    }
  }
  return uint8_t(sign | best);
}

double element_as_double(DataType type, const void* data, size_t index) {
  switch (type) {
    case DataType::kFloat32:
      return load<float>(data, index);
    case DataType::kFloat64:
      return load<double>(data, index);
    case DataType::kFloat16:
      return half_to_float(load<uint16_t>(data, index));
    case DataType::kBFloat16:
      return bfloat16_to_float(load<uint16_t>(data, index));
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
      return float8_to_float(load<uint8_t>(data, index), type);
    case DataType::kInt8:
      return load<int8_t>(data, index);
    case DataType::kUInt8:
      return load<uint8_t>(data, index);
    case DataType::kInt16:
      return load<int16_t>(data, index);
    case DataType::kUInt16:
      return load<uint16_t>(data, index);
    case DataType::kInt32:
      return load<int32_t>(data, index);
    case DataType::kUInt32:
      return load<uint32_t>(data, index);
    case DataType::kInt64:
      return double(load<int64_t>(data, index));
    case DataType::kUInt64:
      return double(load<uint64_t>(data, index));
    case DataType::kBool:
      return load<uint8_t>(data, index) != 0 ? 1.0 : 0.0;
    case DataType::kInt4:
      return int4_value(load<uint8_t>(data, index));
    case DataType::kUInt4:
      return uint4_value(load<uint8_t>(data, index));
    case DataType::kInt2:
      return int2_value(load<uint8_t>(data, index));
    case DataType::kUInt2:
      return uint2_value(load<uint8_t>(data, index));
    case DataType::kFloat4E2M1:
      return fp4e2m1_to_float(load<uint8_t>(data, index));
    case DataType::kFloat8E4M3FNUZ:
      return fp8e4m3fnuz_to_float(load<uint8_t>(data, index));
    case DataType::kFloat8E5M2FNUZ:
      return fp8e5m2fnuz_to_float(load<uint8_t>(data, index));
    case DataType::kFloat8E8M0:
      return fp8e8m0_to_float(load<uint8_t>(data, index));
  }
  throw Error(ErrorCode::kInternal, "element_as_double: unknown dtype");
}

void store_floats(DataType type, const float* values, size_t count, void* out) {
  for (size_t i = 0; i < count; ++i) {
    switch (type) {
      case DataType::kFloat32:
        store<float>(out, i, values[i]);
        break;
      case DataType::kFloat64:
        store<double>(out, i, values[i]);
        break;
      case DataType::kFloat16:
        store<uint16_t>(out, i, float_to_half(values[i]));
        break;
      case DataType::kBFloat16:
        store<uint16_t>(out, i, float_to_bfloat16(values[i]));
        break;
      case DataType::kFloat8E4M3:
      case DataType::kFloat8E5M2:
        store<uint8_t>(out, i, float_to_float8(values[i], type));
        break;
      case DataType::kFloat4E2M1:
        store<uint8_t>(out, i, float_to_fp4e2m1(values[i]));
        break;
      case DataType::kFloat8E4M3FNUZ:
        store<uint8_t>(out, i, float_to_fp8e4m3fnuz(values[i]));
        break;
      case DataType::kFloat8E5M2FNUZ:
        store<uint8_t>(out, i, float_to_fp8e5m2fnuz(values[i]));
        break;
      case DataType::kFloat8E8M0:
        store<uint8_t>(out, i, float_to_fp8e8m0(values[i]));
        break;
      default:
        throw Error(ErrorCode::kInternal,
                    std::string("store_floats: not a floating-point type: ") + to_string(type));
    }
  }
}

void fill_random(DataType type, void* data, size_t count, uint64_t seed, const std::string& name) {
  SplitMix64 generator(seed ^ fnv1a(name));
  for (size_t i = 0; i < count; ++i) {
    if (type == DataType::kBool) {
      store<uint8_t>(data, i, uint8_t(generator.next() >> 63));
    } else if (is_floating_point(type)) {
      float value = float(generator.unit() * 2.0 - 1.0);
      if (type == DataType::kFloat64) {
        store<double>(data, i, generator.unit() * 2.0 - 1.0);
      } else {
        store_floats(type, &value, 1, static_cast<uint8_t*>(data) + i * element_size(type));
      }
    } else {
      const int64_t value = int64_t(generator.next() % 10);
      switch (type) {
        case DataType::kInt8:
          store<int8_t>(data, i, int8_t(value));
          break;
        case DataType::kUInt8:
          store<uint8_t>(data, i, uint8_t(value));
          break;
        case DataType::kInt16:
          store<int16_t>(data, i, int16_t(value));
          break;
        case DataType::kUInt16:
          store<uint16_t>(data, i, uint16_t(value));
          break;
        case DataType::kInt32:
          store<int32_t>(data, i, int32_t(value));
          break;
        case DataType::kUInt32:
          store<uint32_t>(data, i, uint32_t(value));
          break;
        case DataType::kInt64:
          store<int64_t>(data, i, value);
          break;
        case DataType::kUInt64:
          store<uint64_t>(data, i, uint64_t(value));
          break;
        case DataType::kInt4:
        case DataType::kUInt4:  // 0..9 fits both
          store<uint8_t>(data, i, uint8_t(value));
          break;
        case DataType::kInt2:
        case DataType::kUInt2:
          store<uint8_t>(data, i, uint8_t(value % 2));
          break;
        default:
          throw Error(ErrorCode::kInternal,
                      std::string("fill_random: unhandled dtype ") + to_string(type));
      }
    }
  }
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char text[64];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

Summary summarize(DataType type, const void* data, size_t count, size_t show) {
  Summary summary;
  summary.count = count;
  double sum = 0;
  size_t finite = 0;
  for (size_t i = 0; i < count; ++i) {
    const double value = element_as_double(type, data, i);
    if (std::isnan(value)) {
      ++summary.nan_count;
      continue;
    }
    if (std::isinf(value)) {
      ++summary.inf_count;
      continue;
    }
    summary.min = finite == 0 ? value : std::min(summary.min, value);
    summary.max = finite == 0 ? value : std::max(summary.max, value);
    sum += value;
    ++finite;
  }
  summary.mean = finite ? sum / double(finite) : std::numeric_limits<double>::quiet_NaN();
  if (!finite) summary.min = summary.max = std::numeric_limits<double>::quiet_NaN();

  for (size_t i = 0; i < std::min(count, show); ++i) {
    // 64-bit integers print exactly, not through a double.
    if (type == DataType::kInt64) {
      summary.first_values.push_back(std::to_string(load<int64_t>(data, i)));
    } else if (type == DataType::kUInt64) {
      summary.first_values.push_back(std::to_string(load<uint64_t>(data, i)));
    } else if (type == DataType::kBool) {
      summary.first_values.push_back(load<uint8_t>(data, i) ? "true" : "false");
    } else {
      summary.first_values.push_back(format_number(element_as_double(type, data, i)));
    }
  }
  return summary;
}

}  // namespace kiln::cli
