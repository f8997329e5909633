#include "ops/op.h"

#include "core/checked_size.h"

namespace kiln::ops {

InferContext::InferContext(const ir::Node& node, std::vector<std::optional<TensorDesc>> inputs,
                           std::vector<const Tensor*> input_values)
    : node_(node),
      inputs_(std::move(inputs)),
      input_values_(std::move(input_values)),
      outputs_(node.outputs.size()),
      output_values_(node.outputs.size()),
      data_dependent_(node.outputs.size()) {}

const TensorDesc& InferContext::input(size_t i) const {
  check(has_input(i), "input ", i, " is required but missing");
  return *inputs_[i];
}

const Tensor* InferContext::input_value(size_t i) const {
  return i < input_values_.size() ? input_values_[i] : nullptr;
}

const Tensor& InferContext::require_value(size_t i, std::string_view what) const {
  const Tensor* v = input_value(i);
  if (v == nullptr) {
    throw ShapeValueUnavailable(
        ErrorCode::kUnsupported,
        cat(node_.describe(), ": its ", what, " (input ", i,
            (node_.has_input(i) ? cat(" '", node_.inputs[i]->name, "'") : std::string()),
            ") depends on runtime data, so its output shape is known only when it runs"));
  }
  return *v;
}

const Tensor& InferContext::require_integer_value(size_t i, std::string_view what) const {
  const Tensor& value = require_value(i, what);
  check(value.dtype() == DataType::kInt64 || value.dtype() == DataType::kInt32, "its ", what,
        " (input ", i, ") must be an int64 or int32 tensor, got ", to_string(value.dtype()));
  return value;
}

std::vector<int64_t> InferContext::require_shape_value(size_t i, std::string_view what) const {
  const Tensor& value = require_integer_value(i, what);
  check(value.rank() == 1, "its ", what, " (input ", i, ") must be 1-D, got shape ",
        to_string(value.shape()));
  check(size_t(value.numel()) <= kMaxTensorRank, "its ", what, " (input ", i, ") has ",
        value.numel(), " entries, more than kiln's limit of ", kMaxTensorRank, " dimensions");
  return value.to_int64_vector();
}

const Tensor* InferContext::optional_integer_value(size_t i, std::string_view what) const {
  return has_input(i) ? &require_integer_value(i, what) : nullptr;
}

void InferContext::set_output(size_t i, DataType dtype, Dims shape) {
  KILN_ASSERT(i < outputs_.size());
  check(shape.size() <= kMaxTensorRank, "output ", i, " would have rank ", shape.size(),
        ", more than kiln's limit of ", kMaxTensorRank, " dimensions");
  for (int64_t d : shape) {
    check(d >= 0, "output ", i, " would have shape ", to_string(shape));
  }
  outputs_[i] = TensorDesc{dtype, std::move(shape)};
}

void InferContext::set_output_value(size_t i, Tensor value) {
  KILN_ASSERT(i < outputs_.size());
  outputs_[i] = TensorDesc{value.dtype(), value.shape()};
  output_values_[i] = std::move(value);
}

void InferContext::set_output_data_dependent(size_t i, DataType dtype, size_t rank) {
  KILN_ASSERT(i < outputs_.size());
  check(rank <= kMaxTensorRank, "output ", i, " would have rank ", rank,
        ", more than kiln's limit of ", kMaxTensorRank, " dimensions");
  outputs_[i] = TensorDesc{dtype, Dims(rank, 0)};
  data_dependent_[i] = rank;
}

Tensor& ComputeContext::allocate_output(size_t i, DataType dtype, Dims shape) {
  KILN_ASSERT(has_output(i));
  *outputs_[i] = Tensor::zeros(dtype, std::move(shape));
  return *outputs_[i];
}

const Tensor& ComputeContext::input(size_t i) const {
  KILN_CHECK(has_input(i), ErrorCode::kInvalidModel, node_.describe(), ": input ", i,
             " is required but missing");
  return *inputs_[i];
}

Tensor& ComputeContext::output(size_t i) {
  KILN_ASSERT(has_output(i));
  return *outputs_[i];
}

OpRegistry& OpRegistry::instance() {
  static OpRegistry registry;
  return registry;
}

void OpRegistry::add(OpDef def) {
  KILN_ASSERT(find(def.name) == nullptr);
  std::string name = def.name;
  defs_.emplace(std::move(name), std::make_unique<OpDef>(std::move(def)));
}

const OpDef* OpRegistry::find(std::string_view name) const {
  auto it = defs_.find(name);
  return it == defs_.end() ? nullptr : it->second.get();
}

const OpDef& OpRegistry::get(const ir::Node& node) const {
  const OpDef* def = find(node.op);
  KILN_CHECK(def != nullptr, ErrorCode::kUnsupported, node.describe(), ": kiln has no op '",
             node.op, "'");
  return *def;
}

std::vector<const OpDef*> OpRegistry::all() const {
  std::vector<const OpDef*> out;
  for (const auto& [name, d] : defs_) out.push_back(d.get());
  return out;
}

}  // namespace kiln::ops
