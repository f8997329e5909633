// ReverseSequence (ONNX opset 10): for each batch entry b, the first sequence_lens[b] steps
// along the time axis are reversed and the rest copied. batch_axis and time_axis are 0 and 1
// (either way round). Elements are moved as bytes, so every type is supported.
#include <cstring>

#include "ops/op.h"

namespace kiln::ops {
namespace {

struct Axes {
  int64_t batch = 1;
  int64_t time = 0;
};

Axes read_axes(const InferContext& ctx) {
  Axes axes{ctx.node().attr_int("batch_axis", 1), ctx.node().attr_int("time_axis", 0)};
  ctx.check((axes.batch == 0 || axes.batch == 1) && (axes.time == 0 || axes.time == 1) &&
                axes.batch != axes.time,
            "batch_axis and time_axis must be 0 and 1 in either order, got ", axes.batch, " and ",
            axes.time);
  return axes;
}

void infer_reverse_sequence(InferContext& ctx) {
  const Dims& shape = ctx.input_shape(0);
  ctx.check(shape.size() >= 2, "input must have rank 2 or more, got shape ", to_string(shape));
  const Axes axes = read_axes(ctx);
  ctx.check(ctx.input_dtype(1) == DataType::kInt64, "sequence_lens must be int64, got ",
            to_string(ctx.input_dtype(1)));
  const Dims& lens = ctx.input_shape(1);
  ctx.check(lens.size() == 1 && lens[0] == shape[size_t(axes.batch)], "sequence_lens has shape ",
            to_string(lens), " but the batch axis has extent ", shape[size_t(axes.batch)]);
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

void compute_reverse_sequence(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& lens = ctx.input(1);
  Tensor& y = ctx.output(0);
  const bool batch_first = ctx.node().attr_int("batch_axis", 1) == 0;
  const int64_t batch = x.dim(batch_first ? 0 : 1);
  const int64_t time = x.dim(batch_first ? 1 : 0);
  // Bytes of one [b, t] entry: everything after the first two dims.
  const size_t entry = x.numel() == 0 ? 0 : x.nbytes() / size_t(batch * time);
  auto offset = [&](int64_t b, int64_t t) {
    return size_t(batch_first ? b * time + t : t * batch + b) * entry;
  };
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(y.raw());
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lens.as_int64(b);
    KILN_CHECK(len >= 0 && len <= time, ErrorCode::kInvalidArgument, ctx.node().describe(),
               ": sequence_lens[", b, "] = ", len, " is outside [0, ", time, "]");
    for (int64_t t = 0; t < time; ++t) {
      const int64_t from = t < len ? len - 1 - t : t;
      std::memcpy(dst + offset(b, t), src + offset(b, from), entry);
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "ReverseSequence",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer = infer_reverse_sequence,
    .compute = compute_reverse_sequence,
});

}  // namespace
}  // namespace kiln::ops
