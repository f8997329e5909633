// Elementwise ops whose older opsets differ: the binary ops before opset 7 broadcast only when
// asked (`broadcast`=1), aligning B with A at `axis` instead of at the trailing dims; PRelu
// before opset 7 applied a 1-D slope per channel; Gemm before opset 7 had the same `broadcast`
// flag for C; Clip before opset 11 held min/max as attributes.
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

// Reshapes B so that numpy broadcasting aligns it with A starting at `axis`: B gets
// rank(A) - axis - rank(B) trailing 1-dims.
ir::Value* align_at_axis(ImportContext& ctx, ir::Value* a, ir::Value* b, int64_t axis) {
  const auto rank_a = ImportContext::known_rank(a);
  const auto rank_b = ImportContext::known_rank(b);
  if (rank_a && rank_b) {
    const int64_t ra = int64_t(*rank_a), rb = int64_t(*rank_b);
    if (axis < 0) axis += ra;
    const int64_t trailing = ra - axis - rb;
    if (axis < 0 || trailing < 0) {
      ctx.invalid("legacy broadcast axis ", axis, " cannot place input B (rank ", rb,
                  ") inside input A (rank ", ra, ")");
    }
    if (trailing == 0) return b;
    if (b->is_constant()) {
      Dims shape = b->constant->shape();
      shape.insert(shape.end(), size_t(trailing), 1);
      return ctx.add_constant("B_aligned", b->constant->reshaped(shape));
    }
    std::vector<int64_t> axes;
    for (int64_t i = 0; i < trailing; ++i) axes.push_back(rb + i);
    return ctx.emit_helper("Unsqueeze", "align_B", {b, ctx.add_int64_constant("align_axes", axes)});
  }
  if (axis < 0) {
    ctx.unsupported("legacy broadcast with negative axis ", axis,
                    " needs the rank of input A, which is unknown while importing");
  }
  // A is usually a node's output whose rank is known only at shape inference: compute the
  // number of 1-dims from the shapes (kiln evaluates such shape chains when shapes resolve).
  ir::Value* a_rank =
      ctx.emit_helper("Shape", "rank_A", {ctx.emit_helper("Shape", "shape_A", {a})});
  ir::Value* b_shape = ctx.emit_helper("Shape", "shape_B", {b});
  ir::Value* ones_count;
  if (rank_b) {
    ones_count = ctx.emit_helper(
        "Sub", "ones_count",
        {a_rank, ctx.add_int64_constant("axis_plus_rank_B", {axis + int64_t(*rank_b)})});
  } else {
    ir::Value* after_axis =
        ctx.emit_helper("Sub", "rank_after_axis", {a_rank, ctx.add_int64_constant("axis", {axis})});
    ones_count = ctx.emit_helper("Sub", "ones_count",
                                 {after_axis, ctx.emit_helper("Shape", "rank_B", {b_shape})});
  }
  ir::Value* ones =
      ctx.emit_helper("ConstantOfShape", "ones", {ones_count},
                      {{"value", Tensor::from_vector<int64_t>(DataType::kInt64, {1}, {1})}});
  ir::Value* b_new_shape =
      ctx.emit_helper("Concat", "aligned_shape_B", {b_shape, ones}, {{"axis", int64_t(0)}});
  return ctx.emit_helper("Reshape", "align_B", {b, b_new_shape});
}

void import_legacy_broadcast(ImportContext& ctx) {
  ir::Value* a = ctx.required_input(0);
  ir::Value* b = ctx.required_input(1);
  // Without `broadcast` the shapes had to be equal, and with it but no axis B was aligned with
  // A's trailing dims: numpy broadcasting gives the same results in both cases.
  if (ctx.attr_int("broadcast", 0) != 0 && ctx.has_attr("axis")) {
    b = align_at_axis(ctx, a, b, ctx.attr_int("axis", 0));
  }
  ctx.emit(ctx.op_type(), {a, b}, ctx.convert_attributes({"broadcast", "axis"}));
}

#define KILN_LEGACY_BROADCAST_OPS \
  "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Less", "Greater"

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {KILN_LEGACY_BROADCAST_OPS},
                                            .min_opset = 1,
                                            .max_opset = 6,
                                            .import = import_legacy_broadcast});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {KILN_LEGACY_BROADCAST_OPS}, .min_opset = 7, .import = import_as_is});

#undef KILN_LEGACY_BROADCAST_OPS

// PRelu-1..6: a slope of one element was shared, a 1-D slope of C elements applied per
// channel (dim 1), which numpy broadcasting would align with the last dim instead.
void import_prelu_v1(ImportContext& ctx) {
  ir::Value* x = ctx.required_input(0);
  ir::Value* slope = ctx.required_input(1);
  bool shared = false;
  if (slope->is_constant()) {
    shared = slope->constant->numel() == 1;
  } else if (slope->producer == nullptr && slope->has_shape) {
    shared = slope->shape.size() == 1 && slope->shape[0] == ir::Dim::fixed(1);
  }
  if (ImportContext::known_rank(slope) == std::optional<size_t>(1) && !shared) {
    slope = align_at_axis(ctx, x, slope, 1);
  }
  ctx.emit("PRelu", {x, slope}, ctx.convert_attributes());
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"PRelu"}, .min_opset = 1, .max_opset = 6, .import = import_prelu_v1});

// Gemm-1..6: C broadcast to the output only with broadcast=1, else it had the output's shape;
// unidirectional broadcasting covers both.
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Gemm"}, .min_opset = 1, .max_opset = 6, .import = [](ImportContext& ctx) {
      ctx.emit("Gemm", ctx.inputs(), ctx.convert_attributes({"broadcast"}));
    }});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Gemm"}, .min_opset = 7, .import = import_as_is});

// Clip-1..10: min/max attributes (absent: unbounded, as an omitted input is now).
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Clip"}, .min_opset = 1, .max_opset = 10, .import = [](ImportContext& ctx) {
      ir::Value* x = ctx.required_input(0);
      std::vector<ir::Value*> inputs = {x, nullptr, nullptr};
      if (ctx.has_attr("min")) inputs[1] = ctx.add_scalar_like("min", ctx.attr_float("min", 0), x);
      if (ctx.has_attr("max")) inputs[2] = ctx.add_scalar_like("max", ctx.attr_float("max", 0), x);
      while (inputs.back() == nullptr) inputs.pop_back();
      ctx.emit("Clip", inputs, ctx.convert_attributes({"min", "max"}));
    }});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Clip"}, .min_opset = 11, .import = import_as_is});

}  // namespace
}  // namespace kiln::onnx_import
