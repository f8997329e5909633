// Unique and Compress (ONNX opset 11 semantics): two selections whose output extents depend on
// the input data, so their outputs are declared data-dependent and allocated by the compute.
//
// Unique finds the distinct elements of the flattened input, or with `axis` the distinct
// slices along it, as numpy.unique does: sorted ascending (slices lexicographically) by default
// or in order of first occurrence with sorted=0. Outputs: Y, the first-occurrence indices, the
// inverse indices (for each input element/slice, its position in Y) and the counts. NaNs
// compare equal to each other and after every number (numpy's equal_nan=True).
//
// Compress keeps the slices along `axis` (or the elements of the flattened input) whose
// condition entry is true; a condition shorter than the axis leaves out the rest.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/half.h"
#include "ops/common.h"

namespace kiln::ops {
namespace {

// =============================================================================================
// Unique

// The input seen as [outer, n, inner] around the axis (or [1, numel, 1] without one): n slices
// of outer * inner elements each.
struct SliceLayout {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
  int64_t element(int64_t slice, int64_t k) const {  // k-th element of a slice, row-major
    return ((k / inner) * n + slice) * inner + k % inner;
  }
};

SliceLayout layout_of(const Dims& shape, std::optional<int64_t> axis) {
  SliceLayout s;
  if (!axis) {
    s.n = volume(shape);
    return s;
  }
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < *axis) {
      s.outer *= shape[size_t(d)];
    } else if (d == *axis) {
      s.n = shape[size_t(d)];
    } else {
      s.inner *= shape[size_t(d)];
    }
  }
  return s;
}

std::optional<int64_t> unique_axis(const ir::Node& node, int64_t rank) {
  if (!node.has_attr("axis")) return std::nullopt;
  return normalize_axis(node, node.attr_int("axis"), rank);
}

// Strict weak order on values with NaN last and equal to NaN.
template <typename T>
bool value_less(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

// Sorts slice indices lexicographically by their elements, keeping equal slices in input
// order, and returns the groups of equal slices (each group's first entry is its first
// occurrence).
template <typename T>
std::vector<std::vector<int64_t>> group_equal_slices(const std::vector<T>& values,
                                                     const SliceLayout& s) {
  const int64_t len = s.outer * s.inner;
  auto compare = [&](int64_t a, int64_t b) {  // -1, 0, 1
    for (int64_t k = 0; k < len; ++k) {
      const T va = values[size_t(s.element(a, k))];
      const T vb = values[size_t(s.element(b, k))];
      if (value_less(va, vb)) return -1;
      if (value_less(vb, va)) return 1;
    }
    return 0;
  };
  std::vector<int64_t> order(size_t(s.n));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
  std::vector<std::vector<int64_t>> groups;
  for (int64_t slice : order) {
    if (groups.empty() || compare(groups.back().front(), slice) != 0) groups.emplace_back();
    groups.back().push_back(slice);
  }
  return groups;
}

// Every element as a comparable C++ value: float16/bfloat16 widened to float, bool as uint8.
template <typename Fn>
void with_comparable_values(const Tensor& x, Fn&& fn) {
  if (x.dtype() == DataType::kFloat16 || x.dtype() == DataType::kBFloat16) {
    const Tensor wide = to_float32(x);
    fn(std::vector<float>(wide.data<float>(), wide.data<float>() + wide.numel()));
    return;
  }
  if (x.dtype() == DataType::kBool) {
    fn(std::vector<uint8_t>(x.data<uint8_t>(), x.data<uint8_t>() + x.numel()));
    return;
  }
  dispatch_storage(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    fn(std::vector<T>(x.data<T>(), x.data<T>() + x.numel()));
  });
}

void infer_unique(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(dtype != DataType::kFloat8E4M3 && dtype != DataType::kFloat8E5M2, "input type ",
            to_string(dtype), " is not supported");
  const Dims& shape = ctx.input_shape(0);
  const int64_t sorted = ctx.node().attr_int("sorted", 1);
  ctx.check(sorted == 0 || sorted == 1, "sorted must be 0 or 1, got ", sorted);
  std::optional<int64_t> axis;
  if (ctx.node().has_attr("axis")) {
    ctx.check(!shape.empty(), "axis is given but the input is a scalar");
    axis = unique_axis(ctx.node(), int64_t(shape.size()));
  }
  ctx.set_output_data_dependent(0, dtype, axis ? shape.size() : 1);
  if (ctx.num_outputs() > 1) ctx.set_output_data_dependent(1, DataType::kInt64, 1);
  // One entry per input element (or slice): known from the shape alone.
  if (ctx.num_outputs() > 2) {
    ctx.set_output(2, DataType::kInt64, {axis ? shape[size_t(*axis)] : volume(shape)});
  }
  if (ctx.num_outputs() > 3) ctx.set_output_data_dependent(3, DataType::kInt64, 1);
}

