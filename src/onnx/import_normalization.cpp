// Normalization and regularization ops with opset differences: BatchNormalization (legacy
// attributes and training-only outputs), Dropout (ratio attribute before opset 12, a mask of the
// input's type before opset 10) and GroupNormalization (per-group scale/bias before opset 21).
// kiln imports models for inference: these ops' training behaviour is not kept.
#include "core/display_name.h"
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

void import_batch_normalization(ImportContext& ctx) {
  if (ctx.opset() < 9 && ctx.attr_int("spatial", 1) == 0) {
    ctx.unsupported(
        "spatial=0 (statistics per element rather than per channel) is not "
        "supported");
  }
  // is_test and spatial (opsets < 9) have no meaning for inference with per-channel statistics.
  ir::Attributes attrs = ctx.convert_attributes({"spatial", "is_test"});
  if (ctx.opset() >= 14 && ctx.attr_int("training_mode", 0) != 0) {
    ctx.emit("BatchNormalization", ctx.inputs(), std::move(attrs));
    return;
  }
  ctx.emit("BatchNormalization", ctx.inputs(), std::move(attrs), 1);
  // Older opsets list the training outputs even in inference models. At inference the running
  // mean and variance (outputs 1, 2) are the inputs unchanged; the saved batch statistics
  // (outputs 3, 4) exist only in training.
  for (size_t i = 1; i < ctx.num_outputs(); ++i) {
    if (!ctx.output_used(i)) continue;
    if (i <= 2) {
      ctx.bind_output(i, ctx.required_input(i + 2));
    } else {
      ctx.unsupported("output ", i, " ('", display_name(ctx.output_name(i)),
                      "', a saved batch statistic) exists only in training");
    }
  }
}

void import_dropout_v1(ImportContext& ctx) {
  ir::Value* x = ctx.required_input(0);
  ir::Value* ratio = ctx.add_constant(
      "ratio",
      Tensor::from_vector<float>(DataType::kFloat32, {}, {float(ctx.attr_float("ratio", 0.5))}));
  ir::Attributes attrs = ctx.convert_attributes({"ratio", "is_test"});
  if (!ctx.output_used(1)) {
    ctx.emit("Dropout", {x, ratio}, std::move(attrs), 1);
  } else if (ctx.opset() >= 10) {
    ctx.emit("Dropout", {x, ratio}, std::move(attrs));
  } else {
    // Before opset 10 the mask had the input's element type; kiln's Dropout gives bool.
    ir::Node* dropout =
        ctx.add_node("Dropout", ctx.name(), {x, ratio},
                     {ctx.output_name(0), ctx.fresh_name("mask_bool")}, std::move(attrs));
    ctx.bind_output(0, dropout->outputs[0]);
    ir::Node* cast = ctx.add_node("CastLike", ctx.name() + "/mask_as_input_type",
                                  {dropout->outputs[1], x}, {ctx.output_name(1)});
    ctx.bind_output(1, cast->outputs[0]);
  }
}

// GroupNormalization-18..20 took scale and bias per group ([num_groups]); opset 21 takes them
// per channel ([C]). Each group's value is repeated C / num_groups times, C read from X's shape.
void import_group_normalization_v18(ImportContext& ctx) {
  if (!ctx.has_attr("num_groups")) ctx.invalid("attribute 'num_groups' is required");
  const int64_t groups = ctx.attr_int("num_groups", 1);
  if (groups <= 0) ctx.invalid("num_groups is ", groups, ", expected a positive count");
  ir::Value* x = ctx.input(0);
  ir::Value* channels =
      ctx.emit_helper("Shape", "channels", {x}, {{"start", int64_t(1)}, {"end", int64_t(2)}});
  ir::Value* groups_value = ctx.add_int64_constant("num_groups", {groups});
  ir::Value* per_group = ctx.emit_helper("Div", "channels_per_group", {channels, groups_value});
  ir::Value* grid =
      ctx.emit_helper("Concat", "group_grid", {groups_value, per_group}, {{"axis", int64_t(0)}});
  ir::Value* column_axis = ctx.add_int64_constant("column_axis", {1});
  ir::Value* flat = ctx.add_int64_constant("flat", {-1});
  auto per_channel = [&](ir::Value* per_group_values, const std::string& role) {
    ir::Value* column =
        ctx.emit_helper("Unsqueeze", role + "_column", {per_group_values, column_axis});
    ir::Value* repeated = ctx.emit_helper("Expand", role + "_repeated", {column, grid});
    return ctx.emit_helper("Reshape", role + "_per_channel", {repeated, flat});
  };
  ir::Value* scale = per_channel(ctx.input(1), "scale");
  ir::Value* bias = per_channel(ctx.input(2), "bias");
  ctx.emit("GroupNormalization", {x, scale, bias}, ctx.convert_attributes());
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"BatchNormalization"}, .min_opset = 1, .import = import_batch_normalization});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Dropout"}, .min_opset = 1, .max_opset = 11, .import = import_dropout_v1});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Dropout"}, .min_opset = 12, .import = import_as_is});

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {"GroupNormalization"},
                                            .min_opset = 18,
                                            .max_opset = 20,
                                            .import = import_group_normalization_v18});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"GroupNormalization"}, .min_opset = 21, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
