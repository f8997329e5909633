#include "compare.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace kiln::conformance {

namespace {

std::string index_string(const Dims& shape, int64_t flat) {
  Dims index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::ostringstream out;
  out << "[";
  for (size_t d = 0; d < index.size(); ++d) out << (d ? ", " : "") << index[d];
  out << "]";
  return out.str();
}

bool close_enough(double got, double want, double rtol, double atol) {
  if (std::isnan(got) || std::isnan(want)) return std::isnan(got) && std::isnan(want);
  if (std::isinf(got) || std::isinf(want)) return got == want;
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

// Integers and bools compare exactly, by their stored bits (bools by truth value).
bool exactly_equal(const Tensor& got, const Tensor& want, int64_t i) {
  if (want.dtype() == DataType::kBool) {
    return (got.data<uint8_t>()[i] != 0) == (want.data<uint8_t>()[i] != 0);
  }
  size_t size = element_size(want.dtype());
  return std::memcmp(static_cast<const char*>(got.raw()) + size_t(i) * size,
                     static_cast<const char*>(want.raw()) + size_t(i) * size, size) == 0;
}

std::string value_string(const Tensor& t, int64_t i) {
  std::ostringstream out;
  out.precision(9);
  if (is_floating_point(t.dtype())) {
    out << t.as_double(i);
  } else if (t.dtype() == DataType::kUInt64) {
    out << t.data<uint64_t>()[i];
  } else if (t.dtype() == DataType::kBool) {
    out << (t.data<uint8_t>()[i] ? "true" : "false");
  } else {
    out << t.as_int64(i);
  }
  return out.str();
}

}  // namespace

std::string compare_output(const Tensor& got, const Tensor& want, double rtol, double atol,
                           const std::string& what, const std::vector<bool>& undefined) {
  std::ostringstream out;
  if (got.dtype() != want.dtype()) {
    out << what << " has dtype " << to_string(got.dtype()) << ", expected "
        << to_string(want.dtype());
    return out.str();
  }
  if (got.shape() != want.shape()) {
    out << what << " has shape " << to_string(got.shape()) << ", expected "
        << to_string(want.shape());
    return out.str();
  }
  const bool floating = is_floating_point(want.dtype());
  if (want.dtype() == DataType::kBFloat16) rtol = std::max(rtol, 1.0 / 64);
  int64_t mismatches = 0, first = -1;
  double max_abs_diff = 0;
  int64_t skipped = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (size_t(i) < undefined.size() && undefined[size_t(i)]) {
      ++skipped;
      continue;
    }
    bool ok = floating ? close_enough(got.as_double(i), want.as_double(i), rtol, atol)
                       : exactly_equal(got, want, i);
    if (ok) continue;
    if (first < 0) first = i;
    ++mismatches;
    if (floating) {
      double diff = std::fabs(got.as_double(i) - want.as_double(i));
      if (!std::isnan(diff)) max_abs_diff = std::max(max_abs_diff, diff);
    }
  }
  if (mismatches == 0) return "";
  out << what << ": " << mismatches << " of " << want.numel() - skipped << " values differ";
  if (skipped) out << " (" << skipped << " more are undefined by the spec and not compared)";
  if (floating) out << " beyond rtol " << rtol << " atol " << atol;
  out << "; first at " << index_string(want.shape(), first) << ": got " << value_string(got, first)
      << ", expected " << value_string(want, first);
  if (floating && max_abs_diff > 0) out << " (max abs diff " << max_abs_diff << ")";
  return out.str();
}

}  // namespace kiln::conformance
