// BitCast (ONNX opset 26): the input's bytes reinterpreted as another type of the same width,
// shape unchanged. `to` is an int64 kiln::DataType (the importer converts ONNX's number).
// kiln stores every type little-endian on the hosts it runs on, as ONNX requires.
#include <cstring>

#include "ops/op.h"

namespace kiln::ops {
namespace {

DataType target_type(const InferContext& ctx) {
  const int64_t raw = ctx.node().attr_int("to");
  ctx.check(raw >= 0 && raw <= int64_t(DataType::kUInt64), "'to' ", raw, " is not a data type");
  return DataType(raw);
}

KILN_REGISTER_OP(OpDef{
    .name = "BitCast",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          const DataType from = ctx.input_dtype(0);
          const DataType to = target_type(ctx);
          ctx.check(element_size(from) == element_size(to), "cannot reinterpret ", to_string(from),
                    " (", element_size(from) * 8, " bits) as ", to_string(to), " (",
                    element_size(to) * 8, " bits): the widths must match");
          ctx.set_output(0, to, ctx.input_shape(0));
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          Tensor& y = ctx.output(0);
          if (x.nbytes() != 0) std::memcpy(y.raw(), x.raw(), x.nbytes());
        },
});

}  // namespace
}  // namespace kiln::ops
