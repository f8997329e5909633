// Identity: output = input. Dropout at inference (or in training mode with ratio 0) is also
// the identity, its optional mask output all true, so it is defined here too.
#include <cstring>

#include "ops/op.h"

namespace kiln::ops {
namespace {

void copy_input(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  if (in.nbytes() && ctx.output(0).raw() != in.raw()) {
    std::memcpy(ctx.output(0).raw(), in.raw(), in.nbytes());
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Identity",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0)); },
    .compute = copy_input,
});

KILN_REGISTER_OP(OpDef{
    .name = "Dropout",
    .min_inputs = 1,
    .max_inputs = 3,  // data, ratio, training_mode
    .min_outputs = 1,
    .max_outputs = 2,
    .infer =
        [](InferContext& ctx) {
          // Training mode with ratio 0 drops nothing (torch's dynamo exporter writes it for
          // dropout layers of eval-mode models); any other training-mode dropout is random.
          const Tensor* training = ctx.input_value(2);
          if (ctx.has_input(2) && (!training || training->as_int64(0) != 0)) {
            const Tensor* ratio = ctx.input_value(1);
            ctx.check(ratio != nullptr && ratio->numel() == 1 && ratio->as_double(0) == 0.0,
                      "training_mode=true with a nonzero or unknown ratio is random; kiln runs "
                      "inference only");
          }
          ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
          if (ctx.num_outputs() > 1) ctx.set_output(1, DataType::kBool, ctx.input_shape(0));
        },
    .compute =
        [](ComputeContext& ctx) {
          copy_input(ctx);
          if (ctx.has_output(1)) {
            Tensor& mask = ctx.output(1);
            std::memset(mask.raw(), 1, mask.nbytes());
          }
        },
});

}  // namespace
}  // namespace kiln::ops
