// Signal processing ops: DFT, STFT, the window generators and MelWeightMatrix (all from
// opset 17). DFT-17..19 had `axis` as an attribute (default 1); opset 20 made it an input
// (default -2), which is kiln's form. The generators' `output_datatype` holds an ONNX type
// number, which kiln's IR holds as a kiln::DataType.
#include "onnx/op_importer.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {
namespace {

void import_dft_v17(ImportContext& ctx) {
  ir::Value* axis = ctx.add_constant("axis", Tensor::scalar_int64(ctx.attr_int("axis", 1)));
  ctx.emit("DFT", {ctx.input(0), ctx.input(1), axis}, ctx.convert_attributes({"axis"}));
}

// ONNX's default output_datatype is 1 (FLOAT).
void import_with_output_datatype(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes({"output_datatype"});
  attrs["output_datatype"] = int64_t(require_kiln_dtype(int32_t(ctx.attr_int("output_datatype", 1)),
                                                        "attribute 'output_datatype'"));
  ctx.emit(ctx.op_type(), ctx.inputs(), std::move(attrs));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"DFT"}, .min_opset = 17, .max_opset = 19, .import = import_dft_v17});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"DFT"}, .min_opset = 20, .import = import_as_is});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"STFT"}, .min_opset = 17, .import = import_as_is});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix"},
    .min_opset = 17,
    .import = import_with_output_datatype});

}  // namespace
}  // namespace kiln::onnx_import
