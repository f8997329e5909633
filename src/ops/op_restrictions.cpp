#include "ops/op_restrictions.h"

#include <algorithm>

namespace kiln::ops {
namespace {

using Scope = OpRestriction::Scope;

// Each entry names where its check lives, so that the two can be kept in step.
std::vector<OpRestriction> make_restrictions() {
  std::vector<OpRestriction> r = {
      // src/ops/attention.cpp, infer: a float8 mask is refused.
      {"Attention", Scope::kOp, "attn_mask of a float8 type"},
      // src/ops/normalization.cpp, infer_batch_norm.
      {"BatchNormalization", Scope::kOp, "training_mode=1 (kiln runs inference only)"},
      {"BatchNormalization", Scope::kOp,
       "the running_mean/running_var outputs (they exist only in training mode)"},
      // src/ops/identity.cpp, Dropout's infer.
      {"Dropout", Scope::kOp,
       "training_mode=true unless ratio is a constant 0 (random dropout; kiln runs inference "
       "only)"},
      // src/ops/grid_sample.cpp, infer_grid_sample.
      {"GridSample", Scope::kOp, "bool X only with mode 'nearest'"},
      // src/ops/resize.cpp, infer_resize.
      {"Resize", Scope::kOp, "linear and cubic interpolation of bool tensors"},
      // src/ops/tfidf_vectorizer.cpp: strings are not a kiln data type.
      {"TfIdfVectorizer", Scope::kOp, "string inputs and string pools (pool_strings)"},

      // src/onnx/import_normalization.cpp, import_batch_normalization.
      {"BatchNormalization", Scope::kImport,
       "opsets 1–8: spatial=0 (statistics per element rather than per channel)"},
      {"BatchNormalization", Scope::kImport,
       "opsets 1–8: the saved batch statistics outputs (3, 4) when used (training only)"},
      // src/onnx/import_constant.cpp.
      {"Constant", Scope::kImport,
       "string constants (value_string, value_strings) and sparse constants (sparse_value)"},
      // src/onnx/import_control_flow.cpp, import_scan8.
      {"Scan", Scope::kImport, "opset 8: a sequence_lens input (sequences of different lengths)"},
      // src/onnx/import_resize.cpp, emit_resize_from_scales.
      {"Resize", Scope::kImport,
       "opset 10: nearest mode with constant scales that enlarge some axes and shrink others"},
      {"Upsample", Scope::kImport,
       "nearest mode with constant scales that enlarge some axes and shrink others"},
  };
  // src/onnx/import_elementwise.cpp, align_at_axis: the opset 1–6 binary ops.
  for (const char* op :
       {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Less", "Greater"}) {
    r.push_back({op, Scope::kImport,
                 "opsets 1–6: broadcast=1 with a negative axis when A's rank is unknown while "
                 "importing"});
  }
  std::stable_sort(r.begin(), r.end(), [](const OpRestriction& a, const OpRestriction& b) {
    return a.op != b.op ? a.op < b.op : a.scope < b.scope;
  });
  return r;
}

}  // namespace

const std::vector<OpRestriction>& op_restrictions() {
  static const std::vector<OpRestriction> restrictions = make_restrictions();
  return restrictions;
}

std::vector<std::string_view> restrictions_of(std::string_view op, OpRestriction::Scope scope) {
  std::vector<std::string_view> out;
  for (const OpRestriction& r : op_restrictions()) {
    if (r.op == op && r.scope == scope) out.push_back(r.text);
  }
  return out;
}

}  // namespace kiln::ops
