// Ops that read or build shapes and simple patterned tensors: Shape, Size, ConstantOfShape,
// Expand, Range, Tile, Pad, EyeLike, Trilu, OneHot. They move or fill bytes, so they work for
// every dtype; Range and OneHot are the only ones that do arithmetic on values.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/checked_size.h"
#include "ops/common.h"
#include "ops/range_length.h"

namespace kiln::ops {
namespace {

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// Writes `count` copies of the `element`-byte value at `value` to `dst`, doubling the filled
// prefix so that large fills are a handful of memcpys.
void fill_bytes(std::byte* dst, const void* value, size_t element, int64_t count) {
  if (count <= 0) return;
  std::memcpy(dst, value, element);
  size_t filled = element;
  const size_t total = size_t(count) * element;
  while (filled < total) {
    const size_t n = std::min(filled, total - filled);
    std::memcpy(dst + filled, dst, n);
    filled += n;
  }
}

// A one-element tensor holding `v` in `dtype` (for fill values: EyeLike's 1, Pad's default 0).
Tensor scalar_of(DataType dtype, double v) {
  return Tensor::from_vector<double>(DataType::kFloat64, {}, {v}).cast(dtype);
}

// The kiln type for an ONNX TensorProto.DataType number (the IR keeps ONNX's attribute values).
// Type attributes (EyeLike's dtype) hold a kiln::DataType value: the importer translates
// ONNX's TensorProto type numbers, as it does for Cast's `to`.
DataType dtype_attribute(const ir::Node& node, int64_t value) {
  if (value < 0 || value > int64_t(DataType::kUInt64)) {
    fail(ErrorCode::kInvalidModel, node.describe(), ": dtype ", value, " is not a kiln data type");
  }
  return DataType(value);
}

// ----- Shape, Size -----

Tensor shape_value(const ir::Node& node, const Dims& shape) {
  const int64_t rank = int64_t(shape.size());
  auto clamp_axis = [rank](int64_t a) {
    return std::clamp<int64_t>(a < 0 ? a + rank : a, 0, rank);
  };
  const int64_t start = clamp_axis(node.attr_int("start", 0));
  const int64_t end = std::max(start, clamp_axis(node.attr_int("end", rank)));
  std::vector<int64_t> dims(shape.begin() + start, shape.begin() + end);
  return Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(dims.size())}, dims);
}

void copy_value(const Tensor& value, Tensor& out) {
  KILN_ASSERT(value.nbytes() == out.nbytes());
  if (value.nbytes()) std::memcpy(out.raw(), value.raw(), value.nbytes());
}

// ----- ConstantOfShape -----

// The fill value: the `value` attribute (one element) or float32 0.
Tensor fill_value(const ir::Node& node) {
  if (!node.has_attr("value")) return Tensor::zeros(DataType::kFloat32, {});
  const Tensor& v = node.attr_tensor("value");
  KILN_CHECK(v.numel() == 1, ErrorCode::kInvalidModel, node.describe(),
             ": attribute value must hold one element, got shape ", to_string(v.shape()));
  return v;
}

void infer_constant_of_shape(InferContext& ctx) {
  const std::vector<int64_t> dims = ctx.require_shape_value(0, "shape");
  for (int64_t d : dims) ctx.check(d >= 0, "shape ", to_string(dims), " has a negative extent");
  ctx.set_output(0, fill_value(ctx.node()).dtype(), dims);
}

void compute_constant_of_shape(ComputeContext& ctx) {
  const Tensor value = fill_value(ctx.node());
  Tensor& out = ctx.output(0);
  fill_bytes(static_cast<std::byte*>(out.raw()), value.raw(), element_size(value.dtype()),
             out.numel());
}

// ----- Expand -----

void infer_expand(InferContext& ctx) {
  const std::vector<int64_t> dims = ctx.require_shape_value(1, "shape");
  for (int64_t d : dims) ctx.check(d >= 0, "shape ", to_string(dims), " has a negative extent");
  ctx.set_output(0, ctx.input_dtype(0), broadcast_shapes(ctx.node(), {ctx.input_shape(0), dims}));
}

