// Lookups in the generated ONNX schema table and the attribute check the importer runs on
// every node of the default domain (see onnx_schema.h).
#include "onnx/onnx_schema.h"

#include <algorithm>
#include <cctype>

#include "core/display_name.h"
#include "core/error.h"
#include "core/spelling.h"
#include "kiln/logger.h"
#include "onnx/onnx.pb.h"
#include "onnx/op_importer.h"

namespace kiln::onnx_import {

static_assert(int(OnnxAttrType::FLOAT) == onnx::AttributeProto::FLOAT &&
              int(OnnxAttrType::INTS) == onnx::AttributeProto::INTS &&
              int(OnnxAttrType::GRAPHS) == onnx::AttributeProto::GRAPHS &&
              int(OnnxAttrType::TYPE_PROTOS) == onnx::AttributeProto::TYPE_PROTOS);

const char* onnx_attr_type_name(OnnxAttrType type) {
  if (!onnx::AttributeProto::AttributeType_IsValid(int(type))) return "UNKNOWN";
  return onnx::AttributeProto::AttributeType_Name(onnx::AttributeProto::AttributeType(int(type)))
      .c_str();
}

const OnnxAttributeSchema* OnnxOpSchema::find(std::string_view name) const {
  for (const auto& a : attributes) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::span<const OnnxOpSchema> onnx_schema_versions(std::string_view op) {
  const auto& table = onnx_schema_table();
  auto [first, last] =
      std::equal_range(table.begin(), table.end(), op, [](const auto& a, const auto& b) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, OnnxOpSchema>) {
          return a.op < std::string_view(b);
        } else {
          return std::string_view(a) < b.op;
        }
      });
  return {first, last};
}

const OnnxOpSchema* find_onnx_schema(std::string_view op, int64_t opset) {
  const OnnxOpSchema* found = nullptr;
  for (const auto& version : onnx_schema_versions(op)) {
    if (version.since_version <= opset) found = &version;
  }
  return found;
}

OnnxAttrType attribute_proto_type(const onnx::AttributeProto& a) {
  using A = onnx::AttributeProto;
  if (a.type() != A::UNDEFINED) return OnnxAttrType(a.type());
  if (a.has_f()) return OnnxAttrType::FLOAT;
  if (a.has_i()) return OnnxAttrType::INT;
  if (a.has_s()) return OnnxAttrType::STRING;
  if (a.has_t()) return OnnxAttrType::TENSOR;
  if (a.has_g()) return OnnxAttrType::GRAPH;
  if (a.has_sparse_tensor()) return OnnxAttrType::SPARSE_TENSOR;
  if (a.has_tp()) return OnnxAttrType::TYPE_PROTO;
  if (a.floats_size()) return OnnxAttrType::FLOATS;
  if (a.ints_size()) return OnnxAttrType::INTS;
  if (a.strings_size()) return OnnxAttrType::STRINGS;
  if (a.tensors_size()) return OnnxAttrType::TENSORS;
  if (a.graphs_size()) return OnnxAttrType::GRAPHS;
  if (a.sparse_tensors_size()) return OnnxAttrType::SPARSE_TENSORS;
  if (a.type_protos_size()) return OnnxAttrType::TYPE_PROTOS;
  return OnnxAttrType::UNDEFINED;
}

namespace {

bool is_list_type(OnnxAttrType type) {
  switch (type) {
    case OnnxAttrType::FLOATS:
    case OnnxAttrType::INTS:
    case OnnxAttrType::STRINGS:
    case OnnxAttrType::TENSORS:
    case OnnxAttrType::GRAPHS:
    case OnnxAttrType::SPARSE_TENSORS:
    case OnnxAttrType::TYPE_PROTOS:
      return true;
    default:
      return false;
  }
}

// The declared attribute `name` was probably meant as (core/spelling.h), or nullptr.
const OnnxAttributeSchema* suggestion(const OnnxOpSchema& schema, std::string_view name) {
  std::vector<std::string> names;
  for (const auto& a : schema.attributes) names.emplace_back(a.name);
  const std::string best = closest_spelling(name, names);
  for (const auto& a : schema.attributes) {
    if (!best.empty() && a.name == best) return &a;
  }
  return nullptr;
}

std::string attribute_list(const OnnxOpSchema& schema) {
  std::string list;
  for (const auto& a : schema.attributes) list += cat(list.empty() ? "" : ", ", a.name);
  return list;
}

}  // namespace

