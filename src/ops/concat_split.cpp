// Concat and Split along one axis. Viewed as [outer, extent along axis, inner], each output
// (Concat) or input (Split) is a sequence of contiguous blocks of extent * inner elements, so
// the computes are memcpy loops for every dtype.
#include <cstring>
#include <limits>

#include "ops/common.h"

namespace kiln::ops {
namespace {

int64_t product(const Dims& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

void infer_concat(InferContext& ctx) {
  const Dims& first = ctx.input_shape(0);
  const int64_t rank = int64_t(first.size());
  ctx.check(rank > 0, "cannot concatenate scalars");
  const int64_t axis = normalize_axis(ctx.node(), ctx.node().attr_int("axis"), rank);
  Dims out = first;
  out[size_t(axis)] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Dims& shape = ctx.input_shape(i);
    ctx.check(ctx.input_dtype(i) == ctx.input_dtype(0), "input ", i, " has type ",
              to_string(ctx.input_dtype(i)), " but input 0 has ", to_string(ctx.input_dtype(0)));
    ctx.check(int64_t(shape.size()) == rank, "input ", i, " has shape ", to_string(shape),
              " but input 0 has ", to_string(first), " (ranks differ)");
    for (int64_t d = 0; d < rank; ++d) {
      ctx.check(d == axis || shape[size_t(d)] == first[size_t(d)], "input ", i, " has shape ",
                to_string(shape), " but input 0 has ", to_string(first),
                " (only the extent along axis ", axis, " may differ)");
    }
    out[size_t(axis)] += shape[size_t(axis)];
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void compute_concat(ComputeContext& ctx) {
  Tensor& out = ctx.output(0);
  const int64_t axis = normalize_axis(ctx.node(), ctx.node().attr_int("axis"), int64_t(out.rank()));
  const size_t element = element_size(out.dtype());
  const int64_t outer = product(out.shape(), 0, size_t(axis));
  const int64_t inner = product(out.shape(), size_t(axis) + 1, out.rank());
  const size_t out_block = size_t(out.dim(size_t(axis)) * inner) * element;
  auto* dst = static_cast<std::byte*>(out.raw());
  size_t position = 0;  // byte offset of the current input's block within an output block
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& in = ctx.input(i);
    const size_t in_block = size_t(in.dim(size_t(axis)) * inner) * element;
    const auto* src = static_cast<const std::byte*>(in.raw());
    if (in_block) {
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + size_t(o) * out_block + position, src + size_t(o) * in_block, in_block);
      }
    }
    position += in_block;
  }
}

// The extent of each output along the axis: from the `split` input, else from num_outputs
// (or the number of outputs) as equal parts with a smaller last part when it does not divide.
// Shared by infer and compute, as an omitted output leaves no tensor to read its extent from.
std::vector<int64_t> split_sizes(const ir::Node& node, const Tensor* split, int64_t outputs,
                                 int64_t extent) {
  const std::string who = node.describe();
  if (split) {
    KILN_CHECK(!node.has_attr("num_outputs"), ErrorCode::kInvalidModel, who,
               ": give either the split input or the num_outputs attribute, not both");
    KILN_CHECK(split->rank() == 1, ErrorCode::kInvalidModel, who, ": split must be 1-D, got shape ",
               to_string(split->shape()));
    std::vector<int64_t> sizes = split->to_int64_vector();
    KILN_CHECK(int64_t(sizes.size()) == outputs, ErrorCode::kInvalidModel, who, ": split ",
               to_string(sizes), " has ", sizes.size(), " entries for ", outputs, " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      KILN_CHECK(s >= 0, ErrorCode::kInvalidModel, who, ": split ", to_string(sizes),
                 " has a negative size");
      sum += s;
    }
    KILN_CHECK(sum == extent, ErrorCode::kInvalidModel, who, ": split ", to_string(sizes),
               " adds up to ", sum, " but the axis has extent ", extent);
    return sizes;
  }
  int64_t parts = outputs;
  if (node.has_attr("num_outputs")) {
    parts = node.attr_int("num_outputs");
    KILN_CHECK(parts == outputs, ErrorCode::kInvalidModel, who, ": num_outputs is ", parts,
               " but the node has ", outputs, " outputs");
  }
  const int64_t chunk = (extent + parts - 1) / parts;
  const int64_t last = extent - chunk * (parts - 1);
  KILN_CHECK(last >= 0, ErrorCode::kInvalidModel, who, ": cannot split extent ", extent, " into ",
             parts, " parts of ", chunk, " with a smaller last part");
  std::vector<int64_t> sizes(size_t(parts), chunk);
  sizes.back() = last;
  return sizes;
}

void infer_split(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  ctx.check(!in.empty(), "cannot split a scalar");
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(in.size()));
  const Tensor* split = ctx.optional_integer_value(1, "split");
  std::vector<int64_t> sizes =
      split_sizes(ctx.node(), split, int64_t(ctx.num_outputs()), in[size_t(axis)]);
  for (size_t i = 0; i < sizes.size(); ++i) {
    Dims out = in;
    out[size_t(axis)] = sizes[i];
    ctx.set_output(i, ctx.input_dtype(0), std::move(out));
  }
}

void compute_split(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(in.rank()));
  const size_t element = element_size(in.dtype());
  const int64_t outer = product(in.shape(), 0, size_t(axis));
  const int64_t inner = product(in.shape(), size_t(axis) + 1, in.rank());
  const size_t in_block = size_t(in.dim(size_t(axis)) * inner) * element;
  const auto* src = static_cast<const std::byte*>(in.raw());
  const std::vector<int64_t> sizes =
      split_sizes(ctx.node(), ctx.has_input(1) ? &ctx.input(1) : nullptr,
                  int64_t(ctx.num_outputs()), in.dim(size_t(axis)));
  size_t position = 0;
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    const size_t out_block = size_t(sizes[i] * inner) * element;
    if (!ctx.has_output(i)) {  // omitted output: skip its part
      position += out_block;
      continue;
    }
    auto* dst = static_cast<std::byte*>(ctx.output(i).raw());
    if (out_block) {
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(dst + size_t(o) * out_block, src + size_t(o) * in_block + position, out_block);
      }
    }
    position += out_block;
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Concat",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = infer_concat,
    .compute = compute_concat,
});

KILN_REGISTER_OP(OpDef{
    .name = "Split",
    .min_inputs = 1,
    .max_inputs = 2,
    .min_outputs = 1,
    .max_outputs = std::numeric_limits<int>::max(),
    .infer = infer_split,
    .compute = compute_split,
});

}  // namespace
}  // namespace kiln::ops
