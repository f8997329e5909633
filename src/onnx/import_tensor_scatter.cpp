// TensorScatter (opset 24): kiln's op has ONNX's inputs and attributes.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"TensorScatter"}, .min_opset = 24, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
