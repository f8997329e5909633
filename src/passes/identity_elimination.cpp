#include "passes/identity_elimination.h"

#include <algorithm>

namespace kiln::passes {

namespace {

class IdentityElimination : public Pass {
 public:
  std::string name() const override { return "identity_elimination"; }

  bool apply(ir::Graph& graph) override {
    std::vector<ir::Node*> removable;
    for (auto& node : graph.nodes()) {
      if (node->op != "Identity" && node->op != "Dropout") continue;
      if (node->op == "Dropout" && node->outputs.size() > 1 && node->outputs[1]) continue;
      if (node->inputs.size() != 1 || !node->inputs[0] || !node->outputs[0]) continue;
      ir::Value* in = node->inputs[0];
      ir::Value* out = node->outputs[0];
      const auto& outputs = graph.outputs();
      bool out_is_graph_output = std::find(outputs.begin(), outputs.end(), out) != outputs.end();
      if (out_is_graph_output) {
        // Rename-through: the producer of `in` (if any, and `in` is not itself an output)
        // may produce the graph output directly, keeping the output's name.
        bool in_is_output = std::find(outputs.begin(), outputs.end(), in) != outputs.end();
        bool in_is_input = std::find(graph.inputs().begin(), graph.inputs().end(), in) != graph.inputs().end();
        if (in_is_output || in_is_input || in->is_constant() || !in->producer) continue;
        if (graph.users(in).size() != 1) continue;
        ir::Node* producer = in->producer;
        for (ir::Value*& o : producer->outputs) {
          if (o == in) o = out;
        }
        out->producer = producer;
        in->producer = nullptr;
        node->inputs[0] = nullptr;
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

std::unique_ptr<Pass> make_identity_elimination() { return std::make_unique<IdentityElimination>(); }

}  // namespace kiln::passes