void compute_expand(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() == 0) return;
  const Dims& out_shape = out.shape();
  const size_t rank = out_shape.size();
  const Dims strides = broadcast_strides(in.shape(), out_shape);
  // Trailing dims the input has in full are one contiguous run in both tensors.
  const size_t lead = rank - in.rank();
  size_t outer_rank = rank;
  int64_t run = 1;
  while (outer_rank > lead && in.dim(outer_rank - 1 - lead) == out_shape[outer_rank - 1]) {
    run *= out_shape[--outer_rank];
  }
  const size_t element = element_size(in.dtype());
  const size_t run_bytes = size_t(run) * element;
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  const int64_t count = product(out_shape, 0, outer_rank);
  std::vector<int64_t> index(outer_rank, 0);
  int64_t in_offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(dst + size_t(i) * run_bytes, src + size_t(in_offset) * element, run_bytes);
    for (size_t d = outer_rank; d-- > 0;) {
      in_offset += strides[d];
      if (++index[d] < out_shape[d]) break;
      in_offset -= strides[d] * index[d];
      index[d] = 0;
    }
  }
}

// ----- Range -----

void infer_range(InferContext& ctx) {
  const DataType t = ctx.input_dtype(0);
  ctx.check(is_range_type(t), "type ", to_string(t), " is not supported by Range");
  for (size_t i = 0; i < 3; ++i) {
    ctx.check(ctx.input_dtype(i) == t, "start, limit and delta must have one type, got ",
              to_string(t), " and ", to_string(ctx.input_dtype(i)));
    ctx.check(volume(ctx.input_shape(i)) == 1, "input ", i, " must be a scalar, got shape ",
              to_string(ctx.input_shape(i)));
  }
  if (t == DataType::kFloat16 || t == DataType::kBFloat16) {
    const int64_t stash = ctx.node().attr_int("stash_type", 1);
    ctx.check(stash == 1 || stash == 11, "stash_type ", stash, " must be 1 (float) or 11 (double)");
  }
  const Tensor& start = ctx.require_value(0, "start");
  const Tensor& limit = ctx.require_value(1, "limit");
  const Tensor& delta = ctx.require_value(2, "delta");
  ctx.set_output(0, t, {range_length(ctx.node(), start, limit, delta)});
}

void compute_range(ComputeContext& ctx) {
  const Tensor& start = ctx.input(0);
  const Tensor& delta = ctx.input(2);
  Tensor& out = ctx.output(0);
  const int64_t n = out.numel();
  switch (out.dtype()) {
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
      dispatch_storage(out.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const int64_t s = start.as_int64(0);
        const int64_t d = delta.as_int64(0);
        for (int64_t i = 0; i < n; ++i) out.data<T>()[i] = T(s + i * d);
      });
      return;
    case DataType::kFloat64: {
      const double s = start.as_double(0);
      const double d = delta.as_double(0);
      for (int64_t i = 0; i < n; ++i) out.data<double>()[i] = s + double(i) * d;
      return;
    }
    case DataType::kFloat32:
    case DataType::kFloat16:
    case DataType::kBFloat16: {
      // float32 math (also float16/bfloat16 with stash_type 1); double for stash_type 11.
      const bool in_double =
          out.dtype() != DataType::kFloat32 && ctx.node().attr_int("stash_type", 1) == 11;
      const double s = start.as_double(0);
      const double d = delta.as_double(0);
      for (int64_t i = 0; i < n; ++i) {
        const float v = in_double ? float(s + double(i) * d) : float(s) + float(i) * float(d);
        store_float(out, i, v);
      }
      return;
    }
    default:
      break;
  }
  fail(ErrorCode::kInternal, ctx.node().describe(), ": Range on ", to_string(out.dtype()));
}

// ----- Tile -----

