// Public value types shared by the whole API: element types and dimensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// Element type of a tensor. New types are only ever appended (the value is stored in plans).
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
};

// Size in bytes of one element.
size_t element_size(DataType type);
// "float32", "float16", ... as printed by the CLI and the IR printer.
const char* to_string(DataType type);
// Inverse of to_string; throws kiln::Error for an unknown name.
DataType data_type_from_string(std::string_view name);
bool is_floating_point(DataType type);
bool is_integer(DataType type);

// Extents of a tensor. -1 marks a dimension that is dynamic (known only when the input
// shapes are set on an execution context).
using Dims = std::vector<int64_t>;

// "1x3x224x224"; dynamic dims print as -1.
std::string to_string(const Dims& dims);
// Product of the extents (1 for a scalar); -1 if any dim is dynamic.
int64_t volume(const Dims& dims);

}  // namespace kiln
