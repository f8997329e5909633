// Indexing ops: Gather, GatherElements, GatherND read data at positions given by an index
// tensor; ScatterElements, ScatterND write (or combine, per `reduction`) updates into a copy of
// data at such positions. Indices may be negative (counting from the end); an index out of
// range is an error naming the node. Element bytes are moved with memcpy, so every dtype works.
#include <algorithm>
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

void check_index_type(const InferContext& ctx, size_t input) {
  const DataType t = ctx.input_dtype(input);
  ctx.check(t == DataType::kInt64 || t == DataType::kInt32, "indices must be int32 or int64, got ",
            to_string(t));
}

// An index into an extent of `dim`, negative counting from the end; throws when outside.
int64_t resolve_index(const ir::Node& node, int64_t index, int64_t dim, int64_t axis) {
  KILN_CHECK(index >= -dim && index < dim, ErrorCode::kInvalidArgument, node.describe(), ": index ",
             index, " is out of range for axis ", axis, " of extent ", dim);
  return index < 0 ? index + dim : index;
}

// ----- Gather -----

void infer_gather(InferContext& ctx) {
  const Dims& data = ctx.input_shape(0);
  check_index_type(ctx, 1);
  ctx.check(!data.empty(), "data must have rank >= 1");
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(data.size()));
  Dims out(data.begin(), data.begin() + axis);
  const Dims& indices = ctx.input_shape(1);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void compute_gather(ComputeContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices_t = ctx.input(1);
  Tensor& out = ctx.output(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(data.rank()));
  const int64_t dim = data.dim(size_t(axis));
  std::vector<int64_t> indices = indices_t.to_int64_vector();
  for (int64_t& i : indices) i = resolve_index(ctx.node(), i, dim, axis);
  const int64_t outer = product(data.shape(), 0, size_t(axis));
  const size_t block =
      size_t(product(data.shape(), size_t(axis) + 1, data.rank())) * element_size(data.dtype());
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  if (block == 0) return;
  for (int64_t o = 0; o < outer; ++o) {
    const std::byte* base = src + size_t(o * dim) * block;
    for (int64_t i : indices) {
      std::memcpy(dst, base + size_t(i) * block, block);
      dst += block;
    }
  }
}

// ----- GatherElements / ScatterElements -----

// Both walk every element of `indices` (same rank as data) and address data at the same
// position, except along `axis`, where the index value is used. Calls fn(position in indices,
// position in data).
template <typename Fn>
void for_each_element_index(const ir::Node& node, const Dims& data_shape, const Tensor& indices_t,
                            int64_t axis, Fn&& fn) {
  const Dims& shape = indices_t.shape();
  const Dims data_strides = contiguous_strides(data_shape);
  const std::vector<int64_t> indices = indices_t.to_int64_vector();
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t base = 0;  // data offset of the current position with 0 along axis
  const int64_t dim = data_shape[size_t(axis)];
  const int64_t axis_stride = data_strides[size_t(axis)];
  for (int64_t flat = 0; flat < int64_t(indices.size()); ++flat) {
    fn(flat, base + resolve_index(node, indices[size_t(flat)], dim, axis) * axis_stride);
    for (size_t d = rank; d-- > 0;) {
      const int64_t stride = int64_t(d) == axis ? 0 : data_strides[d];
      base += stride;
      if (++index[d] < shape[d]) break;
      base -= stride * index[d];
      index[d] = 0;
    }
  }
}

// GatherElements and ScatterElements: indices of the data's rank, each extent at most the
// data's except along axis (where the values, not the extent, select).
int64_t check_element_indices(const InferContext& ctx, const Dims& data, const Dims& indices) {
  ctx.check(!data.empty(), "data must have rank >= 1");
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(data.size()));
  ctx.check(indices.size() == data.size(), "indices ", to_string(indices),
            " must have the rank of data ", to_string(data));
  for (size_t d = 0; d < data.size(); ++d) {
    ctx.check(int64_t(d) == axis || indices[d] <= data[d], "indices ", to_string(indices),
              " exceed data ", to_string(data), " in dimension ", d);
  }
  return axis;
}

void infer_gather_elements(InferContext& ctx) {
  check_index_type(ctx, 1);
  check_element_indices(ctx, ctx.input_shape(0), ctx.input_shape(1));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(1));
}

void compute_gather_elements(ComputeContext& ctx) {
  const Tensor& data = ctx.input(0);
  Tensor& out = ctx.output(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(data.rank()));
  const size_t element = element_size(data.dtype());
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for_each_element_index(
      ctx.node(), data.shape(), ctx.input(1), axis, [&](int64_t out_pos, int64_t data_pos) {
        std::memcpy(dst + size_t(out_pos) * element, src + size_t(data_pos) * element, element);
      });
}

// ----- Scatter reductions -----

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction read_reduction(const ir::Node& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  fail(ErrorCode::kInvalidModel, node.describe(), ": reduction '", r,
       "' is not one of none, add, mul, max, min");
}

