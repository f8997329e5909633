// Runs one op on host tensors through its shape inference and reference compute, for per-op
// tests. Every input is given as a constant, so shape-time inputs (axes, shape, pads) are known.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln::testing {

// Omit an optional input by passing a default-constructed Tensor (defined() == false).
inline std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs,
                                  ir::Attributes attrs = {}, int num_outputs = 1) {
  ir::Graph graph;
  std::vector<ir::Value*> in_values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_values.push_back(
        inputs[i].defined() ? graph.add_constant("in" + std::to_string(i), inputs[i]) : nullptr);
  }
  std::vector<std::string> out_names;
  for (int i = 0; i < num_outputs; ++i) out_names.push_back("out" + std::to_string(i));
  ir::Node* node = graph.add_node(op, "node", in_values, out_names, std::move(attrs));
  ops::ResolvedShapes known;
  for (ir::Value* v : in_values) {
    if (!v) continue;
    known.desc[v] = ops::TensorDesc{v->constant->dtype(), v->constant->shape()};
    known.values[v] = *v->constant;
  }
  ops::InferContext ictx = ops::infer_node(*node, known);
  std::vector<Tensor> outputs;
  std::vector<Tensor*> out_ptrs;
  outputs.reserve(size_t(num_outputs));
  for (int i = 0; i < num_outputs; ++i) {
    const auto& d = *ictx.outputs()[size_t(i)];
    outputs.push_back(Tensor::zeros(d.dtype, d.shape));
  }
  for (auto& t : outputs) out_ptrs.push_back(&t);
  std::vector<const Tensor*> in_ptrs;
  for (const Tensor& t : inputs) in_ptrs.push_back(t.defined() ? &t : nullptr);
  ops::ComputeContext cctx(*node, in_ptrs, out_ptrs);
  ops::OpRegistry::instance().get(*node).compute(cctx);
  return outputs;
}

inline Tensor f32(Dims shape, std::vector<float> values) {
  return Tensor::from_vector<float>(DataType::kFloat32, std::move(shape), values);
}
inline Tensor i64(Dims shape, std::vector<int64_t> values) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, std::move(shape), values);
}

}  // namespace kiln::testing
