// Runs an engine's graph on the host: node by node, each with the CPU backend's fast kernel
// when one supports the node, else the op's reference compute. Activations live in the
// context's arena at the offsets the memory planner chose; inputs and outputs are read and
// written in the caller's buffers. Nodes whose shapes depend on runtime data (deferred in
// `resolved`) are resolved as they run, with outputs in host memory of their own; graph
// outputs among them are returned in `deferred_outputs` for the caller to hand over.
#pragma once

#include <cstddef>
#include <functional>
#include <map>

#include "ops/shape_inference.h"
#include "plan/plan.h"

namespace kiln::cpu {

// Called after each node that ran, with its host time (profiling); null when not profiling.
using LayerTimeCallback = std::function<void(const ir::Node& node, float milliseconds)>;

void execute_graph(const ir::Graph& graph, const plan::MemoryPlanData& memory,
                   const ops::ResolvedShapes& resolved, std::byte* arena, size_t arena_bytes,
                   const std::map<const ir::Value*, void*>& io_addresses,
                   std::map<const ir::Value*, Tensor>* deferred_outputs,
                   const LayerTimeCallback& on_layer_time = nullptr);

// The kernel the executor would use for `node` at these input types and shapes: a fast
// kernel's name, or "reference".
std::string select_kernel_name(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs);

}  // namespace kiln::cpu