template <typename T>
T combine(T a, T b, Reduction r) {
  switch (r) {
    case Reduction::kNone:
      return b;
    case Reduction::kAdd:
      return static_cast<T>(a + b);
    case Reduction::kMul:
      return static_cast<T>(a * b);
    case Reduction::kMax:
      return std::max(a, b);
    case Reduction::kMin:
      return std::min(a, b);
  }
  return b;
}

// dst[i] = combine(dst[i], src[i]) for `count` elements of `dtype`.
void reduce_into(DataType dtype, Reduction r, void* dst, const void* src, int64_t count) {
  if (r == Reduction::kNone) {
    std::memcpy(dst, src, size_t(count) * element_size(dtype));
    return;
  }
  // Reduced-precision floats combine in float32 and round once, as the reference computes do.
  auto via_float = [&](auto to_float, auto from_float, auto storage) {
    using S = decltype(storage);
    auto* d = static_cast<S*>(dst);
    const auto* s = static_cast<const S*>(src);
    for (int64_t i = 0; i < count; ++i)
      d[i] = from_float(combine(to_float(d[i]), to_float(s[i]), r));
  };
  switch (dtype) {
    case DataType::kFloat16:
      return via_float(
          fp16_to_float, [](float f) { return float_to_fp16(f); }, uint16_t{});
    case DataType::kBFloat16:
      return via_float(bf16_to_float, float_to_bf16, uint16_t{});
    case DataType::kFloat8E4M3:
      return via_float(
          fp8e4m3_to_float, [](float f) { return float_to_fp8e4m3(f); }, uint8_t{});
    case DataType::kFloat8E5M2:
      return via_float(
          fp8e5m2_to_float, [](float f) { return float_to_fp8e5m2(f); }, uint8_t{});
    case DataType::kBool: {
      // Booleans: add and max are "or", mul and min are "and".
      auto* d = static_cast<uint8_t*>(dst);
      const auto* s = static_cast<const uint8_t*>(src);
      const bool is_or = r == Reduction::kAdd || r == Reduction::kMax;
      for (int64_t i = 0; i < count; ++i) d[i] = is_or ? (d[i] || s[i]) : (d[i] && s[i]);
      return;
    }
    default:
      dispatch_storage(dtype, [&](auto zero) {
        using T = decltype(zero);
        auto* d = static_cast<T*>(dst);
        const auto* s = static_cast<const T*>(src);
        for (int64_t i = 0; i < count; ++i) d[i] = combine(d[i], s[i], r);
      });
  }
}

void copy_data(const Tensor& data, Tensor& out) {
  if (data.nbytes() && out.raw() != data.raw()) std::memcpy(out.raw(), data.raw(), data.nbytes());
}

// ----- ScatterElements -----

void infer_scatter_elements(InferContext& ctx) {
  check_index_type(ctx, 1);
  read_reduction(ctx.node());
  check_element_indices(ctx, ctx.input_shape(0), ctx.input_shape(1));
  ctx.check(ctx.input_shape(2) == ctx.input_shape(1), "updates ", to_string(ctx.input_shape(2)),
            " must have the shape of indices ", to_string(ctx.input_shape(1)));
  ctx.check(ctx.input_dtype(2) == ctx.input_dtype(0), "updates have type ",
            to_string(ctx.input_dtype(2)), " but data has ", to_string(ctx.input_dtype(0)));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
}

