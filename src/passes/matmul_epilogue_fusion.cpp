#include "passes/matmul_epilogue_fusion.h"

#include <algorithm>

#include "passes/graph_queries.h"

namespace kiln::passes {

namespace {

bool is_low_or_float32(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

class EpilogueFusion {
 public:
  EpilogueFusion(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points,
                 bool gelu_as_tanh)
      : graph_(graph), points_(points), descs_(points), gelu_as_tanh_(gelu_as_tanh) {}

  size_t run() {
    std::vector<ir::Node*> products;
    for (auto& node : graph_.nodes()) {
      if (node->op == "MatMul" || node->op == "Gemm") products.push_back(node.get());
    }
    size_t fused = 0;
    for (ir::Node* m : products) fused += fuse(m) ? 1 : 0;
    return fused;
  }

 private:
  // A constant of exactly `n` values laid out as a row: [n] or [1, ..., 1, n].
  static bool is_bias_for(const ir::Value* v, int64_t n) {
    if (!v || !v->is_constant()) return false;
    const Dims& s = v->constant->shape();
    if (s.empty() || s.back() != n) return false;
    return std::all_of(s.begin(), s.end() - 1, [](int64_t d) { return d == 1; });
  }

  // A Gemm that is a MatMul plus a bias: no transposes, alpha 1, and C (if any) a bias row
  // added with beta 1. Its bias, or nullptr.
  static bool plain_gemm(const ir::Node* m, int64_t n, ir::Value** bias) {
    if (m->attr_int("transA", 0) != 0 || m->attr_int("transB", 0) != 0 ||
        m->attr_float("alpha", 1.0) != 1.0) {
      return false;
    }
    *bias = m->inputs.size() > 2 ? m->inputs[2] : nullptr;
    if (!*bias) return true;
    return m->attr_float("beta", 1.0) == 1.0 && is_bias_for(*bias, n) &&
           (*bias)->constant->dtype() == m->inputs[1]->constant->dtype();
  }

  bool fuse(ir::Node* m) {
    const size_t operands = m->op == "Gemm" ? 3 : 2;
    if (m->inputs.size() < 2 || m->inputs.size() > operands || !m->inputs[0] || !m->inputs[1] ||
        !m->outputs[0]) {
      return false;
    }
    ir::Value* a = m->inputs[0];
    ir::Value* w = m->inputs[1];
    if (!w->is_constant() || w->constant->shape().size() != 2) return false;
    const int64_t n = w->constant->shape()[1];
    ir::Value* bias = nullptr;
    if (m->op == "Gemm" && !plain_gemm(m, n, &bias)) return false;
    const ir::Value* a_resolved = descs_.origin(a);  // A may be an earlier fusion's output
    for (const ops::ResolvedShapes& r : points_) {
      if (!r.desc.count(a_resolved) || r.is_deferred(a_resolved) || r.values.count(a_resolved))
        return false;
      const ops::TensorDesc& d = r.of(a_resolved);
      if (d.shape.size() < 2 || !is_low_or_float32(d.dtype) || d.dtype != w->constant->dtype())
        return false;
    }

    std::vector<ir::Node*> chain{m};
    ir::Value* current = m->outputs[0];
    ir::Value* residual = nullptr;
    std::string activation = "none";
    while (ir::Node* next = sole_reader(graph_, current)) {
      if (next->op == "Add" && next->inputs.size() == 2 && activation == "none") {
        ir::Value* other = next->inputs[0] == current ? next->inputs[1] : next->inputs[0];
        if (!bias && is_bias_for(other, n) && other->constant->dtype() == w->constant->dtype()) {
          bias = other;
        } else if (!residual && other && !other->is_constant() &&
                   descs_.same_everywhere(other, current) &&
                   descs_.same_everywhere(next->outputs[0], current)) {
          residual = other;
        } else {
          break;
        }
      } else if (next->op == "Relu" && activation == "none") {
        activation = "relu";
      } else if (next->op == "Gelu" && activation == "none") {
        const std::string approximate = next->attr_string("approximate", "none");
        // The exact form runs as the tanh form when the builder allows it (gelu_as_tanh_).
        if (approximate == "tanh" || (approximate == "none" && gelu_as_tanh_)) {
          activation = "gelu_tanh";
        } else {
          break;
        }
      } else {
        break;
      }
      chain.push_back(next);
      current = next->outputs[0];
      if (activation != "none") break;  // nothing folds after the activation
    }
    if (chain.size() == 1) return false;  // a plain product: MatMul's own kernel is as good

    if (bias && bias->constant->shape().size() != 1) {
      bias = graph_.add_constant(graph_.unique_name(bias->name + "_row"),
                                 bias->constant->reshaped({n}));
    }
    // The fused node takes the place of the chain's last node (every operand exists by then)
    // and its output's name, so graph outputs keep their names.
    ir::Value* original = chain.back()->outputs[0];
    ir::Node* made = insert_replacement(graph_, chain.back(), "FusedMatMul",
                                        graph_.unique_name(m->name + "_fused"),
                                        {a, w, bias, residual}, {{"activation", activation}});
    descs_.replaced(made->outputs[0], original);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) graph_.erase_node(*it);
    return true;
  }

  ir::Graph& graph_;
  const std::vector<ops::ResolvedShapes>& points_;
  ValueDescs descs_;
  bool gelu_as_tanh_;
};

}  // namespace

size_t fuse_matmul_epilogues(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points,
                             bool gelu_as_tanh) {
  return EpilogueFusion(graph, points, gelu_as_tanh).run();
}

namespace {

class MatMulEpilogueFusion : public Pass {
 public:
  MatMulEpilogueFusion(const PassContext& context, bool gelu_as_tanh)
      : context_(context), gelu_as_tanh_(gelu_as_tanh) {}
  std::string name() const override { return "matmul_epilogue_fusion"; }
  bool apply(ir::Graph& graph) override {
    fused_ = fuse_matmul_epilogues(graph, context_.points, gelu_as_tanh_);
    return fused_ > 0;
  }
  std::string summary() const override {
    return fused_ ? cat("matrix products with fused epilogues: ", fused_) : std::string();
  }

 private:
  const PassContext& context_;
  const bool gelu_as_tanh_;
  size_t fused_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_matmul_epilogue_fusion(const PassContext& context, bool gelu_as_tanh) {
  return std::make_unique<MatMulEpilogueFusion>(context, gelu_as_tanh);
}

}  // namespace kiln::passes
