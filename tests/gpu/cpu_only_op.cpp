// Registers gpu_test::kCpuOnlyOp (cpu_only_op.h): an identity with a CPU kernel only.
#include "gpu/cpu_only_op.h"

#include <cstring>

#include "ops/op.h"

namespace kiln::gpu_test {
namespace {

KILN_REGISTER_OP(ops::OpDef{
    .name = kCpuOnlyOp,
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](ops::InferContext& ctx) { ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0)); },
    .compute =
        [](ops::ComputeContext& ctx) {
          const Tensor& in = ctx.input(0);
          if (in.nbytes()) std::memcpy(ctx.output(0).raw(), in.raw(), in.nbytes());
        },
});

}  // namespace
}  // namespace kiln::gpu_test