void compute_scatter_elements(ComputeContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& updates = ctx.input(2);
  Tensor& out = ctx.output(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(data.rank()));
  const Reduction r = read_reduction(ctx.node());
  const size_t element = element_size(data.dtype());
  copy_data(data, out);
  const auto* src = static_cast<const std::byte*>(updates.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  // Updates apply in order, so with duplicate indices and reduction none the last one wins.
  for_each_element_index(ctx.node(), data.shape(), ctx.input(1), axis,
                         [&](int64_t update_pos, int64_t data_pos) {
                           reduce_into(data.dtype(), r, dst + size_t(data_pos) * element,
                                       src + size_t(update_pos) * element, 1);
                         });
}

// ----- GatherND / ScatterND -----

// Offset (in elements) into data, of shape `dims`, for each index tuple of `indices_t` (shape
// [..., k], k >= 1 as infer checks). A tuple addresses dims first_dim .. first_dim+k-1; the
// dims before first_dim are batch dims, taken from the tuple's position: tuple t belongs to
// batch t / tuples_per_batch.
std::vector<int64_t> nd_offsets(const ir::Node& node, const Tensor& indices_t, const Dims& dims,
                                size_t first_dim, int64_t tuples_per_batch) {
  const size_t k = size_t(indices_t.dim(indices_t.rank() - 1));
  const Dims strides = contiguous_strides(dims);
  const std::vector<int64_t> indices = indices_t.to_int64_vector();
  std::vector<int64_t> offsets(indices.size() / k);
  for (size_t t = 0; t < offsets.size(); ++t) {
    int64_t offset = first_dim > 0 ? int64_t(t) / tuples_per_batch * strides[first_dim - 1] : 0;
    for (size_t j = 0; j < k; ++j) {
      const size_t d = first_dim + j;
      offset += resolve_index(node, indices[t * k + j], dims[d], int64_t(d)) * strides[d];
    }
    offsets[t] = offset;
  }
  return offsets;
}

void infer_gather_nd(InferContext& ctx) {
  ctx.check(ctx.input_dtype(1) == DataType::kInt64, "indices must be int64, got ",
            to_string(ctx.input_dtype(1)));
  const Dims& data = ctx.input_shape(0);
  const Dims& indices = ctx.input_shape(1);
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  const int64_t r = int64_t(data.size());
  const int64_t q = int64_t(indices.size());
  ctx.check(r >= 1 && q >= 1, "data and indices must have rank >= 1");
  ctx.check(b >= 0 && b < std::min(r, q), "batch_dims ", b, " must be in [0, min(rank(data), ",
            "rank(indices))) = [0, ", std::min(r, q), ")");
  const int64_t k = indices.back();
  ctx.check(k >= 1 && k <= r - b, "the last dim of indices (", k, ") must be in [1, ", r - b,
            "] for data ", to_string(data), " and batch_dims ", b);
  for (int64_t d = 0; d < b; ++d) {
    ctx.check(data[size_t(d)] == indices[size_t(d)], "batch dim ", d, " differs: data ",
              to_string(data), ", indices ", to_string(indices));
  }
  Dims out(indices.begin(), indices.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void compute_gather_nd(ComputeContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  Tensor& out = ctx.output(0);
  const size_t b = size_t(ctx.node().attr_int("batch_dims", 0));
  const int64_t k = indices.dim(indices.rank() - 1);
  const int64_t tuples_per_batch = product(indices.shape(), b, indices.rank() - 1);
  const std::vector<int64_t> offsets =
      nd_offsets(ctx.node(), indices, data.shape(), b, tuples_per_batch);
  const size_t element = element_size(data.dtype());
  const size_t slice = size_t(product(data.shape(), b + size_t(k), data.rank())) * element;
  const auto* src = static_cast<const std::byte*>(data.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (size_t t = 0; t < offsets.size(); ++t) {
    std::memcpy(dst + t * slice, src + size_t(offsets[t]) * element, slice);
  }
}

void infer_scatter_nd(InferContext& ctx) {
  ctx.check(ctx.input_dtype(1) == DataType::kInt64, "indices must be int64, got ",
            to_string(ctx.input_dtype(1)));
  read_reduction(ctx.node());
  const Dims& data = ctx.input_shape(0);
  const Dims& indices = ctx.input_shape(1);
  const Dims& updates = ctx.input_shape(2);
  ctx.check(!data.empty() && !indices.empty(), "data and indices must have rank >= 1");
  const int64_t k = indices.back();
  ctx.check(k >= 1 && k <= int64_t(data.size()), "the last dim of indices (", k,
            ") must be in [1, ", data.size(), "] for data ", to_string(data));
  Dims expected(indices.begin(), indices.end() - 1);
  expected.insert(expected.end(), data.begin() + k, data.end());
  ctx.check(updates == expected, "updates have shape ", to_string(updates), " but data ",
            to_string(data), " and indices ", to_string(indices), " need ", to_string(expected));
  ctx.check(ctx.input_dtype(2) == ctx.input_dtype(0), "updates have type ",
            to_string(ctx.input_dtype(2)), " but data has ", to_string(ctx.input_dtype(0)));
  ctx.set_output(0, ctx.input_dtype(0), data);
}

void compute_scatter_nd(ComputeContext& ctx) {
  const Tensor& data = ctx.input(0);
  const Tensor& indices = ctx.input(1);
  const Tensor& updates = ctx.input(2);
  Tensor& out = ctx.output(0);
  const Reduction r = read_reduction(ctx.node());
  const int64_t k = indices.dim(indices.rank() - 1);
  const std::vector<int64_t> offsets = nd_offsets(ctx.node(), indices, data.shape(), 0, 1);
  const int64_t slice = product(data.shape(), size_t(k), data.rank());
  const size_t element = element_size(data.dtype());
  copy_data(data, out);
  const auto* src = static_cast<const std::byte*>(updates.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (size_t t = 0; t < offsets.size(); ++t) {
    reduce_into(data.dtype(), r, dst + size_t(offsets[t]) * element,
                src + t * size_t(slice) * element, slice);
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Gather",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_gather,
    .compute = compute_gather,
});

KILN_REGISTER_OP(OpDef{
    .name = "GatherElements",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_gather_elements,
    .compute = compute_gather_elements,
});

KILN_REGISTER_OP(OpDef{
    .name = "GatherND",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_gather_nd,
    .compute = compute_gather_nd,
});

KILN_REGISTER_OP(OpDef{
    .name = "ScatterElements",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_scatter_elements,
    .compute = compute_scatter_elements,
});

KILN_REGISTER_OP(OpDef{
    .name = "ScatterND",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_scatter_nd,
    .compute = compute_scatter_nd,
});

}  // namespace
}  // namespace kiln::ops
