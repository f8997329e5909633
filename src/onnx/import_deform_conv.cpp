// DeformConv (opset 19; 22 only added types): kiln's op has ONNX's inputs and attributes.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"DeformConv"}, .min_opset = 19, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
