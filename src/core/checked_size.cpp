#include "core/checked_size.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/display_name.h"

namespace kiln {

namespace {

std::string prefix(std::string_view context) {
  return context.empty() ? std::string() : cat(context, ": ");
}

using u128 = unsigned __int128;

std::string to_decimal(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v) {
    s.insert(s.begin(), char('0' + int(v % 10)));
    v /= 10;
  }
  return s;
}

// Bytes of dims x dtype as a decimal string, exact while it fits in 128 bits, and whether it
// exceeds `limit`.
std::string bytes_text(DataType dtype, const Dims& dims, size_t limit, bool* over) {
  for (int64_t d : dims) {
    if (d == 0) {
      *over = false;
      return "0";
    }
  }
  u128 n = element_size(dtype);
  long double approx = double(element_size(dtype));
  bool wrapped = false;
  for (int64_t d : dims) {
    approx *= (long double)d;
    if (!wrapped && __builtin_mul_overflow(n, u128(uint64_t(d)), &n)) wrapped = true;
  }
  if (!wrapped) {
    *over = n > u128(limit);
    return to_decimal(n);
  }
  *over = true;
  char buf[64];
  std::snprintf(buf, sizeof buf, "about %.3Le", approx);
  return buf;
}

std::atomic<size_t> g_override{0};

size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return size_t(1) << 40;  // unknown: 1 TiB
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(pages), size_t(page), &bytes)) {
    return std::numeric_limits<size_t>::max();
  }
  return bytes;
}

}  // namespace

int64_t checked_numel(const Dims& dims, std::string_view context) {
  // The product of the non-zero extents must fit even when another extent is 0, so that no
  // partial product (strides, loop bounds) computed in any order can overflow.
  bool zero = false;
  int64_t n = 1;
  for (int64_t d : dims) {
    KILN_CHECK(d >= 0, ErrorCode::kInvalidArgument, prefix(context), "shape ", to_string(dims),
               " has a negative or dynamic extent");
    if (d == 0) {
      zero = true;
    } else if (__builtin_mul_overflow(n, d, &n)) {
      throw SizeOverflow(cat(prefix(context), "the element count of shape ", to_string(dims),
                             " overflows 64 bits"));
    }
  }
  return zero ? 0 : n;
}

size_t checked_bytes(DataType dtype, int64_t numel, std::string_view context) {
  KILN_CHECK(numel >= 0, ErrorCode::kInvalidArgument, prefix(context), "negative element count ",
             numel);
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(numel), element_size(dtype), &bytes)) {
    throw SizeOverflow(cat(prefix(context), numel, " elements of ", to_string(dtype),
                           " need more bytes than 64 bits can count"));
  }
  return bytes;
}

size_t checked_mul(size_t a, size_t b, std::string_view context) {
  size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw SizeOverflow(cat(prefix(context), "size ", a, " x ", b, " overflows 64 bits"));
  }
  return r;
}

size_t checked_add(size_t a, size_t b, std::string_view context) {
  size_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    throw SizeOverflow(cat(prefix(context), "size ", a, " + ", b, " overflows 64 bits"));
  }
  return r;
}

void check_rank(size_t rank, std::string_view context) {
  KILN_CHECK(rank <= kMaxTensorRank, ErrorCode::kInvalidArgument, prefix(context), "rank ", rank,
             " is more than kiln's limit of ", kMaxTensorRank, " dimensions");
}

int64_t checked_int64_from_double(double value, std::string_view context) {
  // -2^63 is representable; 2^63 is the first double past INT64_MAX. NaN fails both tests.
  if (!(value >= -0x1p63 && value < 0x1p63)) {
    throw SizeOverflow(cat(prefix(context), "the value ", value, " is not a 64-bit integer"));
  }
  return int64_t(value);
}

size_t max_tensor_bytes() {
  if (const char* env = std::getenv("KILN_MAX_TENSOR_BYTES"); env && *env) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    KILN_CHECK(errno == 0 && end && *end == '\0' && v > 0 && env[0] != '-',
               ErrorCode::kInvalidArgument, "KILN_MAX_TENSOR_BYTES='", env,
               "' is not a positive number of bytes");
    return size_t(v);
  }
  if (size_t o = g_override.load(std::memory_order_relaxed)) return o;
  static const size_t physical = physical_memory();
  return physical;
}

void set_max_tensor_bytes(size_t bytes) { g_override.store(bytes, std::memory_order_relaxed); }

void check_tensor_size(DataType dtype, const Dims& dims, std::string_view what) {
  for (int64_t d : dims) {
    if (d < 0) return;
  }
  if (what.empty()) what = "tensor";
  // Refused even when empty (see checked_numel): [2^62, 2^62, 0] is no usable shape.
  try {
    checked_numel(dims, "");
  } catch (const SizeOverflow&) {
    bool zero = false;
    for (int64_t d : dims) zero = zero || d == 0;
    if (zero) {
      fail(ErrorCode::kInvalidArgument, what, " of shape ", to_string(dims),
           ": the product of its non-zero extents overflows 64 bits");
    }
  }
  const size_t limit = max_tensor_bytes();
  bool over = false;
  const std::string bytes = bytes_text(dtype, dims, limit, &over);
  if (!over) return;
  fail(ErrorCode::kInvalidArgument, what, " of shape ", to_string(dims), " ", to_string(dtype),
       " needs ", bytes, " bytes, more than the limit of ", limit,
       " bytes (KILN_MAX_TENSOR_BYTES)");
}

void check_allocation_size(size_t bytes, std::string_view what) {
  const size_t limit = max_tensor_bytes();
  KILN_CHECK(bytes <= limit, ErrorCode::kInvalidArgument,
             what.empty() ? std::string_view("allocation") : what, " needs ", bytes,
             " bytes, more than the limit of ", limit, " bytes (KILN_MAX_TENSOR_BYTES)");
}

std::string describe_tensor(std::string_view name, std::string_view node, std::string_view op) {
  std::string s = cat("tensor '", display_name(name), "'");
  if (!node.empty() || !op.empty()) {
    s += " (output of node '";
    s += display_name(node);
    s += "'";
    if (!op.empty()) s += cat(", op ", display_name(op));
    s += ")";
  }
  return s;
}

}  // namespace kiln
