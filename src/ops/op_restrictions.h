// What kiln does not do of an op that the ONNX spec allows, in words, for docs/operators.md and
// for tools that explain a refused model. Each entry restates a check of the op's inference
// (src/ops) or of its ONNX importer (src/onnx) that rejects a valid ONNX node with
// ErrorCode::kUnsupported or "not supported": keep the table in step when such a check is
// added or lifted. Element types an op refuses are not listed: the doc tool finds them by
// probing (tools/operators_doc).
#pragma once

#include <string_view>
#include <vector>

namespace kiln::ops {

struct OpRestriction {
  enum class Scope {
    kOp,      // the kiln op refuses such nodes, however they were made
    kImport,  // the ONNX importer refuses such nodes (at the opsets the text names)
  };
  std::string_view op;  // kiln op or ONNX op name
  Scope scope;
  std::string_view text;
};

// Every restriction, ordered by op then scope.
const std::vector<OpRestriction>& op_restrictions();

// The restrictions of one op (kiln op or ONNX op of that name) in `scope`.
std::vector<std::string_view> restrictions_of(std::string_view op, OpRestriction::Scope scope);

}  // namespace kiln::ops
