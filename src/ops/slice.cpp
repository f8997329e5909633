// Slice: data[starts:ends:steps] along the given axes (default 0..len(starts)-1), with steps
// defaulting to 1. Negative starts/ends count from the end; then they are clamped as the spec
// says: to [0, dim] for positive steps, to [0, dim-1] (start) and [-1, dim-1] (end) for
// negative steps, so that out-of-range values (INT64_MAX as "to the end") just work.
#include <algorithm>
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

// Per input dim: first index read, step between reads, and number of reads.
struct SliceDims {
  Dims start;
  Dims step;
  Dims extent;
};

SliceDims plan_slice(const ir::Node& node, const Dims& in_shape, const Tensor& starts_t,
                     const Tensor& ends_t, const Tensor* axes_t, const Tensor* steps_t) {
  const std::string who = node.describe();
  const int64_t rank = int64_t(in_shape.size());
  for (const Tensor* t : {&starts_t, &ends_t, axes_t, steps_t}) {
    if (!t) continue;
    KILN_CHECK(t->rank() == 1 && (t->dtype() == DataType::kInt64 || t->dtype() == DataType::kInt32),
               ErrorCode::kInvalidModel, who,
               ": starts, ends, axes and steps must be 1-D int32 or "
               "int64, got ",
               to_string(t->dtype()), " of shape ", to_string(t->shape()));
  }
  const std::vector<int64_t> starts = starts_t.to_int64_vector();
  const std::vector<int64_t> ends = ends_t.to_int64_vector();
  const size_t n = starts.size();
  KILN_CHECK(ends.size() == n, ErrorCode::kInvalidModel, who, ": starts has ", n,
             " entries but ends has ", ends.size());
  std::vector<int64_t> axes;
  if (axes_t) {
    axes = axes_t->to_int64_vector();
    KILN_CHECK(axes.size() == n, ErrorCode::kInvalidModel, who, ": starts has ", n,
               " entries but axes has ", axes.size());
    for (int64_t& a : axes) {
      KILN_CHECK(a >= -rank && a < rank, ErrorCode::kInvalidModel, who, ": axis ", a,
                 " is out of range for rank ", rank);
      if (a < 0) a += rank;
    }
  } else {
    KILN_CHECK(int64_t(n) <= rank, ErrorCode::kInvalidModel, who, ": ", n,
               " starts for an input of rank ", rank);
    for (size_t i = 0; i < n; ++i) axes.push_back(int64_t(i));
  }
  std::vector<int64_t> steps(n, 1);
  if (steps_t) {
    steps = steps_t->to_int64_vector();
    KILN_CHECK(steps.size() == n, ErrorCode::kInvalidModel, who, ": starts has ", n,
               " entries but steps has ", steps.size());
  }

  SliceDims plan{Dims(size_t(rank), 0), Dims(size_t(rank), 1), in_shape};
  std::vector<bool> seen(size_t(rank), false);
  for (size_t i = 0; i < n; ++i) {
    const size_t axis = size_t(axes[i]);
    KILN_CHECK(!seen[axis], ErrorCode::kInvalidModel, who, ": axis ", axis, " is sliced twice");
    seen[axis] = true;
    const int64_t step = steps[i];
    KILN_CHECK(step != 0, ErrorCode::kInvalidModel, who, ": step 0 on axis ", axis);
    const int64_t dim = in_shape[axis];
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t extent = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      // Written so that end - start cannot overflow: both are in [0, dim].
      extent = end > start ? (end - start - 1) / step + 1 : 0;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      extent = start > end ? (start - end - 1) / -step + 1 : 0;
    }
    plan.start[axis] = extent > 0 ? start : 0;
    plan.step[axis] = step;
    plan.extent[axis] = extent;
  }
  return plan;
}

void infer_slice(InferContext& ctx) {
  SliceDims plan =
      plan_slice(ctx.node(), ctx.input_shape(0), ctx.require_integer_value(1, "starts"),
                 ctx.require_integer_value(2, "ends"), ctx.optional_integer_value(3, "axes"),
                 ctx.optional_integer_value(4, "steps"));
  ctx.set_output(0, ctx.input_dtype(0), std::move(plan.extent));
}

void compute_slice(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() == 0) return;
  const SliceDims plan = plan_slice(ctx.node(), in.shape(), ctx.input(1), ctx.input(2),
                                    ctx.has_input(3) ? &ctx.input(3) : nullptr,
                                    ctx.has_input(4) ? &ctx.input(4) : nullptr);
  const Dims strides = contiguous_strides(in.shape());
  const size_t rank = in.rank();

  // Trailing dims taken whole form one contiguous block of the input and of the output; a dim
  // before them read with step 1 extends that block.
  size_t outer_rank = rank;
  int64_t block = 1;
  while (outer_rank > 0 && plan.start[outer_rank - 1] == 0 && plan.step[outer_rank - 1] == 1 &&
         plan.extent[outer_rank - 1] == in.dim(outer_rank - 1)) {
    block *= in.dim(--outer_rank);
  }
  if (outer_rank > 0 && plan.step[outer_rank - 1] == 1) block *= plan.extent[--outer_rank];

  int64_t in_offset = 0;
  for (size_t d = 0; d < rank; ++d) in_offset += plan.start[d] * strides[d];
  int64_t count = 1;
  for (size_t d = 0; d < outer_rank; ++d) count *= plan.extent[d];

  const size_t element = element_size(in.dtype());
  const size_t block_bytes = size_t(block) * element;
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  std::vector<int64_t> index(outer_rank, 0);
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(dst + size_t(i) * block_bytes, src + size_t(in_offset) * element, block_bytes);
    for (size_t d = outer_rank; d-- > 0;) {
      in_offset += plan.step[d] * strides[d];
      if (++index[d] < plan.extent[d]) break;
      in_offset -= plan.step[d] * strides[d] * index[d];
      index[d] = 0;
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Slice",
    .min_inputs = 3,
    .max_inputs = 5,
    .infer = infer_slice,
    .compute = compute_slice,
});

}  // namespace
}  // namespace kiln::ops
