// BitwiseAnd/Or/Xor/Not (opset 18) import 1:1. BitCast (opset 26) names its target type with
// an ONNX type number in `to`, which kiln's IR holds as a kiln::DataType.
#include "onnx/op_importer.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {
namespace {

void import_bitcast(ImportContext& ctx) {
  if (!ctx.has_attr("to")) ctx.invalid("attribute 'to' is required");
  ir::Attributes attrs = ctx.convert_attributes({"to"});
  attrs["to"] = int64_t(require_kiln_dtype(int32_t(ctx.attr_int("to", 0)), "attribute 'to'"));
  ctx.emit("BitCast", ctx.inputs(), std::move(attrs));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"},
    .min_opset = 18,
    .import = import_as_is});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"BitCast"}, .min_opset = 26, .import = import_bitcast});

}  // namespace
}  // namespace kiln::onnx_import