void infer_tile(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  const Tensor& repeats_t = ctx.require_integer_value(1, "repeats");
  const std::vector<int64_t> repeats = repeats_t.to_int64_vector();
  ctx.check(repeats_t.rank() == 1 && repeats.size() == in.size(), "repeats ", to_string(repeats),
            " must be 1-D with one entry per input dim (rank ", in.size(), ")");
  Dims out = in;
  for (size_t d = 0; d < in.size(); ++d) {
    ctx.check(repeats[d] >= 0, "repeats ", to_string(repeats), " has a negative entry");
    ctx.check(!__builtin_mul_overflow(out[d], repeats[d], &out[d]), "repeats ", to_string(repeats),
              " times the input's extent ", d, " does not fit in 64 bits");
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void compute_tile(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() == 0) return;
  const size_t rank = in.rank();
  const size_t element = element_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  if (rank == 0) {
    std::memcpy(dst, src, element);
    return;
  }
  // Each output row (last dim) is the input row it wraps to, repeated; the outer output dims
  // are walked with the input index wrapping alongside.
  const Dims in_strides = contiguous_strides(in.shape());
  const size_t row_bytes = size_t(in.dim(rank - 1)) * element;
  const int64_t row_repeats = out.dim(rank - 1) / in.dim(rank - 1);
  const int64_t rows = product(out.shape(), 0, rank - 1);
  std::vector<int64_t> out_index(rank - 1, 0);
  std::vector<int64_t> in_index(rank - 1, 0);
  int64_t in_offset = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < row_repeats; ++k) {
      std::memcpy(dst, src + size_t(in_offset) * element, row_bytes);
      dst += row_bytes;
    }
    for (size_t d = rank - 1; d-- > 0;) {
      in_offset += in_strides[d];
      if (++in_index[d] == in.dim(d)) {
        in_offset -= in_strides[d] * in_index[d];
        in_index[d] = 0;
      }
      if (++out_index[d] < out.dim(d)) break;
      out_index[d] = 0;
      // out.dim(d) is a multiple of in.dim(d), so the input index has wrapped to 0 as well
    }
  }
}

// ----- Pad -----

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

PadMode read_pad_mode(const ir::Node& node) {
  const std::string mode = node.attr_string("mode", "constant");
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  if (mode == "wrap") return PadMode::kWrap;
  fail(ErrorCode::kInvalidModel, node.describe(), ": mode '", mode,
       "' is not one of constant, reflect, edge, wrap");
}

