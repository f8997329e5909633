// Resampling: Upsample (deprecated in opset 10) and Resize-10 become the newest Resize with the
// coordinate rules they had; Resize-11/12 required roi and scales inputs that newer opsets let
// be omitted; GridSample before opset 20 named its modes bilinear/bicubic.
#include <algorithm>

#include "core/display_name.h"
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

bool is_empty_constant(const ir::Value* v) {
  return v != nullptr && v->is_constant() && v->constant->numel() == 0;
}

// Upsample-7..9 and Resize-10 mapped output coordinates with x_in = x_out / scale
// ("asymmetric") and, for nearest, truncated the result, except on shrinking axes where they
// rounded up (as onnxruntime, the reference for these opsets, does).
void emit_resize_from_scales(ImportContext& ctx, ir::Value* x, ir::Value* scales) {
  std::string mode = ctx.attr_string("mode", "nearest");
  if (mode == "bilinear" || mode == "trilinear") mode = "linear";
  if (mode != "nearest" && mode != "linear") ctx.invalid("unknown mode '", display_name(mode), "'");
  ir::Attributes attrs = {{"mode", mode},
                          {"coordinate_transformation_mode", std::string("asymmetric")}};
  if (mode == "nearest") {
    std::string nearest_mode = "floor";
    if (scales->is_constant()) {
      const std::vector<double> values = scales->constant->to_double_vector();
      const bool shrinks =
          std::any_of(values.begin(), values.end(), [](double s) { return s < 1; });
      const bool grows = std::any_of(values.begin(), values.end(), [](double s) { return s > 1; });
      if (shrinks && grows) {
        ctx.unsupported(
            "nearest resampling that enlarges some axes and shrinks others rounds "
            "differently per axis at opset ",
            ctx.opset(), ", which the newest Resize cannot express");
      }
      if (shrinks) nearest_mode = "ceil";
    }
    attrs["nearest_mode"] = nearest_mode;
  }
  ctx.emit("Resize", {x, nullptr, scales}, std::move(attrs));
}

// Upsample-7/8: `scales` attribute; Upsample-9 and later: `scales` input.
void import_upsample(ImportContext& ctx) {
  ir::Value* scales = nullptr;
  if (ctx.opset() < 9) {
    if (!ctx.has_attr("scales"))
      ctx.invalid("attribute 'scales' is required at opset ", ctx.opset());
    std::vector<float> values;
    for (double s : ctx.attr_floats("scales")) values.push_back(float(s));
    scales = ctx.add_constant(
        "scales", Tensor::from_vector<float>(DataType::kFloat32, {int64_t(values.size())}, values));
  } else {
    scales = ctx.input(1);
    if (scales == nullptr) ctx.invalid("input 'scales' is required");
  }
  emit_resize_from_scales(ctx, ctx.input(0), scales);
}

void import_resize_v10(ImportContext& ctx) {
  ir::Value* scales = ctx.input(1);
  if (scales == nullptr) ctx.invalid("input 'scales' is required");
  emit_resize_from_scales(ctx, ctx.input(0), scales);
}

// Resize-11 and later: an empty roi or scales constant (opsets 11-12 required both inputs)
// means the input is omitted.
void import_resize_v11(ImportContext& ctx) {
  std::vector<ir::Value*> inputs = ctx.inputs();
  for (size_t i = 1; i <= 2 && i < inputs.size(); ++i) {
    if (is_empty_constant(inputs[i])) inputs[i] = nullptr;
  }
  while (inputs.size() > 1 && inputs.back() == nullptr) inputs.pop_back();
  ctx.emit("Resize", inputs, ctx.convert_attributes());
}

// GridSample-16..19: modes bilinear/nearest/bicubic (default bilinear), renamed in opset 20.
void import_grid_sample_v16(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes();
  std::string mode = ctx.attr_string("mode", "bilinear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  attrs["mode"] = mode;
  ctx.emit("GridSample", ctx.inputs(), std::move(attrs));
}

// Upsample is deprecated since opset 10 but still met in models that declare newer opsets.
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Upsample"}, .min_opset = 7, .import = import_upsample});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Resize"}, .min_opset = 10, .max_opset = 10, .import = import_resize_v10});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Resize"}, .min_opset = 11, .import = import_resize_v11});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"GridSample"}, .min_opset = 16, .max_opset = 19, .import = import_grid_sample_v16});

}  // namespace
}  // namespace kiln::onnx_import
