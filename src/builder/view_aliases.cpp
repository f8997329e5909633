#include "builder/view_aliases.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace kiln::builder {

namespace {

bool is_view_op(const std::string& op) {
  static constexpr std::array<std::string_view, 5> kViews = {"Reshape", "Flatten", "Squeeze",
                                                             "Unsqueeze", "Identity"};
  return std::find(kViews.begin(), kViews.end(), op) != kViews.end();
}

}  // namespace

std::unordered_map<const ir::Value*, const ir::Value*> find_view_aliases(
    const ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points) {
  std::unordered_map<const ir::Value*, const ir::Value*> aliases;
  const auto& outputs = graph.outputs();
  for (const auto& node : graph.nodes()) {
    if (!is_view_op(node->op) || node->inputs.empty() || node->outputs.size() != 1) continue;
    const ir::Value* in = node->inputs[0];
    const ir::Value* out = node->outputs[0];
    if (!in || !out || in->is_constant()) continue;
    if (std::find(outputs.begin(), outputs.end(), out) != outputs.end()) continue;
    bool plain = true;
    for (const ops::ResolvedShapes& r : points) {
      plain = plain && !r.is_deferred(in) && !r.is_deferred(out) && !r.values.count(out) &&
              !r.values.count(in) && r.of(in).dtype == r.of(out).dtype;
    }
    if (plain) aliases[out] = in;
  }
  return aliases;
}

}  // namespace kiln::builder
