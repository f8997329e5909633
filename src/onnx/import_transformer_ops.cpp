// Swish (opset 24) and SwiGLU (opset 28): each exists in a single version, imported as is.
// (RMSNormalization and RotaryEmbedding are in import_passthrough.cpp.)
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Swish"}, .min_opset = 24, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"SwiGLU"}, .min_opset = 28, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