void check_node_attributes(const onnx::NodeProto& node, int64_t opset, const std::string& label,
                           Logger& logger) {
  const std::string& op = node.op_type();
  const OnnxOpSchema* schema = find_onnx_schema(op, opset);
  std::string where = cat("at opset ", opset);
  if (schema == nullptr) {
    const auto versions = onnx_schema_versions(op);
    if (versions.empty()) return;  // not an ONNX op: the importer registry decides
    // The op came after the model's opset; kiln imports it with the meaning it knows, so its
    // attributes are those of its oldest version.
    schema = &versions.front();
    where = cat("in its oldest version (opset ", schema->since_version, ")");
  }
  // The driver's prefix for errors of a node (the opset is named in each message).
  const std::string node_text = cat("ONNX node '", label, "' (", display_name(op), "): ");
  for (const auto& attr : node.attribute()) {
    const std::string& name = attr.name();
    // ONNX reserves names starting with "__" for internal use; its checker accepts them.
    if (name.size() >= 2 && name[0] == '_' && name[1] == '_') continue;
    const OnnxAttributeSchema* declared = schema->find(name);
    if (declared == nullptr) {
      const OnnxAttributeSchema* guess = suggestion(*schema, name);
      const std::string hint = guess ? cat(" (did you mean '", guess->name, "'?)") : "";
      const std::string known = schema->attributes.empty()
                                    ? cat(display_name(op), " has no attributes")
                                    : cat(display_name(op), " has ", attribute_list(*schema));
      const std::string message =
          cat(node_text, "attribute '", display_name(name), "' is not declared by ",
              display_name(op), " ", where, hint, "; ", known);
      if (schema->unchecked_attributes) {
        logger.log(Logger::Severity::kWarning,
                   cat(message, ". It is ignored: ONNX allows undeclared attributes on ",
                       display_name(op), " ", where));
        continue;
      }
      fail(ErrorCode::kInvalidModel, message);
    }
    if (!attr.ref_attr_name().empty()) {
      // A reference to an attribute of the enclosing function; only a function body's nodes
      // have them, and kiln imports no function bodies.
      throw UnsupportedNode(
          cat("attribute '", display_name(name), "' refers to a function attribute ('",
              display_name(attr.ref_attr_name()), "'), which kiln does not support"));
    }
    const OnnxAttrType type = attribute_proto_type(attr);
    // An attribute with no value of unset type is an empty list (onnx.helper writes one so).
    if (type == OnnxAttrType::UNDEFINED && is_list_type(declared->type)) continue;
    if (type != declared->type) {
      fail(ErrorCode::kInvalidModel, node_text, "attribute '", display_name(name), "' is ",
           type == OnnxAttrType::UNDEFINED ? "UNDEFINED (it has no value)"
                                           : onnx_attr_type_name(type),
           ", but ", display_name(op), " declares it ", onnx_attr_type_name(declared->type), " ",
           where);
    }
  }
  for (const auto& declared : schema->attributes) {
    if (!declared.required) continue;
    const bool present = std::any_of(node.attribute().begin(), node.attribute().end(),
                                     [&](const auto& a) { return a.name() == declared.name; });
    KILN_CHECK(present, ErrorCode::kInvalidModel, node_text, "it has no '", declared.name,
               "' attribute, which ", display_name(op), " requires ", where, " (",
               onnx_attr_type_name(declared.type), ")");
  }
}

}  // namespace kiln::onnx_import
