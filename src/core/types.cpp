#include "kiln/types.h"

#include "core/checked_size.h"
#include "core/error.h"
#include "kiln/version.h"

namespace kiln {

const char* version_string() { return KILN_VERSION_STRING; }

size_t element_size(DataType type) {
  switch (type) {
    case DataType::kFloat64:
    case DataType::kInt64:
    case DataType::kUInt64:
      return 8;
    case DataType::kFloat32:
    case DataType::kInt32:
    case DataType::kUInt32:
      return 4;
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt16:
    case DataType::kUInt16:
      return 2;
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kBool:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    // The sub-byte types too: kiln holds them unpacked, one element per byte (kiln/types.h).
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      return 1;
  }
  fail(ErrorCode::kInternal, "element_size: unknown data type ", int(type));
}

const char* to_string(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat16:
      return "float16";
    case DataType::kBFloat16:
      return "bfloat16";
    case DataType::kFloat64:
      return "float64";
    case DataType::kInt8:
      return "int8";
    case DataType::kUInt8:
      return "uint8";
    case DataType::kInt16:
      return "int16";
    case DataType::kInt32:
      return "int32";
    case DataType::kInt64:
      return "int64";
    case DataType::kBool:
      return "bool";
    case DataType::kFloat8E4M3:
      return "float8e4m3";
    case DataType::kFloat8E5M2:
      return "float8e5m2";
    case DataType::kUInt16:
      return "uint16";
    case DataType::kUInt32:
      return "uint32";
    case DataType::kUInt64:
      return "uint64";
    case DataType::kInt4:
      return "int4";
    case DataType::kUInt4:
      return "uint4";
    case DataType::kInt2:
      return "int2";
    case DataType::kUInt2:
      return "uint2";
    case DataType::kFloat4E2M1:
      return "float4e2m1";
    case DataType::kFloat8E4M3FNUZ:
      return "float8e4m3fnuz";
    case DataType::kFloat8E5M2FNUZ:
      return "float8e5m2fnuz";
    case DataType::kFloat8E8M0:
      return "float8e8m0";
  }
  return "unknown";
}

DataType data_type_from_string(std::string_view name) {
  for (int i = 0; i < kDataTypeCount; ++i) {
    if (name == to_string(DataType(i))) return DataType(i);
  }
  fail(ErrorCode::kInvalidArgument, "unknown data type '", name, "'");
}

bool is_floating_point(DataType type) {
  switch (type) {
    case DataType::kFloat32:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kFloat64:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kFloat4E2M1:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      return true;
    default:
      return false;
  }
}

bool is_integer(DataType type) {
  switch (type) {
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt16:
    case DataType::kUInt32:
    case DataType::kUInt64:
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
      return true;
    default:
      return false;
  }
}

bool is_sub_byte(DataType type) { return packed_bits(type) < 8; }

int packed_bits(DataType type) {
  switch (type) {
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kFloat4E2M1:
      return 4;
    case DataType::kInt2:
    case DataType::kUInt2:
      return 2;
    default:
      return int(8 * element_size(type));
  }
}

std::string to_string(const Dims& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(dims[i]);
  }
  return out.empty() ? "scalar" : out;
}

// Overflow-checked (core/checked_size.h): a product of the non-zero extents that does not fit
// in int64 throws SizeOverflow rather than wrapping to a small or negative count.
int64_t volume(const Dims& dims) {
  for (int64_t d : dims) {
    if (d < 0) return -1;
  }
  return checked_numel(dims, "");
}

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kInvalidModel:
      return "invalid model";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kInvalidPlan:
      return "invalid plan";
    case ErrorCode::kVersionMismatch:
      return "version mismatch";
    case ErrorCode::kIO:
      return "I/O error";
    case ErrorCode::kRuntime:
      return "runtime error";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "error";
}

}  // namespace kiln
