// Softmax, LogSoftmax and Hardmax before opset 13 coerced the input to 2-D at `axis`
// ([prod(d < axis), prod(d >= axis)]) and normalized each row, i.e. over all dims from `axis`
// on. Opset 13 normalizes over the one dim `axis`. The old meaning is Flatten + the op on the
// last axis + Reshape back to the input's shape (read with Shape, so dynamic shapes work).
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

void import_softmax_v1(ImportContext& ctx) {
  ir::Value* x = ctx.input(0);
  const int64_t axis = ctx.attr_int("axis", 1);
  const auto rank = ImportContext::known_rank(x);
  // Over the last axis both meanings agree.
  if (axis == -1 || (rank && axis == int64_t(*rank) - 1)) {
    ctx.emit(ctx.op_type(), {x}, {{"axis", int64_t(-1)}});
    return;
  }
  ir::Value* shape = ctx.emit_helper("Shape", "input_shape", {x});
  ir::Value* rows = ctx.emit_helper("Flatten", "to_2d", {x}, {{"axis", axis}});
  ir::Node* op = ctx.add_node(ctx.op_type(), ctx.name(), {rows}, {ctx.fresh_name("2d")},
                              {{"axis", int64_t(-1)}});
  ir::Node* back = ctx.add_node("Reshape", ctx.name() + "/restore_shape", {op->outputs[0], shape},
                                {ctx.output_name(0)});
  ctx.bind_output(0, back->outputs[0]);
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {"Softmax", "LogSoftmax", "Hardmax"},
                                            .min_opset = 1,
                                            .max_opset = 12,
                                            .import = import_softmax_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Softmax", "LogSoftmax", "Hardmax"}, .min_opset = 13, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
