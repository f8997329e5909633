// Where: out = condition ? X : Y, with numpy broadcasting of all three inputs.
//
// The choice only moves elements, so X and Y are handled as unsigned integers of their
// element size and every dtype shares the same four loops.
#include "ops/elementwise_common.h"

namespace kiln::ops {
namespace {

using namespace elementwise;

void infer_where(InferContext& ctx) {
  check_input_type(ctx, 0, kBoolType);
  check_input_type(ctx, 1, kAllTypes);
  check_same_types(ctx, 1, 3);
  ctx.set_output(0, ctx.input_dtype(1), broadcast_input_shapes(ctx, 0, 3));
}

template <typename Bits>
void select(const Tensor& condition, const Tensor& x, const Tensor& y, Tensor& out) {
  using K = Direct<Bits>;
  map_ternary<BoolKind, K, K, K>(condition, x, y, out,
                                 [](bool c, Bits a, Bits b) { return c ? a : b; });
}

void compute_where(ComputeContext& ctx) {
  const Tensor& condition = ctx.input(0);
  const Tensor& x = ctx.input(1);
  const Tensor& y = ctx.input(2);
  Tensor& out = ctx.output(0);
  switch (element_size(x.dtype())) {
    case 1:
      return select<uint8_t>(condition, x, y, out);
    case 2:
      return select<uint16_t>(condition, x, y, out);
    case 4:
      return select<uint32_t>(condition, x, y, out);
    case 8:
      return select<uint64_t>(condition, x, y, out);
  }
  fail(ErrorCode::kInternal, ctx.node().describe(), ": no select for elements of ",
       element_size(x.dtype()), " bytes");
}

KILN_REGISTER_OP(OpDef{
    .name = "Where",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_where,
    .compute = compute_where,
});

}  // namespace
}  // namespace kiln::ops
