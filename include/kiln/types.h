// Public value types shared by the whole API: element types and dimensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// Element type of a tensor. New types are only ever appended (the value is stored in plans).
//
// Every type, the sub-byte ones included, is stored one element per byte in memory (host and
// device buffers, plans): int4, uint4, int2, uint2 and float4e2m1 as their 4- or 2-bit pattern
// in the low bits of the byte, the high bits zero (two's complement for int4 and int2: -1 is
// 0x0f in int4), which is also how numpy's ml_dtypes holds them. ONNX files pack them (two
// 4-bit or four 2-bit values a byte, the first in the low bits); the ONNX importer unpacks
// them and tensor export packs them again. kiln converts (Cast, CastLike),
// quantizes / dequantizes and moves these types; arithmetic ops do not take them.
enum class DataType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
  kFloat64 = 3,
  kInt8 = 4,
  kUInt8 = 5,
  kInt16 = 6,
  kInt32 = 7,
  kInt64 = 8,
  kBool = 9,
  kFloat8E4M3 = 10,  // e4m3fn: no infinities, one NaN encoding
  kFloat8E5M2 = 11,
  kUInt16 = 12,
  kUInt32 = 13,
  kUInt64 = 14,
  kInt4 = 15,            // -8..7
  kUInt4 = 16,           // 0..15
  kInt2 = 17,            // -2..1
  kUInt2 = 18,           // 0..3
  kFloat4E2M1 = 19,      // e2m1: bias 1, max 6, no infinities or NaN; code in the low nibble
  kFloat8E4M3FNUZ = 20,  // bias 8, max 240, no infinities or -0; 0x80 is the only NaN
  kFloat8E5M2FNUZ = 21,  // bias 16, max 57344, no infinities or -0; 0x80 is the only NaN
  kFloat8E8M0 = 22,      // unsigned power of two 2^(code - 127), 0xff is NaN (MX scales)
};

// Number of DataType values (they are numbered 0 .. kDataTypeCount - 1).
inline constexpr int kDataTypeCount = 23;
// Whether `value` (e.g. a dtype attribute read from a graph or a plan) names a DataType.
constexpr bool is_valid_data_type(int64_t value) { return value >= 0 && value < kDataTypeCount; }

// Size in bytes of one element.
size_t element_size(DataType type);
// "float32", "float16", ... as printed by the CLI and the IR printer.
const char* to_string(DataType type);
// Inverse of to_string; throws kiln::Error for an unknown name.
DataType data_type_from_string(std::string_view name);
// float32, float16, bfloat16, float64 and every float8/float4 type.
bool is_floating_point(DataType type);
// The signed and unsigned integer types, 2- and 4-bit ones included (not bool).
bool is_integer(DataType type);
// int4, uint4, int2, uint2 and float4e2m1: packed below one byte in ONNX files.
bool is_sub_byte(DataType type);
// Bits per element in ONNX's packed encoding (4 or 2 for the sub-byte types, else 8 *
// element_size).
int packed_bits(DataType type);

// Extents of a tensor. -1 marks a dimension that is dynamic (known only when the input
// shapes are set on an execution context).
using Dims = std::vector<int64_t>;

// "1x3x224x224"; dynamic dims print as -1.
std::string to_string(const Dims& dims);
// Product of the extents (1 for a scalar); -1 if any dim is dynamic.
int64_t volume(const Dims& dims);

}  // namespace kiln
