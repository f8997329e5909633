#include "passes/shape_value_freezing.h"

#include <algorithm>
#include <cstring>

namespace kiln::passes {

namespace {

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

class ShapeValueFreezing : public Pass {
 public:
  explicit ShapeValueFreezing(const PassContext& context) : context_(context) {}
  std::string name() const override { return "shape_value_freezing"; }

  bool apply(ir::Graph& graph) override {
    std::vector<ir::Node*> frozen;
    for (auto& node : graph.nodes()) {
      std::vector<const Tensor*> values;
      for (ir::Value* out : node->outputs) values.push_back(same_everywhere(out));
      if (values.empty() || std::count(values.begin(), values.end(), nullptr) > 0) continue;
      for (size_t i = 0; i < values.size(); ++i) {
        ir::Value* out = node->outputs[i];
        out->constant = values[i]->clone();
        out->dtype = out->constant->dtype();
        out->shape = ir::from_dims(out->constant->shape());
        out->has_shape = true;
        out->producer = nullptr;
        node->outputs[i] = nullptr;
      }
      frozen.push_back(node.get());
    }
    for (ir::Node* n : frozen) graph.erase_node(n);
    return !frozen.empty();
  }

 private:
  // The value of `out` when it is known with the same contents at every point, else null.
  const Tensor* same_everywhere(const ir::Value* out) const {
    if (!out) return nullptr;
    const Tensor* first = nullptr;
    for (const ops::ResolvedShapes& r : context_.points) {
      auto it = r.values.find(out);
      if (it == r.values.end()) return nullptr;
      if (!first)
        first = &it->second;
      else if (!same_tensor(*first, it->second))
        return nullptr;
    }
    return first;
  }

  const PassContext& context_;
};

}  // namespace

std::unique_ptr<Pass> make_shape_value_freezing(const PassContext& context) {
  return std::make_unique<ShapeValueFreezing>(context);
}

}  // namespace kiln::passes
