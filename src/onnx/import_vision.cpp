// Importers for the detection / vision ops that import_passthrough.cpp does not list: MaxUnpool
// and TfIdfVectorizer (1:1 at every opset), and RoiAlign before opset 16. Opset 10's RoiAlign
// had no coordinate_transformation_mode: it behaved as opset 16's "output_half_pixel", while
// opset 16 defaults to "half_pixel", so the importer spells the old behavior out.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

void import_roi_align_v10(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes();
  attrs["coordinate_transformation_mode"] = std::string("output_half_pixel");
  ctx.emit("RoiAlign", ctx.inputs(), std::move(attrs));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"RoiAlign"}, .min_opset = 10, .max_opset = 15, .import = import_roi_align_v10});

// MaxUnpool 9 and 11 differ from 22 only in the types they accept.
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"MaxUnpool", "TfIdfVectorizer"}, .min_opset = 9, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
