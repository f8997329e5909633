// Reshape, Flatten, Squeeze, Unsqueeze: ops that change only the shape. The elements keep their
// row-major order, so every compute is one memcpy (or nothing when the executor aliases the
// output to the input).
#include <algorithm>
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

void copy_bytes(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  KILN_ASSERT(in.nbytes() == out.nbytes());
  if (in.nbytes() && out.raw() != in.raw()) std::memcpy(out.raw(), in.raw(), in.nbytes());
}

// Reshape's target shape: 0 copies the input's extent at the same position (unless allowzero,
// where 0 is a real zero extent), one -1 takes whatever extent keeps the element count.
Dims reshape_target(const InferContext& ctx, const Dims& in_shape, std::vector<int64_t> spec,
                    bool allowzero) {
  const int64_t in_volume = volume(in_shape);
  int64_t inferred_axis = -1;
  int64_t known_volume = 1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t& d = spec[i];
    if (d == -1) {
      ctx.check(inferred_axis < 0, "shape ", to_string(spec), " has more than one -1");
      inferred_axis = int64_t(i);
      continue;
    }
    ctx.check(d >= 0, "shape ", to_string(spec), " has a negative extent other than -1");
    if (d == 0) {
      has_zero = true;
      if (!allowzero) {
        ctx.check(i < in_shape.size(), "shape ", to_string(spec), " has 0 at position ", i,
                  " but the input ", to_string(in_shape), " has only rank ", in_shape.size());
        d = in_shape[i];
      }
    }
    ctx.check(!__builtin_mul_overflow(known_volume, d, &known_volume), "shape ", to_string(spec),
              " has more elements than fit in 64 bits");
  }
  if (inferred_axis >= 0) {
    ctx.check(!(allowzero && has_zero), "shape ", to_string(spec),
              " has both 0 and -1, which allowzero=1 forbids");
    ctx.check(known_volume != 0, "shape ", to_string(spec),
              " leaves the -1 extent undetermined (the other extents multiply to 0)");
    ctx.check(in_volume % known_volume == 0, "cannot reshape ", to_string(in_shape), " (",
              in_volume, " elements) to ", to_string(spec));
    spec[size_t(inferred_axis)] = in_volume / known_volume;
  } else {
    ctx.check(known_volume == in_volume, "cannot reshape ", to_string(in_shape), " (", in_volume,
              " elements) to ", to_string(spec), " (", known_volume, " elements)");
  }
  return spec;
}

void infer_reshape(InferContext& ctx) {
  const std::vector<int64_t> shape = ctx.require_shape_value(1, "shape");
  const bool allowzero = ctx.node().attr_int("allowzero", 0) != 0;
  ctx.set_output(0, ctx.input_dtype(0), reshape_target(ctx, ctx.input_shape(0), shape, allowzero));
}

void infer_flatten(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  const int64_t rank = int64_t(in.size());
  int64_t axis = ctx.node().attr_int("axis", 1);
  ctx.check(axis >= -rank && axis <= rank, "axis ", axis, " is out of range [", -rank, ", ", rank,
            "]");
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= in[size_t(i)];
  ctx.set_output(0, ctx.input_dtype(0), {outer, inner});
}

// Axes from an optional int64 input, normalized against `rank` and checked for duplicates.
std::vector<int64_t> read_axes(const InferContext& ctx, size_t input, int64_t rank) {
  const Tensor& t = ctx.require_integer_value(input, "axes");
  ctx.check(t.rank() <= 1, "axes must be a scalar or 1-D, got shape ", to_string(t.shape()));
  std::vector<int64_t> axes = t.to_int64_vector();
  for (int64_t& a : axes) {
    // normalize_axis accepts axis 0 of a scalar; squeezing a scalar has no axis to name
    ctx.check(a >= -rank && a < rank, "axis ", a, " is out of range for rank ", rank);
    if (a < 0) a += rank;
  }
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  ctx.check(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "axes ",
            to_string(t.to_int64_vector()), " repeat an axis");
  return axes;
}

void infer_squeeze(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  std::vector<bool> drop(in.size(), false);
  if (ctx.has_input(1)) {
    for (int64_t a : read_axes(ctx, 1, int64_t(in.size()))) {
      ctx.check(in[size_t(a)] == 1, "cannot squeeze axis ", a, " of shape ", to_string(in),
                ": its extent is not 1");
      drop[size_t(a)] = true;
    }
  } else {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  }
  Dims out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

void infer_unsqueeze(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  const Tensor& axes_value = ctx.require_integer_value(1, "axes");
  const int64_t out_rank = int64_t(in.size()) + axes_value.numel();
  std::vector<int64_t> axes = read_axes(ctx, 1, out_rank);
  std::vector<bool> inserted(size_t(out_rank), false);
  for (int64_t a : axes) inserted[size_t(a)] = true;
  Dims out;
  size_t next_input_dim = 0;
  for (int64_t i = 0; i < out_rank; ++i) {
    out.push_back(inserted[size_t(i)] ? 1 : in[next_input_dim++]);
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

KILN_REGISTER_OP(OpDef{
    .name = "Reshape",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_reshape,
    .compute = copy_bytes,
});

KILN_REGISTER_OP(OpDef{
    .name = "Flatten",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_flatten,
    .compute = copy_bytes,
});

KILN_REGISTER_OP(OpDef{
    .name = "Squeeze",
    .min_inputs = 1,
    .max_inputs = 2,
    .infer = infer_squeeze,
    .compute = copy_bytes,
});

KILN_REGISTER_OP(OpDef{
    .name = "Unsqueeze",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_unsqueeze,
    .compute = copy_bytes,
});

}  // namespace
}  // namespace kiln::ops
