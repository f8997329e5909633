// Helpers for the convolution, pooling, matmul and fast-kernel tests: deterministic input
// patterns (the same formulas the pasted onnxruntime numbers were produced from), random
// tensors, comparisons, and running a node through both its reference compute and the CPU
// backend's fast kernel.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ops/op_harness.h"

namespace kiln::testing {

// x[i] = ((i * 7) % 11 - 5) / 4 — numpy: (((np.arange(n) * 7) % 11 - 5) / 4).
inline Tensor x_pattern(Dims shape) {
  std::vector<float> v(size_t(volume(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(int64_t(i * 7 % 11) - 5) / 4.0f;
  return f32(std::move(shape), v);
}

// w[i] = ((i * 5) % 7 - 3) / 2 — numpy: (((np.arange(n) * 5) % 7 - 3) / 2).
inline Tensor w_pattern(Dims shape) {
  std::vector<float> v(size_t(volume(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(int64_t(i * 5 % 7) - 3) / 2.0f;
  return f32(std::move(shape), v);
}

// b[i] = i * 0.5 - 1.
inline Tensor b_pattern(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) * 0.5f - 1.0f;
  return f32({n}, v);
}

// Uniform in [-1, 1), reproducible from the seed.
inline Tensor random_f32(Dims shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size_t(volume(shape)));
  for (float& x : v) x = dist(rng);
  return f32(std::move(shape), v);
}

// ||a - b|| / ||b|| over all elements (as doubles); both must have the same element count.
inline double relative_l2(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) {
    const double d = a.as_double(i) - b.as_double(i);
    diff += d * d;
    norm += b.as_double(i) * b.as_double(i);
  }
  return norm == 0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

// Asserts elementwise closeness to expected values.
inline void expect_values(const Tensor& t, const std::vector<double>& expected,
                          double tolerance = 1e-5) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tolerance) << "at element " << i;
  }
}

// The reference compute's and the fast kernel's results for one node on the same inputs.
struct FastAndReference {
  std::string kernel;  // the selected fast kernel's name; empty when none supports the node
  Tensor reference;
  Tensor fast;
};

inline FastAndReference run_fast_and_reference(const std::string& op,
                                               const std::vector<Tensor>& inputs,
                                               ir::Attributes attrs = {}) {
  ir::Graph graph;
  std::vector<ir::Value*> in_values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_values.push_back(
        inputs[i].defined() ? graph.add_constant("in" + std::to_string(i), inputs[i]) : nullptr);
  }
  ir::Node* node = graph.add_node(op, "node", in_values, {"out0"}, std::move(attrs));
  ops::ResolvedShapes known;
  std::vector<ops::TensorDesc> descs;
  std::vector<const Tensor*> in_ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    in_ptrs.push_back(inputs[i].defined() ? &inputs[i] : nullptr);
    if (!inputs[i].defined()) continue;
    known.desc[in_values[i]] = ops::TensorDesc{inputs[i].dtype(), inputs[i].shape()};
    known.values[in_values[i]] = inputs[i];
    descs.push_back(known.desc[in_values[i]]);
  }
  ops::InferContext ictx = ops::infer_node(*node, known);
  const ops::TensorDesc out_desc = *ictx.outputs()[0];

  FastAndReference result;
  result.reference = Tensor::zeros(out_desc.dtype, out_desc.shape);
  ops::ComputeContext ref_ctx(*node, in_ptrs, {&result.reference});
  ops::OpRegistry::instance().get(*node).compute(ref_ctx);

  const cpu::CpuKernel* kernel = cpu::CpuKernelRegistry::instance().select(*node, descs);
  if (kernel == nullptr) return result;
  result.kernel = kernel->name;
  // Start from garbage so that a kernel that forgets to write an element is caught.
  result.fast = Tensor::zeros(out_desc.dtype, out_desc.shape);
  if (out_desc.dtype == DataType::kFloat32) {
    std::fill_n(result.fast.data<float>(), result.fast.numel(), std::nanf(""));
  }
  ops::ComputeContext fast_ctx(*node, in_ptrs, {&result.fast});
  kernel->run(fast_ctx);
  return result;
}

}  // namespace kiln::testing