void compute_unique(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const std::optional<int64_t> axis = unique_axis(ctx.node(), int64_t(x.rank()));
  const SliceLayout s = layout_of(x.shape(), axis);
  std::vector<std::vector<int64_t>> groups;
  with_comparable_values(x, [&](const auto& values) { groups = group_equal_slices(values, s); });
  if (ctx.node().attr_int("sorted", 1) == 0) {
    std::sort(groups.begin(), groups.end(),
              [](const auto& a, const auto& b) { return a.front() < b.front(); });
  }
  const int64_t count = int64_t(groups.size());

  Dims y_shape = {count};
  if (axis) {
    y_shape = x.shape();
    y_shape[size_t(*axis)] = count;
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), y_shape);
  const size_t bytes = element_size(x.dtype());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  const SliceLayout out_layout{s.outer, count, s.inner};
  for (int64_t u = 0; u < count; ++u) {
    for (int64_t k = 0; k < s.outer * s.inner; ++k) {
      std::memcpy(dst + size_t(out_layout.element(u, k)) * bytes,
                  src + size_t(s.element(groups[size_t(u)].front(), k)) * bytes, bytes);
    }
  }
  if (ctx.has_output(1)) {
    Tensor& indices = ctx.allocate_output(1, DataType::kInt64, {count});
    for (int64_t u = 0; u < count; ++u) indices.data<int64_t>()[u] = groups[size_t(u)].front();
  }
  if (ctx.has_output(2)) {
    Tensor& inverse = ctx.output(2);
    for (int64_t u = 0; u < count; ++u) {
      for (int64_t slice : groups[size_t(u)]) inverse.data<int64_t>()[slice] = u;
    }
  }
  if (ctx.has_output(3)) {
    Tensor& counts = ctx.allocate_output(3, DataType::kInt64, {count});
    for (int64_t u = 0; u < count; ++u) {
      counts.data<int64_t>()[u] = int64_t(groups[size_t(u)].size());
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Unique",
    .min_inputs = 1,
    .max_inputs = 1,
    .min_outputs = 1,
    .max_outputs = 4,
    .infer = infer_unique,
    .compute = compute_unique,
});

// =============================================================================================
// Compress

std::optional<int64_t> compress_axis(const ir::Node& node, int64_t rank) {
  if (!node.has_attr("axis")) return std::nullopt;
  return normalize_axis(node, node.attr_int("axis"), rank);
}

void infer_compress(InferContext& ctx) {
  const Dims& shape = ctx.input_shape(0);
  ctx.check(ctx.input_dtype(1) == DataType::kBool, "condition must be bool, got ",
            to_string(ctx.input_dtype(1)));
  ctx.check(ctx.input_shape(1).size() == 1, "condition must be 1-D, got shape ",
            to_string(ctx.input_shape(1)));
  std::optional<int64_t> axis;
  if (ctx.node().has_attr("axis")) {
    ctx.check(!shape.empty(), "axis is given but the input is a scalar");
    axis = compress_axis(ctx.node(), int64_t(shape.size()));
  }
  ctx.set_output_data_dependent(0, ctx.input_dtype(0), axis ? shape.size() : 1);
}

void compute_compress(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& condition = ctx.input(1);
  const std::optional<int64_t> axis = compress_axis(ctx.node(), int64_t(x.rank()));
  const SliceLayout s = layout_of(x.shape(), axis);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < condition.numel(); ++i) {
    if (condition.data<uint8_t>()[i] == 0) continue;
    KILN_CHECK(i < s.n, ErrorCode::kInvalidArgument, ctx.node().describe(), ": condition[", i,
               "] is true but the ", (axis ? "axis" : "flattened input"), " has only ", s.n,
               " entries");
    kept.push_back(i);
  }
  const int64_t count = int64_t(kept.size());
  Dims out_shape = {count};
  if (axis) {
    out_shape = x.shape();
    out_shape[size_t(*axis)] = count;
  }
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_shape);
  const size_t bytes = element_size(x.dtype());
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  const SliceLayout out_layout{s.outer, count, s.inner};
  for (int64_t u = 0; u < count; ++u) {
    for (int64_t k = 0; k < s.outer * s.inner; ++k) {
      std::memcpy(dst + size_t(out_layout.element(u, k)) * bytes,
                  src + size_t(s.element(kept[size_t(u)], k)) * bytes, bytes);
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Compress",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_compress,
    .compute = compute_compress,
});

}  // namespace
}  // namespace kiln::ops
