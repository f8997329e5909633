// The builder's tactic choice for the CUDA backend: which registered kernel runs each node (at
// the profile's opt shapes), or that the node is evaluated at shape time or chosen as the engine
// runs (shapes that wait for data, control flow).
#include "backends/cuda/control_flow.cuh"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

NodeQuery make_query(const ir::Node& node, const ops::ResolvedShapes& r, uint32_t builder_flags,
                     uint32_t tactic_sources) {
  NodeQuery q;
  q.node = &node;
  q.builder_flags = builder_flags;
  q.tactic_sources = tactic_sources;
  for (const ir::Value* in : node.inputs) {
    TensorInfo t;
    if (in) {
      const ops::TensorDesc& d = r.of(in);
      t = TensorInfo{true, d.dtype, d.shape, nullptr};
      if (auto it = r.values.find(in); it != r.values.end()) t.host_value = &it->second;
    }
    q.inputs.push_back(std::move(t));
  }
  for (const ir::Value* out : node.outputs) {
    TensorInfo t;
    if (out) {
      const ops::TensorDesc& d = r.of(out);
      t = TensorInfo{true, d.dtype, d.shape, nullptr};
    }
    q.outputs.push_back(std::move(t));
  }
  return q;
}

bool supports_types(const ir::Node& node, const ops::ResolvedShapes& r,
                    const std::vector<DataType>& inputs, const std::vector<DataType>& outputs,
                    uint32_t builder_flags, uint32_t tactic_sources) {
  for (const ir::Value* v : node.inputs) {
    if (v && r.is_deferred(v)) return false;
  }
  for (const ir::Value* v : node.outputs) {
    if (v && r.is_deferred(v)) return false;
  }
  NodeQuery q = make_query(node, r, builder_flags, tactic_sources);
  for (size_t i = 0; i < q.inputs.size() && i < inputs.size(); ++i) q.inputs[i].dtype = inputs[i];
  for (size_t i = 0; i < q.outputs.size() && i < outputs.size(); ++i)
    q.outputs[i].dtype = outputs[i];
  return CudaKernelRegistry::instance().select(q) != nullptr;
}

std::string choose_tactic(const ir::Node& node, const std::vector<ops::ResolvedShapes>& points,
                          size_t opt, uint32_t builder_flags, uint32_t tactic_sources) {
  bool known_everywhere = true;
  bool deferred = false;
  for (const ir::Value* out : node.outputs) {
    if (!out) continue;
    for (const ops::ResolvedShapes& r : points) {
      if (r.is_deferred(out)) deferred = true;
      if (!r.values.count(out)) known_everywhere = false;
    }
  }
  if (known_everywhere) return kShapeTimeTactic;
  if (is_control_flow(node.op)) {
    // Runs as the engine runs (control_flow.cuh); the build checks that every body node can.
    check_bodies_run_on_gpu(node);
    return kRuntimeSelectTactic;
  }
  if (deferred) {
    // Shapes that wait for data: the kernel is chosen when the node runs, for the shapes
    // then known; the build only checks that the op can run on the GPU at all.
    KILN_CHECK(CudaKernelRegistry::instance().has_op(node.op) || computed_from_extents(node.op),
               ErrorCode::kUnsupported, node.describe(), ": the CUDA backend has no kernel for op ",
               node.op,
               " (and no fallback to the CPU); build for DeviceType::kCPU, or change the model");
    return kRuntimeSelectTactic;
  }

  const NodeQuery q = make_query(node, points.at(opt), builder_flags, tactic_sources);
  const CudaKernel* k = CudaKernelRegistry::instance().select(q);
  if (k == nullptr) {
    fail_no_kernel(q,
                   "and no fallback to the CPU; build for DeviceType::kCPU, or change the model");
  }
  // Shape operands are read on the host. One computed at run time is copied there when the
  // node runs, which makes the run wait for the GPU: the kernel is then chosen at that point.
  for (size_t i : k->host_inputs) {
    if (i >= node.inputs.size() || !node.inputs[i]) continue;
    for (const ops::ResolvedShapes& p : points) {
      if (p.values.count(node.inputs[i])) continue;
      KILN_CHECK(volume(p.of(node.inputs[i]).shape) <= ops::kMaxShapeTimeElements,
                 ErrorCode::kUnsupported, node.describe(), ": input ", i, " ('",
                 node.inputs[i]->name, "') is read on the host by the CUDA kernel ", k->name,
                 ", but it is computed at run time and too large to copy there");
      return kRuntimeSelectTactic;
    }
  }
  return k->name;
}

}  // namespace kiln::cuda
