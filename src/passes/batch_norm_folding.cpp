#include "passes/batch_norm_folding.h"

#include <cmath>

#include "passes/graph_queries.h"

namespace kiln::passes {

namespace {

bool is_float_constant(const ir::Value* v) {
  if (!v || !v->is_constant()) return false;
  const DataType t = v->constant->dtype();
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kFloat64;
}

bool fold(ir::Graph& graph, ir::Node* conv) {
  if (conv->inputs.size() < 2 || !conv->outputs[0] || !is_float_constant(conv->inputs[1]))
    return false;
  ir::Node* bn = sole_reader(graph, conv->outputs[0]);
  if (!bn || bn->op != "BatchNormalization" || bn->inputs.size() != 5 ||
      bn->inputs[0] != conv->outputs[0])
    return false;
  if (bn->attr_int("training_mode", 0) != 0) return false;
  for (size_t i = 1; i < bn->outputs.size(); ++i) {
    if (bn->outputs[i] && !graph.users(bn->outputs[i]).empty()) return false;
  }
  for (size_t i = 1; i < 5; ++i) {
    if (!is_float_constant(bn->inputs[i])) return false;
  }
  const Tensor& w = *conv->inputs[1]->constant;
  if (w.shape().empty()) return false;
  const int64_t k = w.shape()[0];
  for (size_t i = 1; i < 5; ++i) {
    if (bn->inputs[i]->constant->numel() != k) return false;
  }
  const bool has_bias = conv->has_input(2);
  if (has_bias && (!is_float_constant(conv->inputs[2]) || conv->inputs[2]->constant->numel() != k))
    return false;

  const double epsilon = bn->attr_float("epsilon", 1e-5);
  const std::vector<double> scale = bn->inputs[1]->constant->to_double_vector();
  const std::vector<double> shift = bn->inputs[2]->constant->to_double_vector();
  const std::vector<double> mean = bn->inputs[3]->constant->to_double_vector();
  const std::vector<double> var = bn->inputs[4]->constant->to_double_vector();
  std::vector<double> weights = w.to_double_vector();
  std::vector<double> bias = has_bias ? conv->inputs[2]->constant->to_double_vector()
                                      : std::vector<double>(size_t(k), 0.0);
  const size_t per_channel = weights.size() / size_t(k);
  for (size_t c = 0; c < size_t(k); ++c) {
    const double s = scale[c] / std::sqrt(var[c] + epsilon);
    for (size_t j = 0; j < per_channel; ++j) weights[c * per_channel + j] *= s;
    bias[c] = (bias[c] - mean[c]) * s + shift[c];
  }
  const DataType t = w.dtype();
  ir::Value* new_w = graph.add_constant(
      graph.unique_name(conv->inputs[1]->name + "_bn"),
      Tensor::from_vector<double>(DataType::kFloat64, w.shape(), weights).cast(t));
  ir::Value* new_b =
      graph.add_constant(graph.unique_name(conv->name + "_bn_bias"),
                         Tensor::from_vector<double>(DataType::kFloat64, {k}, bias).cast(t));
  std::vector<ir::Value*> inputs{conv->inputs[0], new_w, new_b};
  insert_replacement(graph, bn, conv->op, graph.unique_name(conv->name + "_bn"), inputs,
                     conv->attrs);
  graph.erase_node(bn);
  graph.erase_node(conv);
  return true;
}

}  // namespace

size_t fold_batch_norms(ir::Graph& graph) {
  std::vector<ir::Node*> convs;
  for (auto& node : graph.nodes()) {
    if (node->op == "Conv") convs.push_back(node.get());
  }
  size_t folded = 0;
  for (ir::Node* conv : convs) folded += fold(graph, conv) ? 1 : 0;
  return folded;
}

namespace {

class BatchNormFolding : public Pass {
 public:
  std::string name() const override { return "batch_norm_folding"; }
  bool apply(ir::Graph& graph) override {
    folded_ = fold_batch_norms(graph);
    return folded_ > 0;
  }
  std::string summary() const override {
    return folded_ ? cat("batch norms folded: ", folded_) : std::string();
  }

 private:
  size_t folded_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_batch_norm_folding() { return std::make_unique<BatchNormFolding>(); }

}  // namespace kiln::passes
