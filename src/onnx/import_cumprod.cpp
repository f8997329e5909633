// CumProd (opset 26, the first and newest version) imports 1:1.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"CumProd"}, .min_opset = 26, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
