// Attention (opsets 23 to 25). kiln's op has opset 25's inputs and attributes; the older opsets
// are subsets of it (24 added nonpad_kv_seqlen, 25 the window sizes, whose defaults of -1 mean
// no window), so every version imports as is, except that softmax_precision holds an ONNX type
// number, which kiln's IR keeps as a kiln DataType.
#include "onnx/op_importer.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {
namespace {

void import_attention(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes({"softmax_precision"});
  if (ctx.has_attr("softmax_precision")) {
    const int64_t onnx_type = ctx.attr_int("softmax_precision", 0);
    attrs["softmax_precision"] =
        int64_t(require_kiln_dtype(int32_t(onnx_type), "Attention's softmax_precision"));
  }
  ctx.emit("Attention", ctx.inputs(), std::move(attrs));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Attention"}, .min_opset = 23, .import = import_attention});

}  // namespace
}  // namespace kiln::onnx_import
