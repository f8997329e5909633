// The CUDA backend as the builder and the runtime see it. Plain C++ (no CUDA types), so that
// g++-compiled files can include it; they do so only under KILN_HAVE_CUDA. The implementation
// is in cuda_executor.cu; the kernels, one family per .cu file, register themselves as tactics
// (cuda_kernel.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/logger.h"
#include "kiln/timing_cache.h"
#include "ops/shape_inference.h"
#include "plan/plan.h"

namespace kiln::cuda {

// The plan target of engines built for the GPU.
inline constexpr const char* kTarget = "cuda:sm_90";
bool is_cuda_target(const std::string& target);

// Tactic name of nodes whose outputs are computed on the host while shapes are resolved
// (shape arithmetic such as Shape -> Gather -> Concat); the executor skips them.
inline constexpr const char* kShapeTimeTactic = "host_shape_time";

// Tactic name of views (Reshape, Squeeze, ...) whose output shares its input's memory
// (builder/view_aliases.h): the executor runs nothing for them.
inline constexpr const char* kViewAliasTactic = "view_alias";

// Tactic name of nodes resolved as the engine runs: their output extents depend on runtime
// data, or their kernel reads on the host an operand computed at run time. The executor
// synchronizes the stream when a run reaches the first of them, then infers each one's shapes
// and selects its CUDA kernel for them (cuda_executor.cu explains).
inline constexpr const char* kRuntimeSelectTactic = "runtime_select";

// The tactic for `node`, given the graph resolved at every profile point (`opt` indexes the
// point kernels are chosen for): a CUDA kernel's name, kShapeTimeTactic, or
// kRuntimeSelectTactic (the op must still have a CUDA kernel). Throws
// kiln::Error(kUnsupported) naming the node and op when no CUDA kernel supports it: there is
// no fallback to the CPU.
std::string choose_tactic(const ir::Node& node, const std::vector<ops::ResolvedShapes>& points,
                          size_t opt, uint32_t builder_flags, uint32_t tactic_sources);

// Whether a CUDA kernel can run `node` (shapes as resolved in `r`) with the given input and
// output types instead of the resolved ones: mixed precision asks before moving a node to
// FP16/BF16.
bool supports_types(const ir::Node& node, const ops::ResolvedShapes& r,
                    const std::vector<DataType>& inputs, const std::vector<DataType>& outputs,
                    uint32_t builder_flags, uint32_t tactic_sources);

// Autotuning (autotune.cu): where a CUDA GPU is visible, times the candidates of every node
// whose tactic in `tactics` is a kernel name and that has a choice (several kernels support it,
// or its kernel proposes algorithms: cuBLASLt, cuDNN) at the shapes of points[opt], and
// replaces its entry in `tactics` with the fastest kernel and records that kernel's algorithm
// parameters in `params`. Layers whose signature is in `cache` (or was timed earlier in the
// same build) are not timed again; what is timed is added to `cache` when there is one.
// Without a GPU it changes nothing and logs that once (verbose). Total timing stops after a
// time budget (KILN_AUTOTUNE_BUDGET_S, default 300 s); KILN_AUTOTUNE=0 turns it off.
struct AutotuneStats {
  bool ran = false;       // a GPU was present and tuning was enabled
  size_t timed = 0;       // layers timed
  size_t cache_hits = 0;  // layers taken from the timing cache (or an identical layer)
  double milliseconds = 0;
};
AutotuneStats autotune_tactics(const ir::Graph& graph,
                               const std::vector<ops::ResolvedShapes>& points, size_t opt,
                               uint32_t builder_flags, uint32_t tactic_sources, TimingCache* cache,
                               Logger& logger, std::map<std::string, std::string>& tactics,
                               std::map<std::string, std::vector<uint8_t>>& params);

// Text for a kernel's algorithm parameters (inspect): "" when there are none or the kernel does
// not describe them.
std::string describe_tactic_params(const std::string& op, const std::string& kernel,
                                   const std::vector<uint8_t>& params);

// Device state shared by every context of one engine (the weights, uploaded once on first
// use, thread-safely), and per execution context (activation arena, cuBLASLt handle and
// workspace, shape-time values, per-node kernel state, buffers of values placed at run time).
struct EngineResources;
struct ContextResources;
std::shared_ptr<EngineResources> create_engine_resources();
std::shared_ptr<ContextResources> create_context_resources();

// Enqueues one run of the plan's graph on `stream` (a cudaStream_t; nullptr is the default
// stream) without waiting for it. `io` maps graph inputs and outputs to device addresses
// (outputs whose extents wait for data excepted). `resolved_generation` changes whenever
// `resolved` does, so that shape-time values are uploaded again only then. Allocates device
// memory only on the first run (and when a shape change needs more room for shape-time
// values). CUDA errors become kiln::Error (kRuntime) naming the node.
// Graphs with kRuntimeSelectTactic nodes are the exception: the call waits for the stream at
// the first of them (and again wherever it copies values to the host), may allocate runtime
// buffers, and throws kiln::Error(kUnsupported) while the stream is being captured.
// With `on_layer_time`, every kernel is timed with CUDA events, and the call waits for the
// stream before reporting each node's time.
// `on_deferred_output` receives each graph output whose extents depend on the data, once they
// are known: it returns memory of at least `bytes` (device memory, from the caller's
// OutputAllocator), where the output is then copied on the stream.
using LayerTimeCallback = std::function<void(const ir::Node& node, float milliseconds)>;
using DeferredOutputCallback =
    std::function<void*(const ir::Value& output, const Dims& shape, size_t bytes)>;
void enqueue_graph(const plan::PlanContents& plan, EngineResources& engine,
                   ContextResources& context, const ops::ResolvedShapes& resolved,
                   uint64_t resolved_generation, const std::map<const ir::Value*, void*>& io,
                   void* stream, const LayerTimeCallback& on_layer_time = nullptr,
                   const DeferredOutputCallback& on_deferred_output = nullptr);

// Waits for `stream`; a failure of any kernel run on it becomes kiln::Error(kRuntime).
void synchronize(void* stream);

}  // namespace kiln::cuda
