#include "passes/constant_folding.h"

#include "ops/shape_inference.h"

namespace kiln::passes {

namespace {

// Ops whose result is not a pure function of their inputs must not be folded.
bool is_foldable_op(const std::string& op) {
  return op != "RandomNormal" && op != "RandomUniform" && op != "RandomNormalLike" &&
         op != "RandomUniformLike" && op != "Multinomial" && op != "Bernoulli";
}

class ConstantFolding : public Pass {
 public:
  std::string name() const override { return "constant_folding"; }

  bool apply(ir::Graph& graph) override {
    bool changed = false;
    std::vector<ir::Node*> folded;
    for (auto& node_ptr : graph.nodes()) {
      ir::Node& node = *node_ptr;
      if (!is_foldable_op(node.op) || node.outputs.empty()) continue;
      bool all_constant = true;
      for (const ir::Value* in : node.inputs) {
        if (in && !in->is_constant()) all_constant = false;
      }
      for (const auto& [key, attr] : node.attrs) {
        if (std::holds_alternative<std::shared_ptr<ir::Graph>>(attr)) all_constant = false;
      }
      if (!all_constant) continue;
      ops::ResolvedShapes known;
      std::vector<const Tensor*> inputs;
      for (const ir::Value* in : node.inputs) {
        if (!in) {
          inputs.push_back(nullptr);
          continue;
        }
        known.desc[in] = ops::TensorDesc{in->constant->dtype(), in->constant->shape()};
        known.values[in] = *in->constant;
        inputs.push_back(&*in->constant);
      }
      ops::InferContext ictx = ops::infer_node(node, known);
      size_t bytes = 0;
      for (const auto& d : ictx.outputs()) {
        if (d) bytes += size_t(volume(d->shape)) * element_size(d->dtype);
      }
      if (bytes > kMaxFoldedBytes) continue;
      std::vector<Tensor> outs;
      std::vector<Tensor*> out_ptrs;
      outs.reserve(node.outputs.size());
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        if (ictx.output_values()[i]) {
          outs.push_back(*ictx.output_values()[i]);
        } else {
          outs.push_back(Tensor::zeros(ictx.outputs()[i]->dtype, ictx.outputs()[i]->shape));
        }
      }
      out_ptrs.reserve(outs.size());
      for (auto& t : outs) out_ptrs.push_back(&t);
      ops::ComputeContext cctx(node, inputs, out_ptrs);
      ops::OpRegistry::instance().get(node).compute(cctx);
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        ir::Value* out = node.outputs[i];
        if (!out) continue;
        // The value keeps its name (users and graph outputs refer to it); it just stops
        // having a producer.
        out->constant = std::move(outs[i]);
        out->dtype = out->constant->dtype();
        out->shape = ir::from_dims(out->constant->shape());
        out->has_shape = true;
        out->producer = nullptr;
      }
      folded.push_back(&node);
      changed = true;
    }
    for (ir::Node* n : folded) {
      for (ir::Value*& out : n->outputs) out = nullptr;  // now owned as constants
      graph.erase_node(n);
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_constant_folding() { return std::make_unique<ConstantFolding>(); }

}  // namespace kiln::passes
