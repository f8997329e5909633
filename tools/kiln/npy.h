// A small reader and writer for NumPy's .npy files (format versions 1.0, 2.0 and 3.0), enough
// for `kiln run` to take inputs from numpy and give outputs back: little-endian numeric and
// bool dtypes in C order. Anything else is refused with an error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln::cli {

// One array: its element type, its extents, and its elements in row-major order.
struct NpyArray {
  DataType dtype = DataType::kFloat32;
  Dims shape;
  std::vector<uint8_t> data;
};

// Reads a .npy file. Throws kiln::Error naming the file: kIO when it cannot be read;
// kInvalidArgument when it is not a valid .npy file, holds big-endian or Fortran-order data or
// a dtype kiln cannot hold, or when its data is truncated or followed by extra bytes.
NpyArray read_npy(const std::string& path);

// The same from bytes in memory; `source` names them in error messages.
NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& source);

// The .npy text for a dtype ("<f4", "|b1", ...); throws kiln::Error for the types numpy has no
// standard dtype for (bfloat16, float8).
const char* npy_descr(DataType dtype);
bool has_npy_descr(DataType dtype);

// The whole file content (header and data) for an array; `nbytes` must match the shape.
std::vector<uint8_t> encode_npy(DataType dtype, const Dims& shape, const void* data, size_t nbytes);

// Writes a .npy file atomically: the bytes go to a temporary file beside `path`, which is
// renamed over `path` only once complete, so a failure never leaves a partial file.
void write_npy(const std::string& path, DataType dtype, const Dims& shape, const void* data,
               size_t nbytes);

}  // namespace kiln::cli
