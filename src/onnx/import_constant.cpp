// Constant: its value becomes a constant of the graph under the output's name; no node.
// (Cast's `to` and the dtype attributes of EyeLike and the Random ops are translated to kiln
// DataTypes by ImportContext::convert_attributes; those ops import as they are.)
#include "core/display_name.h"
#include "onnx/onnx.pb.h"
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

Tensor constant_value(ImportContext& ctx) {
  const onnx::AttributeProto* value = nullptr;
  int count = 0;
  for (const auto& a : ctx.proto().attribute()) {
    if (a.name().rfind("value", 0) == 0 || a.name() == "sparse_value") {
      value = &a;
      ++count;
    }
  }
  if (count != 1) {
    ctx.invalid(
        "expected exactly one of value, value_float(s), value_int(s), value_string(s), "
        "sparse_value; found ",
        count);
  }
  const std::string& kind = value->name();
  if (kind == "value") return ctx.scope().tensor(value->t());
  if (kind == "value_float") {
    return Tensor::from_vector<float>(DataType::kFloat32, {}, {value->f()});
  }
  if (kind == "value_floats") {
    std::vector<float> v(value->floats().begin(), value->floats().end());
    return Tensor::from_vector<float>(DataType::kFloat32, {int64_t(v.size())}, v);
  }
  if (kind == "value_int") {
    return Tensor::from_vector<int64_t>(DataType::kInt64, {}, {int64_t(value->i())});
  }
  if (kind == "value_ints") {
    std::vector<int64_t> v(value->ints().begin(), value->ints().end());
    return Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(v.size())}, v);
  }
  if (kind == "value_string" || kind == "value_strings") {
    ctx.unsupported("string constants (", kind, ") are not supported");
  }
  if (kind == "sparse_value") ctx.unsupported("sparse constants (sparse_value) are not supported");
  ctx.invalid("unknown attribute '", display_name(kind), "'");
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Constant"}, .min_opset = 1, .import = [](ImportContext& ctx) {
      if (!ctx.has_output(0)) ctx.invalid("has no output");
      Tensor value = constant_value(ctx);
      ctx.bind_output(0, ctx.graph().add_constant(ctx.output_name(0), std::move(value)));
    }});

}  // namespace
}  // namespace kiln::onnx_import
