// The attributes of every ai.onnx op at every opset, from the ONNX spec itself: the table
// (onnx_schema_table.cpp) is generated from the pinned onnx package by
// tools/onnx_schema/generate_onnx_schema.py, and the ctest onnx.schema_table_up_to_date fails
// when it is stale. The importer checks each node's attributes against it before the node's
// importer runs (check_node_attributes), so a misspelled or mistyped attribute is an error
// instead of being ignored.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace onnx {
class AttributeProto;
class NodeProto;
}  // namespace onnx

namespace kiln {
class Logger;
}

namespace kiln::onnx_import {

// onnx::AttributeProto::AttributeType, same numbers and names.
enum class OnnxAttrType : uint8_t {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSOR = 11,
  SPARSE_TENSORS = 12,
  TYPE_PROTO = 13,
  TYPE_PROTOS = 14,
};
const char* onnx_attr_type_name(OnnxAttrType type);

struct OnnxAttributeSchema {
  std::string_view name;
  OnnxAttrType type;
  bool required = false;
};

// One version of an op: in force from since_version until the op's next version.
struct OnnxOpSchema {
  std::string_view op;
  int since_version;
  std::vector<OnnxAttributeSchema> attributes;  // sorted by name
  // ONNX's checker accepts attributes this version does not declare (AllowUncheckedAttributes).
  bool unchecked_attributes = false;

  const OnnxAttributeSchema* find(std::string_view name) const;
};

// Every version of every op, sorted by op then since_version (generated).
const std::vector<OnnxOpSchema>& onnx_schema_table();
// The version of `op` in force at `opset` (the largest since_version <= opset), or nullptr
// when ONNX has no such op or it came later.
const OnnxOpSchema* find_onnx_schema(std::string_view op, int64_t opset);
// Every version of `op`, oldest first (empty when ONNX has no such op).
std::span<const OnnxOpSchema> onnx_schema_versions(std::string_view op);

// The type of an attribute as stored; for very old models that leave AttributeProto.type
// unset, the field that is filled tells it (UNDEFINED when none is).
OnnxAttrType attribute_proto_type(const onnx::AttributeProto& attr);

// Checks a node of the default domain against the schema of its op at `opset` and throws
// kInvalidModel when an attribute is not declared (with the op's attributes and a "did you
// mean" suggestion), has a type other than the declared one, or a required attribute is
// missing; `label` names the node in messages (already passed through display_name). Ops
// ONNX does not define are not checked (the importer registry decides about them); an op
// used at an opset before it existed is checked against its oldest version. Names starting
// with "__" (ONNX's internal symbols) are accepted as ONNX's checker does, and so are
// undeclared attributes of schemas that allow them (with a warning). An attribute that refers
// to a function attribute (ref_attr_name: only function bodies have them, and kiln imports
// none) throws UnsupportedNode, which the driver reports with the other unsupported nodes.
void check_node_attributes(const onnx::NodeProto& node, int64_t opset, const std::string& label,
                           Logger& logger);

}  // namespace kiln::onnx_import