// For each dim, the source index of every output position (-1: the constant value). Negative
// pads crop the input first; positive pads then extend what is left, as numpy.pad would.
std::vector<std::vector<int64_t>> pad_maps(const ir::Node& node, const Dims& in_shape,
                                           const Tensor& pads_t, const Tensor* axes_t) {
  const std::string who = node.describe();
  const int64_t rank = int64_t(in_shape.size());
  const PadMode mode = read_pad_mode(node);
  std::vector<int64_t> axes;
  if (axes_t) {
    for (int64_t a : axes_t->to_int64_vector()) {
      KILN_CHECK(a >= -rank && a < rank, ErrorCode::kInvalidModel, who, ": axis ", a,
                 " is out of range for rank ", rank);
      axes.push_back(a < 0 ? a + rank : a);
    }
  } else {
    for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  const std::vector<int64_t> pads = pads_t.to_int64_vector();
  KILN_CHECK(pads_t.rank() == 1 && pads.size() == 2 * axes.size(), ErrorCode::kInvalidModel, who,
             ": pads ", to_string(pads), " must be 1-D with 2 entries per padded axis (",
             axes.size(), " axes)");
  std::vector<int64_t> begin(size_t(rank), 0);
  std::vector<int64_t> end(size_t(rank), 0);
  std::vector<bool> seen(size_t(rank), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t a = size_t(axes[i]);
    KILN_CHECK(!seen[a], ErrorCode::kInvalidModel, who, ": axis ", a, " is padded twice");
    seen[a] = true;
    begin[a] = pads[i];
    end[a] = pads[axes.size() + i];
  }

  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
  for (size_t d = 0; d < size_t(rank); ++d) {
    const int64_t lo = std::max<int64_t>(-begin[d], 0);
    const int64_t kept = in_shape[d] - lo - std::max<int64_t>(-end[d], 0);
    KILN_CHECK(kept >= 0, ErrorCode::kInvalidModel, who, ": pads ", to_string(pads),
               " crop more than the extent ", in_shape[d], " of dim ", d);
    const int64_t before = std::max<int64_t>(begin[d], 0);
    const int64_t after = std::max<int64_t>(end[d], 0);
    KILN_CHECK(mode == PadMode::kConstant || kept > 0 || before + after == 0,
               ErrorCode::kInvalidModel, who, ": cannot pad an empty dim ", d, " in mode ",
               node.attr_string("mode", "constant"));
    std::vector<int64_t>& map = maps[d];
    map.resize(size_t(before + kept + after));
    for (int64_t o = 0; o < int64_t(map.size()); ++o) {
      int64_t x = o - before;  // position within the kept part
      if (x < 0 || x >= kept) {
        switch (mode) {
          case PadMode::kConstant:
            x = -1;
            break;
          case PadMode::kEdge:
            x = std::clamp<int64_t>(x, 0, kept - 1);
            break;
          case PadMode::kWrap:
            x = ((x % kept) + kept) % kept;
            break;
          case PadMode::kReflect:
            if (kept == 1) {
              x = 0;
            } else {  // reflection without repeating the edge has period 2 * (kept - 1)
              const int64_t period = 2 * (kept - 1);
              x = ((x % period) + period) % period;
              if (x >= kept) x = period - x;
            }
            break;
        }
      }
      map[size_t(o)] = x < 0 ? -1 : lo + x;
    }
  }
  return maps;
}

void infer_pad(InferContext& ctx) {
  if (ctx.has_input(2)) {
    ctx.check(ctx.input_dtype(2) == ctx.input_dtype(0), "constant_value has type ",
              to_string(ctx.input_dtype(2)), " but data has ", to_string(ctx.input_dtype(0)));
    ctx.check(volume(ctx.input_shape(2)) <= 1, "constant_value must be a scalar, got shape ",
              to_string(ctx.input_shape(2)));
  }
  const auto maps = pad_maps(ctx.node(), ctx.input_shape(0), ctx.require_integer_value(1, "pads"),
                             ctx.optional_integer_value(3, "axes"));
  Dims out;
  for (const auto& m : maps) out.push_back(int64_t(m.size()));
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void compute_pad(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() == 0) return;
  const size_t element = element_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  // An omitted (or empty) constant_value means 0, whose bytes are zero for every dtype.
  const bool has_constant = ctx.has_input(2) && ctx.input(2).numel() == 1;
  const Tensor constant = has_constant ? ctx.input(2) : Tensor::zeros(in.dtype(), {});
  if (in.rank() == 0) {
    std::memcpy(dst, src, element);
    return;
  }
  const auto maps =
      pad_maps(ctx.node(), in.shape(), ctx.input(1), ctx.has_input(3) ? &ctx.input(3) : nullptr);
  const size_t rank = in.rank();
  const Dims in_strides = contiguous_strides(in.shape());

  // The last dim as segments: runs of consecutive source positions (one memcpy each) and runs
  // of constant positions (one fill each).
  struct Segment {
    int64_t source;  // first source index, -1 for constant
    int64_t length;
  };
  std::vector<Segment> segments;
  for (int64_t s : maps[rank - 1]) {
    Segment* last = segments.empty() ? nullptr : &segments.back();
    const bool extends =
        last && (s < 0 ? last->source < 0 : last->source >= 0 && last->source + last->length == s);
    if (extends) {
      ++last->length;
    } else {
      segments.push_back({s, 1});
    }
  }
  const int64_t row = out.dim(rank - 1);
  const int64_t rows = out.numel() / row;
  std::vector<int64_t> index(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    std::byte* out_row = dst + size_t(r * row) * element;
    int64_t in_offset = 0;
    bool constant_row = false;
    for (size_t d = 0; d + 1 < rank; ++d) {
      const int64_t s = maps[d][size_t(index[d])];
      if (s < 0) constant_row = true;
      in_offset += s * in_strides[d];
    }
    if (constant_row) {
      fill_bytes(out_row, constant.raw(), element, row);
    } else {
      for (const Segment& seg : segments) {
        if (seg.source < 0) {
          fill_bytes(out_row, constant.raw(), element, seg.length);
        } else {
          std::memcpy(out_row, src + size_t(in_offset + seg.source) * element,
                      size_t(seg.length) * element);
        }
        out_row += size_t(seg.length) * element;
      }
    }
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < out.dim(d)) break;
      index[d] = 0;
    }
  }
}

// ----- EyeLike -----

DataType eye_like_type(const ir::Node& node, DataType input) {
  return node.has_attr("dtype") ? dtype_attribute(node, node.attr_int("dtype")) : input;
}

