// Element-level helpers for `kiln run`: reading any dtype as a number, converting to and from
// the storage-only float types, generating random inputs, and summarizing outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln::cli {

// Bytes of a host buffer for `what` (e.g. "input 'x'") of `type` and `dims`, overflow-checked
// and refused above KILN_MAX_TENSOR_BYTES with a kiln::Error naming it (core/checked_size.h).
size_t tensor_buffer_bytes(const std::string& what, DataType type, const Dims& dims);
// Its element count (same checks).
size_t tensor_element_count(const std::string& what, DataType type, const Dims& dims);

// Storage-only float formats, converted with round-to-nearest-even.
float half_to_float(uint16_t bits);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);
float float8_to_float(uint8_t bits, DataType type);   // kFloat8E4M3 or kFloat8E5M2
uint8_t float_to_float8(float value, DataType type);  // nearest value, saturating

// Element `index` of `data` (laid out as `type`) as a double.
double element_as_double(DataType type, const void* data, size_t index);

// Converts float32 values to `type` (a floating-point type) into `out`.
void store_floats(DataType type, const float* values, size_t count, void* out);

// Fills `count` elements with values from a generator seeded by (seed, name), so that the
// values of one input do not depend on which other inputs were given: floating types uniform
// in [-1, 1), integers in [0, 10), bools true or false.
void fill_random(DataType type, void* data, size_t count, uint64_t seed, const std::string& name);

struct Summary {
  size_t count = 0;
  size_t nan_count = 0;
  size_t inf_count = 0;
  double min = 0, max = 0, mean = 0;  // over the finite values
  std::vector<std::string> first_values;
};

// Statistics of a tensor and its first `show` elements printed as text.
Summary summarize(DataType type, const void* data, size_t count, size_t show);

// A number as the CLI prints it: "%.6g" for floats, exact for integers.
std::string format_number(double value);

}  // namespace kiln::cli
