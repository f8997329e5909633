#include "onnx/op_importer.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/display_name.h"
#include "onnx/onnx.pb.h"
#include "onnx/onnx_schema.h"
#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace {

// Attributes that hold an ONNX TensorProto::DataType number; kiln's IR holds
// int64(kiln::DataType) there instead.
bool is_dtype_attribute(const std::string& op, const std::string& attr) {
  static const std::set<std::pair<std::string, std::string>> table = {
      {"Cast", "to"},
      {"EyeLike", "dtype"},
      {"RandomNormal", "dtype"},
      {"RandomUniform", "dtype"},
      {"RandomNormalLike", "dtype"},
      {"RandomUniformLike", "dtype"},
      {"Bernoulli", "dtype"},
      {"Multinomial", "dtype"},
      {"QuantizeLinear", "output_dtype"},
      {"DequantizeLinear", "output_dtype"},
  };
  return table.count({op, attr}) != 0;
}

// Very old models leave AttributeProto.type unset; the field that is filled tells the kind.
onnx::AttributeProto::AttributeType attribute_type(const onnx::AttributeProto& a) {
  return onnx::AttributeProto::AttributeType(attribute_proto_type(a));
}

const char* attribute_type_name(onnx::AttributeProto::AttributeType type) {
  return onnx::AttributeProto::AttributeType_Name(type).c_str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ImportContext

ImportContext::ImportContext(const onnx::NodeProto& node, int64_t opset, std::string node_name,
                             ImportScope& scope)
    : node_(node), opset_(opset), name_(std::move(node_name)), scope_(scope) {}

const std::string& ImportContext::op_type() const { return node_.op_type(); }

size_t ImportContext::num_inputs() const { return size_t(node_.input_size()); }

bool ImportContext::has_input(size_t i) const {
  return i < num_inputs() && !node_.input(int(i)).empty();
}

ir::Value* ImportContext::input(size_t i) {
  return has_input(i) ? lookup(node_.input(int(i))) : nullptr;
}

ir::Value* ImportContext::required_input(size_t i) {
  if (!has_input(i)) invalid("input ", i, " is required but missing");
  return input(i);
}

std::vector<ir::Value*> ImportContext::inputs() {
  std::vector<ir::Value*> values;
  for (size_t i = 0; i < num_inputs(); ++i) values.push_back(input(i));
  // A trailing omitted input is the same as no input at all.
  while (!values.empty() && values.back() == nullptr) values.pop_back();
  return values;
}

const Tensor* ImportContext::constant_input(size_t i) {
  ir::Value* v = input(i);
  return v && v->is_constant() ? &*v->constant : nullptr;
}

ir::Value* ImportContext::lookup(const std::string& onnx_name) {
  ir::Value* v = scope_.find(onnx_name);
  if (v == nullptr)
    invalid("input '", display_name(onnx_name), "' is not defined by any earlier node, ",
            "graph input or initializer");
  return v;
}

std::optional<size_t> ImportContext::known_rank(const ir::Value* value) {
  if (value == nullptr) return std::nullopt;
  if (value->is_constant()) return value->constant->rank();
  if (value->producer == nullptr && value->has_shape) return value->shape.size();
  return std::nullopt;
}

size_t ImportContext::num_outputs() const { return size_t(node_.output_size()); }

bool ImportContext::has_output(size_t i) const {
  return i < num_outputs() && !node_.output(int(i)).empty();
}

const std::string& ImportContext::output_name(size_t i) const {
  if (!has_output(i)) invalid("output ", i, " is missing");
  return node_.output(int(i));
}

bool ImportContext::output_used(size_t i) const {
  return has_output(i) && scope_.is_used(output_name(i));
}

void ImportContext::bind_output(size_t i, ir::Value* value) { scope_.bind(output_name(i), value); }

// ----- attributes

const onnx::AttributeProto* ImportContext::attr(std::string_view name) const {
  for (const auto& a : node_.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

namespace {
void expect_type(const onnx::AttributeProto& a, onnx::AttributeProto::AttributeType want) {
  auto type = attribute_type(a);
  KILN_CHECK(type == want, ErrorCode::kInvalidModel, "attribute '", display_name(a.name()), "' is ",
             attribute_type_name(type), ", expected ", attribute_type_name(want));
}
}  // namespace

int64_t ImportContext::attr_int(std::string_view name, int64_t fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  expect_type(*a, onnx::AttributeProto::INT);
  return a->i();
}

double ImportContext::attr_float(std::string_view name, double fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  expect_type(*a, onnx::AttributeProto::FLOAT);
  return a->f();
}

std::string ImportContext::attr_string(std::string_view name, const std::string& fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  expect_type(*a, onnx::AttributeProto::STRING);
  return a->s();
}

std::vector<int64_t> ImportContext::attr_ints(std::string_view name,
                                              std::vector<int64_t> fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  expect_type(*a, onnx::AttributeProto::INTS);
  return {a->ints().begin(), a->ints().end()};
}

std::vector<double> ImportContext::attr_floats(std::string_view name,
                                               std::vector<double> fallback) const {
  const auto* a = attr(name);
  if (!a) return fallback;
  expect_type(*a, onnx::AttributeProto::FLOATS);
  return {a->floats().begin(), a->floats().end()};
}

ir::Attribute ImportContext::convert_attribute(const onnx::AttributeProto& a) {
  using A = onnx::AttributeProto;
  if (!a.ref_attr_name().empty()) {
    unsupported("attribute '", display_name(a.name()), "' refers to a function attribute ('",
                display_name(a.ref_attr_name()), "'), which kiln does not support");
  }
  const auto type = attribute_type(a);
  if (is_dtype_attribute(op_type(), a.name())) {
    const std::string what = cat("attribute '", display_name(a.name()), "'");
    if (type == A::INT) {
      return int64_t(require_kiln_dtype(int32_t(a.i()), what));
    }
    if (type == A::STRING) {  // Cast opset 1 named the type: to="FLOAT"
      onnx::TensorProto::DataType parsed;
      if (!onnx::TensorProto_DataType_Parse(a.s(), &parsed)) {
        invalid(what, " names an unknown ONNX type '", display_name(a.s()), "'");
      }
      return int64_t(require_kiln_dtype(int32_t(parsed), what));
    }
  }
  switch (type) {
    case A::FLOAT:
      return double(a.f());
    case A::INT:
      return int64_t(a.i());
    case A::STRING:
      return a.s();
    case A::TENSOR:
      return scope_.tensor(a.t());
    case A::GRAPH:
      return scope_.import_subgraph(a.g(), a.name());
    case A::FLOATS:
      return std::vector<double>(a.floats().begin(), a.floats().end());
    case A::INTS:
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case A::STRINGS:
      return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case A::TENSORS: {
      std::vector<Tensor> tensors;
      for (const auto& t : a.tensors()) tensors.push_back(scope_.tensor(t));
      return tensors;
    }
    case A::GRAPHS: {
      std::vector<std::shared_ptr<ir::Graph>> graphs;
      for (const auto& g : a.graphs()) graphs.push_back(scope_.import_subgraph(g, a.name()));
      return graphs;
    }
    case A::UNDEFINED:
      // An attribute with no value at all: ONNX allows an empty list of undefined type.
      return std::vector<int64_t>{};
    default:
      unsupported("attribute '", display_name(a.name()), "' has type ", attribute_type_name(type),
                  ", which kiln does not support");
  }
}

ir::Attributes ImportContext::convert_attributes(std::initializer_list<std::string_view> skip) {
  ir::Attributes attrs;
  for (const auto& a : node_.attribute()) {
    if (a.name() == "consumed_inputs") continue;  // a memory hint of opsets < 6
    if (std::find(skip.begin(), skip.end(), a.name()) != skip.end()) continue;
    attrs[a.name()] = convert_attribute(a);
  }
  return attrs;
}

// ----- building

std::string ImportContext::fresh_name(const std::string& role) {
  return scope_.fresh_name(cat(name_, "/", role));
}

ir::Value* ImportContext::add_constant(const std::string& role, Tensor tensor) {
  return graph().add_constant(fresh_name(role), std::move(tensor));
}

ir::Value* ImportContext::add_int64_constant(const std::string& role,
                                             const std::vector<int64_t>& values) {
  return add_constant(
      role, Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(values.size())}, values));
}

ir::Value* ImportContext::add_scalar_like(const std::string& role, double value, ir::Value* like) {
  Tensor scalar = Tensor::from_vector<double>(DataType::kFloat64, {}, {value});
  // Constants and graph inputs know their element type now; a node's output learns it only
  // at shape inference, so a CastLike defers the choice until then.
  if (like->is_constant() || (like->producer == nullptr && like->has_shape)) {
    return add_constant(role, scalar.cast(like->dtype));
  }
  ir::Value* f32 = add_constant(role, scalar.cast(DataType::kFloat32));
  return emit_helper("CastLike", role + "_cast", {f32, like});
}

ir::Value* ImportContext::emit_helper(std::string op, const std::string& role,
                                      std::vector<ir::Value*> inputs, ir::Attributes attrs) {
  ir::Node* node = graph().add_node(std::move(op), cat(name_, "/", role), std::move(inputs),
                                    {fresh_name(role)}, std::move(attrs));
  return node->outputs[0];
}

ir::Node* ImportContext::emit(std::string op, std::vector<ir::Value*> inputs, ir::Attributes attrs,
                              std::optional<size_t> num_outputs) {
  const size_t count = std::min(num_outputs.value_or(this->num_outputs()), this->num_outputs());
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(has_output(i) ? output_name(i) : "");
  // Trailing omitted outputs are dropped so that the output count is what the model uses.
  while (!names.empty() && names.back().empty()) names.pop_back();
  ir::Node* node =
      graph().add_node(std::move(op), name_, std::move(inputs), names, std::move(attrs));
  for (size_t i = 0; i < names.size(); ++i) {
    if (!names[i].empty()) bind_output(i, node->outputs[i]);
  }
  return node;
}

ir::Node* ImportContext::add_node(std::string op, std::string node_name,
                                  std::vector<ir::Value*> inputs,
                                  const std::vector<std::string>& output_names,
                                  ir::Attributes attrs) {
  return graph().add_node(std::move(op), std::move(node_name), std::move(inputs), output_names,
                          std::move(attrs));
}

void import_as_is(ImportContext& ctx) {
  ctx.emit(ctx.op_type(), ctx.inputs(), ctx.convert_attributes());
}

// ---------------------------------------------------------------------------------------------
// ImporterRegistry

ImporterRegistry& ImporterRegistry::instance() {
  static ImporterRegistry registry;
  return registry;
}

void ImporterRegistry::add(OnnxImporterDef def) {
  defs_.push_back(std::make_unique<OnnxImporterDef>(std::move(def)));
}

const OnnxImporterDef* ImporterRegistry::find(std::string_view op, int64_t opset) const {
  for (const auto& def : defs_) {
    if (opset < def->min_opset || opset > def->max_opset) continue;
    if (std::find(def->ops.begin(), def->ops.end(), op) != def->ops.end()) return def.get();
  }
  return nullptr;
}

std::vector<const OnnxImporterDef*> ImporterRegistry::for_op(std::string_view op) const {
  std::vector<const OnnxImporterDef*> result;
  for (const auto& def : defs_) {
    if (std::find(def->ops.begin(), def->ops.end(), op) != def->ops.end()) {
      result.push_back(def.get());
    }
  }
  return result;
}

std::vector<std::string> ImporterRegistry::op_names() const {
  std::set<std::string> names;
  for (const auto& def : defs_) names.insert(def->ops.begin(), def->ops.end());
  return {names.begin(), names.end()};
}

}  // namespace kiln::onnx_import