void infer_eye_like(InferContext& ctx) {
  ctx.check(ctx.input_shape(0).size() == 2, "input must be 2-D, got shape ",
            to_string(ctx.input_shape(0)));
  ctx.set_output(0, eye_like_type(ctx.node(), ctx.input_dtype(0)), ctx.input_shape(0));
}

void compute_eye_like(ComputeContext& ctx) {
  Tensor& out = ctx.output(0);
  const int64_t rows = out.dim(0);
  const int64_t cols = out.dim(1);
  const int64_t k = ctx.node().attr_int("k", 0);
  const size_t element = element_size(out.dtype());
  const Tensor one = scalar_of(out.dtype(), 1.0);
  auto* dst = static_cast<std::byte*>(out.raw());
  std::memset(dst, 0, out.nbytes());
  for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) {
    std::memcpy(dst + size_t(i * cols + i + k) * element, one.raw(), element);
  }
}

// ----- Trilu -----

void infer_trilu(InferContext& ctx) {
  ctx.check(ctx.input_shape(0).size() >= 2, "input must have rank >= 2, got shape ",
            to_string(ctx.input_shape(0)));
  if (ctx.has_input(1)) {
    ctx.check(volume(ctx.input_shape(1)) == 1 && ctx.input_dtype(1) == DataType::kInt64,
              "k must be an int64 scalar");
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
}

void compute_trilu(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  const int64_t k = ctx.has_input(1) ? ctx.input(1).as_int64(0) : 0;
  const bool upper = ctx.node().attr_int("upper", 1) != 0;
  const size_t rank = in.rank();
  const int64_t rows = in.dim(rank - 2);
  const int64_t cols = in.dim(rank - 1);
  const size_t element = element_size(in.dtype());
  if (in.nbytes() && out.raw() != in.raw()) std::memcpy(out.raw(), in.raw(), in.nbytes());
  auto* dst = static_cast<std::byte*>(out.raw());
  const int64_t matrices = product(in.shape(), 0, rank - 2);
  for (int64_t m = 0; m < matrices; ++m) {
    for (int64_t i = 0; i < rows; ++i) {
      // upper keeps j >= i + k, lower keeps j <= i + k; zero the rest of the row (all-zero
      // bytes are zero in every dtype).
      const int64_t zero_begin = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, cols);
      const int64_t zero_end = upper ? std::clamp<int64_t>(i + k, 0, cols) : cols;
      if (zero_end > zero_begin) {
        std::memset(dst + size_t((m * rows + i) * cols + zero_begin) * element, 0,
                    size_t(zero_end - zero_begin) * element);
      }
    }
  }
}

// ----- OneHot -----

int64_t one_hot_axis(const ir::Node& node, int64_t indices_rank) {
  const int64_t axis = node.attr_int("axis", -1);
  KILN_CHECK(axis >= -indices_rank - 1 && axis <= indices_rank, ErrorCode::kInvalidModel,
             node.describe(), ": axis ", axis, " is out of range [", -indices_rank - 1, ", ",
             indices_rank, "]");
  return axis < 0 ? axis + indices_rank + 1 : axis;
}

void infer_one_hot(InferContext& ctx) {
  const Dims& indices = ctx.input_shape(0);
  const Tensor& depth_t = ctx.require_value(1, "depth");
  ctx.check(depth_t.numel() == 1, "depth must be a scalar, got shape ", to_string(depth_t.shape()));
  const int64_t depth = depth_t.as_int64(0);
  ctx.check(depth >= 0, "depth ", depth, " is negative");
  ctx.check(volume(ctx.input_shape(2)) == 2, "values must hold [off_value, on_value], got shape ",
            to_string(ctx.input_shape(2)));
  const int64_t axis = one_hot_axis(ctx.node(), int64_t(indices.size()));
  Dims out = indices;
  out.insert(out.begin() + axis, depth);
  ctx.set_output(0, ctx.input_dtype(2), std::move(out));
}

