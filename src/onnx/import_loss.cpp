// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Every opset since their introduction
// (12) has the same inputs, attributes and semantics as the newest; later versions only added
// element types (13: float16/bfloat16 reach both; 22: NLL's bfloat16), so the node is imported
// as is.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"},
    .min_opset = 12,
    .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
