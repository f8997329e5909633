// Reductions and TopK: `axes` (Reduce*) and `k` (TopK) were attributes in older opsets and are
// inputs in kiln's IR.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

// Reduce*-1..12/17: with no `axes` every axis was reduced, which the newest op does when the
// axes input is omitted (noop_with_empty_axes defaults to 0).
void import_reduce_axes_attribute(ImportContext& ctx) {
  std::vector<ir::Value*> inputs = {ctx.input(0)};
  if (ctx.has_attr("axes")) inputs.push_back(ctx.add_int64_constant("axes", ctx.attr_ints("axes")));
  ctx.emit(ctx.op_type(), inputs, ctx.convert_attributes({"axes"}));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"ReduceSum"}, .min_opset = 1, .max_opset = 12, .import = import_reduce_axes_attribute});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"ReduceSum"}, .min_opset = 13, .import = import_as_is});

#define KILN_REDUCE_OPS_WITH_AXES_INPUT_SINCE_18                                                \
  "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", \
      "ReduceLogSumExp", "ReduceSumSquare"

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {KILN_REDUCE_OPS_WITH_AXES_INPUT_SINCE_18},
                                            .min_opset = 1,
                                            .max_opset = 17,
                                            .import = import_reduce_axes_attribute});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {KILN_REDUCE_OPS_WITH_AXES_INPUT_SINCE_18}, .min_opset = 18, .import = import_as_is});

#undef KILN_REDUCE_OPS_WITH_AXES_INPUT_SINCE_18

// TopK-1..9: `k` attribute; the newest op reads it as a 1-element int64 input. largest and
// sorted (added in opset 11) default to the old behaviour.
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"TopK"}, .min_opset = 1, .max_opset = 9, .import = [](ImportContext& ctx) {
      if (!ctx.has_attr("k")) ctx.invalid("attribute 'k' is required at opset ", ctx.opset());
      ir::Value* k = ctx.add_int64_constant("k", {ctx.attr_int("k", 0)});
      ctx.emit("TopK", {ctx.input(0), k}, ctx.convert_attributes({"k"}));
    }});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"TopK"}, .min_opset = 10, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