void compute_one_hot(ComputeContext& ctx) {
  const Tensor& indices = ctx.input(0);
  const Tensor& values = ctx.input(2);
  Tensor& out = ctx.output(0);
  const int64_t depth = ctx.input(1).as_int64(0);
  const int64_t axis = one_hot_axis(ctx.node(), int64_t(indices.rank()));
  const size_t element = element_size(out.dtype());
  const auto* off_value = static_cast<const std::byte*>(values.raw());
  const std::byte* on_value = off_value + element;
  auto* dst = static_cast<std::byte*>(out.raw());
  fill_bytes(dst, off_value, element, out.numel());
  // out[outer, d, inner] is on where indices[outer, inner] == d (negative indices count from
  // the end; out of [-depth, depth) leaves the row off).
  const int64_t inner = product(indices.shape(), size_t(axis), indices.rank());
  const int64_t count = indices.numel();
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = indices.as_int64(i);
    if (index < 0) index += depth;
    if (index < 0 || index >= depth) continue;
    const int64_t outer = i / inner;
    const int64_t pos = i % inner;
    std::memcpy(dst + size_t((outer * depth + index) * inner + pos) * element, on_value, element);
  }
}

// ----- registration -----

KILN_REGISTER_OP(OpDef{
    .name = "Shape",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          ctx.set_output_value(0, shape_value(ctx.node(), ctx.input_shape(0)));
        },
    .compute =
        [](ComputeContext& ctx) {
          copy_value(shape_value(ctx.node(), ctx.input(0).shape()), ctx.output(0));
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "Size",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          ctx.set_output_value(0, Tensor::scalar_int64(volume(ctx.input_shape(0))));
        },
    .compute =
        [](ComputeContext& ctx) {
          copy_value(Tensor::scalar_int64(ctx.input(0).numel()), ctx.output(0));
        },
});

KILN_REGISTER_OP(OpDef{
    .name = "ConstantOfShape",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_constant_of_shape,
    .compute = compute_constant_of_shape,
});

KILN_REGISTER_OP(OpDef{
    .name = "Expand",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_expand,
    .compute = compute_expand,
});

KILN_REGISTER_OP(OpDef{
    .name = "Range",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_range,
    .compute = compute_range,
});

KILN_REGISTER_OP(OpDef{
    .name = "Tile",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_tile,
    .compute = compute_tile,
});

KILN_REGISTER_OP(OpDef{
    .name = "Pad",
    .min_inputs = 2,
    .max_inputs = 4,
    .infer = infer_pad,
    .compute = compute_pad,
});

KILN_REGISTER_OP(OpDef{
    .name = "EyeLike",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_eye_like,
    .compute = compute_eye_like,
});

KILN_REGISTER_OP(OpDef{
    .name = "Trilu",
    .min_inputs = 1,
    .max_inputs = 2,
    .infer = infer_trilu,
    .compute = compute_trilu,
});

KILN_REGISTER_OP(OpDef{
    .name = "OneHot",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_one_hot,
    .compute = compute_one_hot,
});

}  // namespace

// Both declared in ops/range_length.h.
bool is_range_type(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
      return true;
    default:
      return false;
  }
}

int64_t range_length(const ir::Node& node, const Tensor& start, const Tensor& limit,
                     const Tensor& delta) {
  if (is_integer(start.dtype())) {
    const int64_t s = start.as_int64(0);
    const int64_t l = limit.as_int64(0);
    const int64_t d = delta.as_int64(0);
    KILN_CHECK(d != 0, ErrorCode::kInvalidModel, node.describe(), ": delta is 0");
    // Differences in uint64 so that spans wider than INT64_MAX (e.g. from INT64_MIN) are exact.
    auto steps = [](int64_t from, int64_t to, uint64_t step) {
      return int64_t((uint64_t(to) - uint64_t(from) - 1) / step + 1);
    };
    if (d > 0) return l > s ? steps(s, l, uint64_t(d)) : 0;
    return s > l ? steps(l, s, uint64_t(0) - uint64_t(d)) : 0;
  }
  const double s = start.as_double(0);
  const double l = limit.as_double(0);
  const double d = delta.as_double(0);
  KILN_CHECK(d != 0 && std::isfinite(s) && std::isfinite(l) && std::isfinite(d),
             ErrorCode::kInvalidModel, node.describe(), ": start ", s, ", limit ", l, " and delta ",
             d, " must be finite and delta nonzero");
  return std::max<int64_t>(
      checked_int64_from_double(std::ceil((l - s) / d), cat(node.describe(), ": element count")),
      0);
}

}  // namespace kiln::ops
