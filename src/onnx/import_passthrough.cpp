// Ops imported 1:1: kiln's op has the ONNX op's name, inputs and attributes. Each op is listed
// from the first opset whose semantics equal the newest one's (later versions only added types
// or negative axes); older opsets that differ have their own importers in the family files.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Abs", "Neg", "Floor", "Ceil", "Reciprocal", "Sqrt", "Exp", "Log", "Tanh", "Sigmoid",
            "Relu", "LeakyRelu", "Elu", "Selu", "HardSigmoid", "Softplus", "Softsign", "Identity",
            "Transpose", "MatMul", "Not", "Flatten", "GlobalAveragePool", "GlobalMaxPool",
            "GlobalLpPool", "Max", "Min", "Sum", "Mean", "Conv", "ConvTranspose", "MaxPool",
            "AveragePool", "LpPool", "LpNormalization", "InstanceNormalization", "LRN", "Shape",
            "Size", "Gather", "ArgMax", "ArgMin", "DepthToSpace", "SpaceToDepth",
            // Their ONNX type numbers become kiln DataTypes in convert_attributes.
            "Cast", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike"},
    .min_opset = 1,
    .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Tile"}, .min_opset = 6, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {"PRelu", "Sin", "Cos", "Tan", "Asin", "Acos",
                                                    "Atan", "Multinomial", "GRU", "LSTM", "RNN"},
                                            .min_opset = 7,
                                            .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Expand"}, .min_opset = 8, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Where", "Erf", "Sign", "IsNaN", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "OneHot",
            "ConstantOfShape", "EyeLike", "NonZero", "Compress", "Shrink",
            "MeanVarianceNormalization"},
    .min_opset = 9,
    .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"IsInf", "Mod", "ThresholdedRelu", "QuantizeLinear", "DequantizeLinear", "QLinearConv",
            "QLinearMatMul", "MatMulInteger", "ConvInteger", "NonMaxSuppression",
            "ReverseSequence"},
    .min_opset = 10,
    .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Round", "Range", "CumSum", "GatherElements", "GatherND", "ScatterElements",
            "ScatterND", "DynamicQuantizeLinear", "BitShift", "Det", "Unique"},
    .min_opset = 11,
    .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"LessOrEqual", "GreaterOrEqual", "Celu", "Einsum"},
    .min_opset = 12,
    .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Trilu", "HardSwish"}, .min_opset = 14, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"CastLike", "Bernoulli"}, .min_opset = 15, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"RoiAlign"}, .min_opset = 16, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"LayerNormalization"}, .min_opset = 17, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Mish", "Col2Im", "CenterCropPad"}, .min_opset = 18, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Gelu", "GridSample", "AffineGrid"}, .min_opset = 20, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"RMSNormalization", "RotaryEmbedding"}, .min_opset = 23, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
