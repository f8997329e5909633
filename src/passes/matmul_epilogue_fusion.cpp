#include "passes/matmul_epilogue_fusion.h"

#include <algorithm>

namespace kiln::passes {

namespace {

bool is_low_or_float32(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

class EpilogueFusion {
 public:
  EpilogueFusion(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points, bool gelu_as_tanh)
      : graph_(graph), points_(points), gelu_as_tanh_(gelu_as_tanh) {}

  size_t run() {
    std::vector<ir::Node*> products;
    for (auto& node : graph_.nodes()) {
      if (node->op == "MatMul") products.push_back(node.get());
    }
    size_t fused = 0;
    for (ir::Node* m : products) fused += fuse(m) ? 1 : 0;
    return fused;
  }

 private:
  bool is_graph_output(const ir::Value* v) const {
    const auto& outs = graph_.outputs();
    return std::find(outs.begin(), outs.end(), v) != outs.end();
  }

  // The only node reading `v`, when `v` is not also a graph output.
  ir::Node* sole_reader(const ir::Value* v) const {
    if (is_graph_output(v)) return nullptr;
    std::vector<ir::Node*> readers = graph_.users(v);
    if (readers.size() != 1) return nullptr;
    // A node reading v twice (Add(v, v)) is not an epilogue.
    const auto& ins = readers[0]->inputs;
    return std::count(ins.begin(), ins.end(), v) == 1 ? readers[0] : nullptr;
  }

  // Whether `v` has the same known type and shape as `like` at every profile point.
  bool same_desc_everywhere(const ir::Value* v, const ir::Value* like) const {
    for (const ops::ResolvedShapes& r : points_) {
      if (!r.desc.count(v) || !r.desc.count(like) || r.is_deferred(v)) return false;
      if (r.of(v).dtype != r.of(like).dtype || r.of(v).shape != r.of(like).shape) return false;
    }
    return true;
  }

  // A constant of exactly `n` values laid out as a row: [n] or [1, ..., 1, n].
  static bool is_bias_for(const ir::Value* v, int64_t n) {
    if (!v || !v->is_constant()) return false;
    const Dims& s = v->constant->shape();
    if (s.empty() || s.back() != n) return false;
    return std::all_of(s.begin(), s.end() - 1, [](int64_t d) { return d == 1; });
  }

  bool fuse(ir::Node* m) {
    if (m->inputs.size() != 2 || !m->inputs[0] || !m->inputs[1] || !m->outputs[0]) return false;
    ir::Value* a = m->inputs[0];
    ir::Value* w = m->inputs[1];
    if (!w->is_constant() || w->constant->shape().size() != 2) return false;
    const int64_t n = w->constant->shape()[1];
    for (const ops::ResolvedShapes& r : points_) {
      if (!r.desc.count(a) || r.is_deferred(a) || r.values.count(a)) return false;
      if (r.of(a).shape.size() < 2 || !is_low_or_float32(r.of(a).dtype)) return false;
      if (r.of(a).dtype != w->constant->dtype()) return false;
    }

    std::vector<ir::Node*> chain{m};
    ir::Value* current = m->outputs[0];
    ir::Value* bias = nullptr;
    ir::Value* residual = nullptr;
    std::string activation = "none";
    while (ir::Node* next = sole_reader(current)) {
      if (next->op == "Add" && next->inputs.size() == 2 && activation == "none") {
        ir::Value* other = next->inputs[0] == current ? next->inputs[1] : next->inputs[0];
        if (!bias && is_bias_for(other, n) && other->constant->dtype() == w->constant->dtype()) {
          bias = other;
        } else if (!residual && other && !other->is_constant() && same_desc_everywhere(other, current) &&
                   same_desc_everywhere(next->outputs[0], current)) {
          residual = other;
        } else {
          break;
        }
      } else if (next->op == "Relu" && activation == "none") {
        activation = "relu";
      } else if (next->op == "Gelu" && activation == "none") {
        const std::string approximate = next->attr_string("approximate", "none");
        if (approximate == "tanh") activation = "gelu_tanh";
        else if (approximate == "none" && gelu_as_tanh_) activation = "gelu_tanh";
        else break;
      } else {
        break;
      }
      chain.push_back(next);
      current = next->outputs[0];
      if (activation != "none") break;  // nothing folds after the activation
    }
    if (chain.size() == 1) return false;  // a plain product: MatMul's own kernel is as good

    if (bias && bias->constant->shape().size() != 1) {
      bias = graph_.add_constant(graph_.unique_name(bias->name + "_row"), bias->constant->reshaped({n}));
    }
    // The fused node takes the place of the chain's last node (every operand exists by then)
    // and its output value, so graph outputs keep their names.
    ir::Node* last = chain.back();
    auto position = std::find_if(graph_.nodes().begin(), graph_.nodes().end(),
                                 [&](const auto& p) { return p.get() == last; });
    ir::Value* result = last->outputs[0];
    const std::string result_name = result->name;
    graph_.rename_value(result, graph_.unique_name(result_name + "_unfused"));
    std::vector<ir::Value*> operands{a, w, bias, residual};
    while (!operands.back()) operands.pop_back();  // omitted optional inputs at the end
    ir::Node* fused = graph_.insert_node(position, "FusedMatMul", graph_.unique_name(m->name + "_fused"),
                                         operands, {result_name},
                                         {{"activation", activation}});
    graph_.replace_all_uses(result, fused->outputs[0]);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) graph_.erase_node(*it);
    return true;
  }

  ir::Graph& graph_;
  const std::vector<ops::ResolvedShapes>& points_;
  bool gelu_as_tanh_;
};

}  // namespace

size_t fuse_matmul_epilogues(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points,
                             bool gelu_as_tanh) {
  return EpilogueFusion(graph, points, gelu_as_tanh).run();
}

}  // namespace kiln::passes
