// TensorScatter (ONNX opset 24): a KV-cache update. The output is past_cache with, for every
// index `prefix` over the dims before `axis` (batch b = prefix[0]), the update's rows
// update[prefix, s] written at past_cache[prefix, write_indices[b] + s] (mod the cache's extent
// along `axis` when mode is "circular"). write_indices (int64, one per batch entry) defaults to
// zeros. Elements are moved as bytes, so every type is supported.
#include "ops/tensor_scatter.h"

#include <cstring>
#include <string>

#include "ops/common.h"

namespace kiln::ops {

bool tensor_scatter_is_circular(const ir::Node& node) {
  const std::string mode = node.attr_string("mode", "linear");
  if (mode != "linear" && mode != "circular") {
    fail(ErrorCode::kInvalidModel, node.describe(), ": mode '", mode,
         "' is not linear or circular");
  }
  return mode == "circular";
}

TensorScatterLayout tensor_scatter_layout(const ir::Node& node, const Dims& cache,
                                          const Dims& update, DataType dtype) {
  const int64_t rank = int64_t(cache.size());
  const int64_t axis = normalize_axis(node, node.attr_int("axis", -2), rank);
  KILN_CHECK(axis != 0, ErrorCode::kInvalidModel, node.describe(),
             ": axis cannot be 0 (the batch dimension)");
  TensorScatterLayout l;
  for (int64_t d = 0; d < axis; ++d) l.outer *= cache[size_t(d)];
  l.cache_len = cache[size_t(axis)];
  l.update_len = update[size_t(axis)];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= cache[size_t(d)];
  l.row_bytes = size_t(inner) * element_size(dtype);
  return l;
}

namespace {

void infer_tensor_scatter(InferContext& ctx) {
  const Dims& cache = ctx.input_shape(0);
  const Dims& update = ctx.input_shape(1);
  ctx.check(cache.size() >= 2, "past_cache must have rank 2 or more, got shape ", to_string(cache));
  ctx.check(ctx.input_dtype(1) == ctx.input_dtype(0), "update has type ",
            to_string(ctx.input_dtype(1)), " but past_cache has type ",
            to_string(ctx.input_dtype(0)));
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", -2), int64_t(cache.size()));
  ctx.check(axis != 0, "axis cannot be 0 (the batch dimension)");
  tensor_scatter_is_circular(ctx.node());
  bool compatible = update.size() == cache.size();
  for (size_t d = 0; compatible && d < cache.size(); ++d) {
    compatible = int64_t(d) == axis ? update[d] <= cache[d] : update[d] == cache[d];
  }
  ctx.check(compatible, "update has shape ", to_string(update), ", which must equal past_cache's ",
            to_string(cache), " except along axis ", axis, ", where it may be shorter");
  if (ctx.has_input(2)) {
    ctx.check(ctx.input_dtype(2) == DataType::kInt64, "write_indices must be int64, got ",
              to_string(ctx.input_dtype(2)));
    ctx.check(ctx.input_shape(2) == Dims{cache[0]}, "write_indices has shape ",
              to_string(ctx.input_shape(2)), "; one index per batch entry (", cache[0],
              ") expected");
  }
  ctx.set_output(0, ctx.input_dtype(0), cache);
}

void compute_tensor_scatter(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& cache = ctx.input(0);
  const Tensor& update = ctx.input(1);
  const Tensor* indices = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  Tensor& out = ctx.output(0);
  const TensorScatterLayout l =
      tensor_scatter_layout(node, cache.shape(), update.shape(), cache.dtype());
  const bool circular = tensor_scatter_is_circular(node);
  if (out.raw() != cache.raw() && cache.nbytes()) {
    std::memcpy(out.raw(), cache.raw(), cache.nbytes());
  }
  if (l.outer == 0 || l.update_len == 0 || l.row_bytes == 0) return;
  const int64_t per_batch = l.outer / cache.dim(0);  // prefixes that share one batch entry
  const auto* src = static_cast<const std::byte*>(update.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t prefix = 0; prefix < l.outer; ++prefix) {
    const int64_t batch = prefix / per_batch;
    const int64_t start = indices ? indices->as_int64(batch) : 0;
    for (int64_t s = 0; s < l.update_len; ++s) {
      int64_t at = start + s;
      if (circular) {
        at %= l.cache_len;
        if (at < 0) at += l.cache_len;
      }
      KILN_CHECK(at >= 0 && at < l.cache_len, ErrorCode::kInvalidArgument, node.describe(),
                 ": write_indices[", batch, "] = ", start, " puts update step ", s, " at ", at,
                 ", outside the cache's ", l.cache_len, " steps (mode linear)");
      std::memcpy(dst + size_t(prefix * l.cache_len + at) * l.row_bytes,
                  src + size_t(prefix * l.update_len + s) * l.row_bytes, l.row_bytes);
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "TensorScatter",
    .min_inputs = 2,
    .max_inputs = 3,
    .infer = infer_tensor_scatter,
    .compute = compute_tensor_scatter,
});

}  // namespace
}  // namespace kiln::ops
