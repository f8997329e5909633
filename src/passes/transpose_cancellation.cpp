#include "passes/transpose_cancellation.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "passes/graph_queries.h"

namespace kiln::passes {

namespace {

// Ops computed element by element whose first input carries the data; the others (if any)
// must be scalar constants for the op to commute with a Transpose.
bool is_unary_pointwise(const std::string& op) {
  static constexpr std::array<std::string_view, 16> kOps = {
      "Relu",      "Sigmoid",  "Tanh", "Clip", "LeakyRelu", "Elu", "Selu", "HardSigmoid",
      "HardSwish", "Softplus", "Neg",  "Abs",  "Sqrt",      "Exp", "Erf",  "Gelu"};
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

bool is_binary_pointwise(const std::string& op) {
  static constexpr std::array<std::string_view, 6> kOps = {"Add", "Sub", "Mul",
                                                           "Div", "Max", "Min"};
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

bool is_scalar_constant(const ir::Value* v) {
  return v && v->is_constant() && v->constant->numel() == 1 && v->constant->shape().size() <= 1;
}

// The Transpose producing `v`, if any, with an explicit perm.
ir::Node* transpose_producing(const ir::Value* v) {
  ir::Node* p = v ? v->producer : nullptr;
  return p && p->op == "Transpose" && p->has_attr("perm") && p->has_input(0) ? p : nullptr;
}

bool undoes(const std::vector<int64_t>& first, const std::vector<int64_t>& second) {
  if (first.size() != second.size()) return false;
  for (size_t i = 0; i < second.size(); ++i) {
    const int64_t j = second[i];
    if (j < 0 || size_t(j) >= first.size() || first[size_t(j)] != int64_t(i)) return false;
  }
  return true;
}

// [N, H, W, C] -> [N, C, H, W].
const std::vector<int64_t> kToNchw{0, 3, 1, 2};

class Cancellation {
 public:
  explicit Cancellation(ir::Graph& graph) : graph_(graph) {}

  size_t run() {
    size_t cancelled = 0;
    for (bool changed = true; changed;) {
      changed = false;
      std::vector<ir::Node*> nodes;
      for (auto& n : graph_.nodes()) nodes.push_back(n.get());
      for (ir::Node* node : nodes) {
        if (node->op == "Transpose") {
          if (cancel_pair(node)) {
            ++cancelled;
            changed = true;
          } else if (merge_duplicate(node)) {
            changed = true;
          }
        } else if (sink_through(node)) {
          changed = true;
        }
      }
      if (changed) graph_.remove_dead_code();
    }
    return cancelled;
  }

 private:
  // Whether a Transpose undoing `perm` reads `v`, directly or after pointwise ops.
  bool leads_to_inverse(const ir::Value* v, const std::vector<int64_t>& perm, int depth) const {
    if (depth == 0) return false;
    for (ir::Node* reader : graph_.users(v)) {
      if (reader->op == "Transpose" && reader->has_attr("perm") &&
          undoes(perm, reader->attr_ints("perm")))
        return true;
      const bool pointwise = is_unary_pointwise(reader->op) || is_binary_pointwise(reader->op);
      if ((pointwise || is_channels_last_pool_candidate(reader, perm)) &&
          reader->outputs.size() == 1 && reader->outputs[0] &&
          leads_to_inverse(reader->outputs[0], perm, depth - 1)) {
        return true;
      }
    }
    return false;
  }

  // A second Transpose of the same value with the same perm: its readers read the first.
  bool merge_duplicate(ir::Node* node) {
    if (!node->has_input(0) || !node->outputs[0] || is_graph_output(graph_, node->outputs[0]))
      return false;
    for (ir::Node* other : graph_.users(node->inputs[0])) {
      if (other == node || other->op != "Transpose" || !other->outputs[0] ||
          !other->has_attr("perm"))
        continue;
      if (other->attr_ints("perm") != node->attr_ints("perm")) continue;
      // Keep the earlier one (it exists before every reader of either).
      const auto later = std::find_if(position_of(graph_, other), graph_.nodes().end(),
                                      [&](const auto& p) { return p.get() == node; });
      if (later == graph_.nodes().end()) continue;
      graph_.replace_all_uses(node->outputs[0], other->outputs[0]);
      graph_.erase_node(node);
      return true;
    }
    return false;
  }

  // Transpose(q)(Transpose(p)(x)) with q undoing p: readers of the second read x.
  bool cancel_pair(ir::Node* second) {
    ir::Node* first = transpose_producing(second->inputs[0]);
    if (!first || !second->has_attr("perm") || !second->outputs[0]) return false;
    if (!undoes(first->attr_ints("perm"), second->attr_ints("perm"))) return false;
    ir::Value* out = second->outputs[0];
    if (is_graph_output(graph_, out)) return false;  // keeps its name and buffer
    graph_.replace_all_uses(out, first->inputs[0]);
    graph_.erase_node(second);
    return true;
  }

  // Pool(Transpose([0,3,1,2])(x)) => Transpose([0,3,1,2])(Pool[layout NHWC](x)) for 2-D MaxPool
  // (without Indices) and AveragePool reading channels-last data converted to NCHW, when a
  // Transpose back to channels-last reads the result (ResNet's stem: conv, pool, conv).
  static bool is_channels_last_pool_candidate(const ir::Node* node,
                                              const std::vector<int64_t>& perm) {
    return (node->op == "MaxPool" || node->op == "AveragePool") && perm == kToNchw &&
           node->outputs.size() == 1 && node->outputs[0] && node->has_input(0) &&
           node->attr_string("layout", "NCHW") == "NCHW";
  }

  bool sink_through_pool(ir::Node* node) {
    ir::Node* t = node->has_input(0) ? transpose_producing(node->inputs[0]) : nullptr;
    if (!t || !is_channels_last_pool_candidate(node, t->attr_ints("perm"))) return false;
    const std::vector<int64_t> to_nchw = kToNchw;
    if (!leads_to_inverse(node->outputs[0], to_nchw, 8)) return false;
    ir::Attributes attrs = node->attrs;
    attrs["layout"] = std::string("NHWC");
    ir::Node* moved = graph_.insert_node(
        position_of(graph_, node), node->op, graph_.unique_name(node->name + "_nhwc"),
        {t->inputs[0]}, {graph_.unique_name(node->outputs[0]->name + "_nhwc")}, attrs);
    insert_replacement(graph_, node, "Transpose", graph_.unique_name(t->name + "_moved"),
                       {moved->outputs[0]}, {{"perm", to_nchw}});
    graph_.erase_node(node);
    return true;
  }

  // op(Transpose(p)(x), ...) => Transpose(p)(op(x, ...)), when a Transpose reads the result
  // (so that the moved one may cancel).
  bool sink_through(ir::Node* node) {
    if (sink_through_pool(node)) return true;
    if (!node->outputs.size() || !node->outputs[0] || node->outputs.size() != 1) return false;
    const bool unary = is_unary_pointwise(node->op);
    const bool binary = is_binary_pointwise(node->op) && node->inputs.size() == 2;
    if (!unary && !binary) return false;
    ir::Node* t = transpose_producing(node->inputs[0]);
    if (!t && binary) t = transpose_producing(node->inputs[1]);
    if (!t) return false;
    const std::vector<int64_t> perm = t->attr_ints("perm");
    // An inverse Transpose must follow (through more pointwise ops), or moving gains nothing.
    if (!leads_to_inverse(node->outputs[0], perm, 8)) return false;
    std::vector<ir::Value*> inputs = node->inputs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i]) continue;
      ir::Node* ti = transpose_producing(inputs[i]);
      if (ti && ti->attr_ints("perm") == perm) {
        inputs[i] = ti->inputs[0];
      } else if (!(is_scalar_constant(inputs[i]) && (unary ? i > 0 : true))) {
        return false;  // an operand that is neither transposed alike nor a scalar
      }
    }
    ir::Node* moved = graph_.insert_node(
        position_of(graph_, node), node->op, graph_.unique_name(node->name + "_moved"), inputs,
        {graph_.unique_name(node->outputs[0]->name + "_moved")}, node->attrs);
    insert_replacement(graph_, node, "Transpose", graph_.unique_name(t->name + "_moved"),
                       {moved->outputs[0]}, {{"perm", perm}});
    graph_.erase_node(node);
    return true;
  }

  ir::Graph& graph_;
};

}  // namespace

size_t cancel_transposes(ir::Graph& graph) { return Cancellation(graph).run(); }

}  // namespace kiln::passes
