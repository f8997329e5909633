// Data-movement ops whose older opsets held operands as attributes: Reshape, Squeeze,
// Unsqueeze, Slice, Split, Pad, Concat (axis defaulted before opset 4) and Scatter (renamed
// ScatterElements in opset 11). kiln's IR has those operands as inputs, so the attributes
// become constants.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

ir::Value* required_ints_input(ImportContext& ctx, const char* attr) {
  if (!ctx.has_attr(attr)) ctx.invalid("attribute '", attr, "' is required at opset ", ctx.opset());
  return ctx.add_int64_constant(attr, ctx.attr_ints(attr));
}

// Reshape-1..4: the target shape was the `shape` attribute.
void import_reshape_v1(ImportContext& ctx) {
  ir::Value* shape = required_ints_input(ctx, "shape");
  ctx.emit("Reshape", {ctx.input(0), shape}, ctx.convert_attributes({"shape"}));
}

// Squeeze/Unsqueeze-1..12: `axes` attribute (optional for Squeeze: all size-1 dims).
void import_squeeze_v1(ImportContext& ctx) {
  std::vector<ir::Value*> inputs = {ctx.input(0)};
  if (ctx.has_attr("axes")) {
    inputs.push_back(ctx.add_int64_constant("axes", ctx.attr_ints("axes")));
  } else if (ctx.op_type() == "Unsqueeze") {
    ctx.invalid("attribute 'axes' is required at opset ", ctx.opset());
  }
  ctx.emit(ctx.op_type(), inputs, ctx.convert_attributes({"axes"}));
}

// Slice-1..9: starts/ends/axes attributes, no steps.
void import_slice_v1(ImportContext& ctx) {
  std::vector<ir::Value*> inputs = {ctx.input(0), required_ints_input(ctx, "starts"),
                                    required_ints_input(ctx, "ends")};
  if (ctx.has_attr("axes")) inputs.push_back(ctx.add_int64_constant("axes", ctx.attr_ints("axes")));
  ctx.emit("Slice", inputs, ctx.convert_attributes({"starts", "ends", "axes"}));
}

// Split-1..17: the sizes were an attribute (or, in opset 1 and 13-17, an input); with no sizes
// the input was split evenly into as many parts as the node has outputs, which opset 18 says
// with num_outputs.
void import_split_v1(ImportContext& ctx) {
  std::vector<ir::Value*> inputs = {ctx.input(0)};
  ir::Value* split = nullptr;
  if ((ctx.opset() == 1 || ctx.opset() >= 13) && ctx.has_input(1)) {
    split = ctx.input(1);
  } else if (ctx.opset() < 13 && ctx.has_attr("split")) {
    split = ctx.add_int64_constant("split", ctx.attr_ints("split"));
  }
  ir::Attributes attrs = ctx.convert_attributes({"split"});
  if (split != nullptr) {
    inputs.push_back(split);
  } else {
    attrs["num_outputs"] = int64_t(ctx.num_outputs());
  }
  ctx.emit("Split", inputs, std::move(attrs));
}

// Pad-1..10: pads (`paddings` in opset 1) and the fill value were attributes.
void import_pad_v1(ImportContext& ctx) {
  const char* pads_attr = ctx.has_attr("pads") ? "pads" : "paddings";
  ir::Value* data = ctx.required_input(0);
  std::vector<ir::Value*> inputs = {data, required_ints_input(ctx, pads_attr)};
  const std::string mode = ctx.attr_string("mode", "constant");
  const double value = ctx.attr_float("value", 0.0);
  // The newest Pad fills with zero when constant_value is omitted.
  if (mode == "constant" && value != 0.0) {
    inputs.push_back(ctx.add_scalar_like("constant_value", value, data));
  }
  ctx.emit("Pad", inputs, {{"mode", mode}});
}

// Concat-1..3: axis defaulted to 1.
void import_concat_v1(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes();
  if (!attrs.count("axis")) attrs["axis"] = int64_t(1);
  ctx.emit("Concat", ctx.inputs(), std::move(attrs));
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Reshape"}, .min_opset = 1, .max_opset = 4, .import = import_reshape_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Reshape"}, .min_opset = 5, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Squeeze", "Unsqueeze"}, .min_opset = 1, .max_opset = 12, .import = import_squeeze_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Squeeze", "Unsqueeze"}, .min_opset = 13, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Slice"}, .min_opset = 1, .max_opset = 9, .import = import_slice_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Slice"}, .min_opset = 10, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Split"}, .min_opset = 1, .max_opset = 17, .import = import_split_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Split"}, .min_opset = 18, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Pad"}, .min_opset = 1, .max_opset = 10, .import = import_pad_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Pad"}, .min_opset = 11, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Concat"}, .min_opset = 1, .max_opset = 3, .import = import_concat_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Concat"}, .min_opset = 4, .import = import_as_is});

// Scatter-9..10 is ScatterElements without negative indices.
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Scatter"}, .min_opset = 9, .max_opset = 10, .import = [](ImportContext& ctx) {
      ctx.emit("ScatterElements", ctx.inputs(), ctx.convert_attributes());
    }});

}  // namespace
}  // namespace kiln::onnx_import
