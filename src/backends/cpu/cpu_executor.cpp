#include "backends/cpu/cpu_executor.h"

#include <chrono>
#include <cstring>
#include <unordered_map>

#include "backends/cpu/cpu_kernel.h"
#include "core/checked_size.h"

namespace kiln::cpu {

std::string select_kernel_name(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
  const CpuKernel* k = CpuKernelRegistry::instance().select(node, inputs);
  return k ? k->name : "reference";
}

namespace {

// A node whose shapes are known only now: infer it from the live input tensors (all on the
// host, so their values are known too), and compute into freshly allocated outputs.
template <typename TensorOf>
void run_deferred_node(const ir::Node& node, TensorOf& tensor_of,
                       std::unordered_map<const ir::Value*, Tensor>& live) {
  ops::ResolvedShapes local;
  std::vector<const Tensor*> inputs;
  for (const ir::Value* in : node.inputs) {
    if (!in) {
      inputs.push_back(nullptr);
      continue;
    }
    const Tensor& t = tensor_of(in);
    local.desc[in] = ops::TensorDesc{t.dtype(), t.shape()};
    local.values[in] = t;
    inputs.push_back(&t);
  }
  ops::InferContext ictx = ops::infer_node(node, local);
  std::vector<Tensor> outputs(node.outputs.size());
  std::vector<Tensor*> out_ptrs(node.outputs.size(), nullptr);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i]) continue;
    if (!ictx.data_dependent_ranks()[i]) {
      outputs[i] = Tensor::zeros(ictx.outputs()[i]->dtype, ictx.outputs()[i]->shape);
    }
    out_ptrs[i] = &outputs[i];
  }
  ops::ComputeContext ctx(node, inputs, out_ptrs);
  ops::OpRegistry::instance().get(node).compute(ctx);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i]) continue;
    KILN_CHECK(outputs[i].defined(), ErrorCode::kInternal, node.describe(), ": output ", i,
               " was never allocated");
    live[node.outputs[i]] = std::move(outputs[i]);
  }
}

}  // namespace

void execute_graph(const ir::Graph& graph, const plan::MemoryPlanData& memory,
                   const ops::ResolvedShapes& resolved, std::byte* arena, size_t arena_bytes,
                   const std::map<const ir::Value*, void*>& io_addresses,
                   std::map<const ir::Value*, Tensor>* deferred_outputs,
                   const LayerTimeCallback& on_layer_time) {
  std::unordered_map<const ir::Value*, Tensor> live;
  auto tensor_of = [&](const ir::Value* v) -> const Tensor& {
    if (auto it = live.find(v); it != live.end()) return it->second;
    if (auto it = resolved.values.find(v); it != resolved.values.end()) return it->second;
    fail(ErrorCode::kInternal, "value '", v->name, "' is read before it is computed");
  };
  for (const ir::Value* in : graph.inputs()) {
    const ops::TensorDesc& d = resolved.of(in);
    live[in] = Tensor::view(d.dtype, d.shape, io_addresses.at(in));
  }
  for (const auto& node_ptr : graph.nodes()) {
    const ir::Node& node = *node_ptr;
    bool all_known = true;
    for (const ir::Value* out : node.outputs) {
      if (out && !resolved.values.count(out)) all_known = false;
    }
    if (all_known) continue;  // evaluated on the host when shapes were resolved
    const auto started = std::chrono::steady_clock::now();
    struct ReportTime {  // on every path out of this iteration
      const LayerTimeCallback& callback;
      const ir::Node& node;
      std::chrono::steady_clock::time_point started;
      ~ReportTime() {
        if (callback) {
          callback(node, std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() -
                                                                  started)
                             .count());
        }
      }
    } report{on_layer_time, node, started};

    bool deferred = false;
    for (const ir::Value* out : node.outputs) {
      if (out && resolved.is_deferred(out)) deferred = true;
    }
    if (deferred) {
      run_deferred_node(node, tensor_of, live);
      continue;
    }

    std::vector<const Tensor*> inputs;
    std::vector<ops::TensorDesc> descs;
    for (const ir::Value* in : node.inputs) {
      if (!in) {
        inputs.push_back(nullptr);
        descs.push_back({});
        continue;
      }
      const Tensor& t = tensor_of(in);
      inputs.push_back(&t);
      descs.push_back({t.dtype(), t.shape()});
    }
    std::vector<Tensor> outputs(node.outputs.size());
    std::vector<Tensor*> out_ptrs(node.outputs.size(), nullptr);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::Value* out = node.outputs[i];
      if (!out) continue;
      const ops::TensorDesc& d = resolved.of(out);
      void* where = nullptr;
      if (auto it = io_addresses.find(out); it != io_addresses.end()) {
        where = it->second;
      } else {
        auto off = memory.offsets.find(out->name);
        KILN_CHECK(off != memory.offsets.end(), ErrorCode::kInternal, "value '", out->name,
                   "' has no place in the memory plan");
        const std::string what = describe_tensor(out->name, node.name, node.op);
        check_tensor_size(d.dtype, d.shape, what);
        const size_t bytes = checked_bytes(d.dtype, checked_numel(d.shape, what), what);
        KILN_CHECK(bytes <= memory.sizes.at(out->name) && off->second + bytes <= arena_bytes,
                   ErrorCode::kRuntime, node.describe(), ": output '", out->name, "' needs ", bytes,
                   " bytes but the plan reserved ", memory.sizes.at(out->name),
                   " (shapes outside the optimization profile?)");
        where = arena + off->second;
      }
      outputs[i] = Tensor::view(d.dtype, d.shape, where);
      out_ptrs[i] = &outputs[i];
    }
    ops::ComputeContext ctx(node, inputs, out_ptrs);
    if (const CpuKernel* k = CpuKernelRegistry::instance().select(node, descs)) {
      k->run(ctx);
    } else {
      ops::OpRegistry::instance().get(node).compute(ctx);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i]) live[node.outputs[i]] = outputs[i];
    }
  }
  // Outputs not written in place: constants, shape-time values, or graph inputs passed through.
  for (const ir::Value* out : graph.outputs()) {
    if (resolved.is_deferred(out)) {
      (*deferred_outputs)[out] = tensor_of(out);
      continue;
    }
    void* dst = io_addresses.at(out);
    const Tensor& t = tensor_of(out);
    if (t.raw() != dst && t.nbytes()) std::memcpy(dst, t.raw(), t.nbytes());
  }
}

}  // namespace kiln::cpu
