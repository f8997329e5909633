#include "passes/identity_elimination.h"

#include <algorithm>

namespace kiln::passes {

namespace {

bool constant_equals(const ir::Value* v, double expected) {
  return v && v->is_constant() && v->constant->numel() == 1 &&
         v->constant->as_double(0) == expected;
}

// Dropout is the identity unless it runs in training mode with a nonzero ratio (which its
// shape inference then reports).
bool is_identity_dropout(const ir::Node& node) {
  if (node.outputs.size() > 1 && node.outputs[1]) return false;  // the mask is used
  if (!node.has_input(2) || constant_equals(node.inputs[2], 0)) return true;
  return constant_equals(node.has_input(1) ? node.inputs[1] : nullptr, 0);
}

class IdentityElimination : public Pass {
 public:
  std::string name() const override { return "identity_elimination"; }

  bool apply(ir::Graph& graph) override {
    std::vector<ir::Node*> removable;
    for (auto& node : graph.nodes()) {
      if (node->op != "Identity" && !(node->op == "Dropout" && is_identity_dropout(*node)))
        continue;
      if (!node->has_input(0) || !node->outputs[0]) continue;
      ir::Value* in = node->inputs[0];
      ir::Value* out = node->outputs[0];
      const auto& outputs = graph.outputs();
      bool out_is_graph_output = std::find(outputs.begin(), outputs.end(), out) != outputs.end();
      if (out_is_graph_output) {
        // Rename-through: the producer of `in` (if any, and `in` is not itself an output)
        // may produce the graph output directly, keeping the output's name.
        bool in_is_output = std::find(outputs.begin(), outputs.end(), in) != outputs.end();
        bool in_is_input =
            std::find(graph.inputs().begin(), graph.inputs().end(), in) != graph.inputs().end();
        if (in_is_output || in_is_input || in->is_constant() || !in->producer) continue;
        if (graph.users(in).size() != 1) continue;
        ir::Node* producer = in->producer;
        for (ir::Value*& o : producer->outputs) {
          if (o == in) o = out;
        }
        out->producer = producer;
        in->producer = nullptr;
        node->inputs.clear();
        removable.push_back(node.get());
        continue;
      }
      graph.replace_all_uses(out, in);
      removable.push_back(node.get());
    }
    for (ir::Node* n : removable) {
      n->outputs.assign(n->outputs.size(), nullptr);
      graph.erase_node(n);
    }
    return !removable.empty();
  }
};

}  // namespace

std::unique_ptr<Pass> make_identity_elimination() {
  return std::make_unique<IdentityElimination>();
}

}  // namespace kiln::passes
