// The CUDA executor: running a plan's graph on a stream (the kernel registry is in
// kernel_registry.cu, the builder's tactic choice in tactic_choice.cu).
//
// Memory: weights (every constant of the graph) are uploaded once per engine, on the first
// run, under std::call_once. Each execution context allocates, on its first run, one device
// arena of the size the memory planner chose (activations live at the planned offsets), a
// cuBLASLt handle and workspace. Values known on the host at shape time (shape arithmetic)
// that a kernel reads as data are uploaded into a per-context buffer whenever the resolved
// shapes change. Graph inputs and outputs are the caller's device buffers. Nothing is
// allocated and nothing waits on the host after the first run with given shapes.
//
// Shapes that wait for data (docs/architecture.md): a node whose output extents depend on
// runtime values (NonZero, a Reshape to a computed shape, every node after them), or whose
// kernel reads on the host an operand computed at run time, has the plan tactic
// kRuntimeSelectTactic. Graphs without such nodes run exactly as above. Otherwise, when a run
// reaches the first of them, the executor synchronizes the stream (so such runs cannot be
// captured into a CUDA graph) and from then on resolves as it goes: for each such node it
// copies the small inputs whose values decide its shapes or that its kernel reads on the host
// (up to ops::kMaxShapeTimeElements elements) to the host, runs the op's shape inference,
// and either evaluates it on the host (Shape, Size, or shape arithmetic on host values, as
// shape resolution does) or selects the CUDA kernel for the shapes now known (no CPU
// fallback) and launches it. Outputs go to grow-only per-context device buffers keyed by
// value, kept across runs (growing frees the old buffer, safe after the synchronization).
// Kernels of ops whose output size is known only after computing (NonZero, Compress) count on
// the GPU and allocate through RunContext::allocate_output. Graph outputs whose extents wait
// for data are handed to the caller's OutputAllocator and copied there.
#include <cublasLt.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "backends/cuda/control_flow.cuh"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

void check_status(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess) return;
  fail(ErrorCode::kRuntime, what, ": CUDA error ", cudaGetErrorName(status), " (",
       cudaGetErrorString(status), ")");
}

void check_cublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(ErrorCode::kRuntime, what, ": cuBLASLt status ", int(status));
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Resources

struct EngineResources {
  std::once_flag uploaded;
  void* weights = nullptr;
  std::unordered_map<const ir::Value*, void*> constants;

  ~EngineResources() {
    if (weights) cudaFree(weights);
  }
};

// Values placed while a run resolves shapes that wait for data: grow-only device buffers keyed
// by value, kept across runs, and what the current run has learned about such values.
struct RuntimeValues {
  struct Buffer {
    void* data = nullptr;
    size_t capacity = 0;
  };
  // By owner (a value, or what control flow keys its scratch memory by) and slot.
  std::map<std::pair<const void*, int>, Buffer> buffers;
  // Of the current run (cleared when a run reaches its first node resolved as it runs):
  std::unordered_map<const ir::Value*, ops::TensorDesc> descs;  // extents found while running
  std::unordered_map<const ir::Value*, void*> addresses;        // where such values live
  std::unordered_map<const ir::Value*, Tensor> host_values;     // computed on the host
  std::unordered_map<const ir::Value*, Tensor> downloaded;      // device values copied to the host

  void start_run() {
    descs.clear();
    addresses.clear();
    host_values.clear();
    downloaded.clear();
  }
  ~RuntimeValues() {
    for (auto& [value, buffer] : buffers) {
      if (buffer.data) cudaFree(buffer.data);
    }
  }
};

struct ContextResources {
  bool initialized = false;
  void* arena = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = size_t(32) << 20;
  // Shape-time values read by kernels as data, uploaded for the current resolution.
  void* shape_values = nullptr;
  size_t shape_values_capacity = 0;
  uint64_t uploaded_generation = ~uint64_t(0);
  std::unordered_map<const ir::Value*, void*> shape_value_addresses;
  // Per node: the kernel from the plan, and that kernel's cache for this context.
  std::unordered_map<const ir::Node*, const CudaKernel*> kernels;
  // Per node: the algorithm parameters the builder chose (plan::PlanContents::tactic_params).
  std::unordered_map<const ir::Node*, const std::vector<uint8_t>*> tactic_params;
  // Views sharing their source's memory: output -> the value it views.
  std::unordered_map<const ir::Value*, const ir::Value*> view_sources;
  std::unordered_map<const ir::Node*, std::shared_ptr<void>> node_state;
  std::shared_ptr<void> cudnn;  // RunContext::cudnn
  // Nodes whose kernel is chosen as they run (kRuntimeSelectTactic), and their values.
  std::unordered_set<const ir::Node*> runtime_selected;
  RuntimeValues runtime;

  ~ContextResources() {
    node_state.clear();  // kernel caches may hold cuBLASLt descriptors and cuDNN plans
    cudnn.reset();
    if (cublaslt) cublasLtDestroy(cublaslt);
    for (void* p : {arena, workspace, shape_values}) {
      if (p) cudaFree(p);
    }
  }
};

std::shared_ptr<EngineResources> create_engine_resources() {
  return std::make_shared<EngineResources>();
}
std::shared_ptr<ContextResources> create_context_resources() {
  return std::make_shared<ContextResources>();
}

namespace {

void require_device() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    fail(
        ErrorCode::kRuntime, "cannot run a CUDA engine: no CUDA GPU is available (",
        status == cudaSuccess ? std::string("no devices") : std::string(cudaGetErrorString(status)),
        ")");
  }
}

// The non-empty constants of `graph` and of the bodies of its control-flow nodes, at any depth.
std::vector<const ir::Value*> constants_of(const ir::Graph& graph) {
  std::vector<const ir::Value*> found;
  for (const auto& v : graph.values()) {
    if (v->is_constant() && v->constant->nbytes() > 0) found.push_back(v.get());
  }
  for (const auto& node : graph.nodes()) {
    for (const auto& [key, attr] : node->attrs) {
      const auto* body = std::get_if<std::shared_ptr<ir::Graph>>(&attr);
      if (!body || !*body) continue;
      std::vector<const ir::Value*> inner = constants_of(**body);
      found.insert(found.end(), inner.begin(), inner.end());
    }
  }
  return found;
}

void upload_weights(const plan::PlanContents& plan, EngineResources& engine) {
  std::call_once(engine.uploaded, [&] {
    std::vector<std::pair<const ir::Value*, uint64_t>> placed;
    uint64_t total = 0;
    for (const ir::Value* v : constants_of(*plan.graph)) {
      total = align_up(total, 256);
      placed.emplace_back(v, total);
      total += v->constant->nbytes();
    }
    if (total == 0) return;
    void* weights = nullptr;
    check_status(cudaMalloc(&weights, total),
                 cat("allocating ", total, " bytes of weights on the GPU"));
    for (const auto& [value, offset] : placed) {
      void* dst = static_cast<std::byte*>(weights) + offset;
      cudaError_t status = cudaMemcpy(dst, value->constant->raw(), value->constant->nbytes(),
                                      cudaMemcpyHostToDevice);
      if (status != cudaSuccess) cudaFree(weights);
      check_status(status, cat("uploading weights '", value->name, "'"));
    }
    // cudaMemcpy from pageable memory may return before the DMA lands, and the caller's stream
    // need not be ordered after the legacy default stream: wait once, here.
    const cudaError_t done = cudaDeviceSynchronize();
    if (done != cudaSuccess) cudaFree(weights);
    check_status(done, "uploading the weights");
    engine.weights = weights;
    for (const auto& [value, offset] : placed) {
      engine.constants[value] = static_cast<std::byte*>(weights) + offset;
    }
  });
}

void initialize_context(const plan::PlanContents& plan, ContextResources& ctx) {
  if (ctx.initialized) return;
  if (plan.memory.arena_bytes > 0) {
    check_status(
        cudaMalloc(&ctx.arena, plan.memory.arena_bytes),
        cat("allocating the ", plan.memory.arena_bytes, "-byte activation arena on the GPU"));
  }
  check_cublas(cublasLtCreate(&ctx.cublaslt), "creating a cuBLASLt handle");
  check_status(cudaMalloc(&ctx.workspace, ctx.workspace_bytes),
               "allocating the cuBLASLt workspace");
  // Each node's kernel, as the builder chose it.
  for (const auto& node : plan.graph->nodes()) {
    auto t = plan.tactics.find(node->name);
    KILN_CHECK(t != plan.tactics.end(), ErrorCode::kInvalidPlan, node->describe(),
               ": the plan records no tactic for this node");
    if (t->second == kShapeTimeTactic) continue;
    if (t->second == kRuntimeSelectTactic) {
      ctx.runtime_selected.insert(node.get());
      continue;
    }
    if (t->second == kViewAliasTactic) {
      KILN_CHECK(node->inputs.size() >= 1 && node->inputs[0] && node->outputs.size() == 1,
                 ErrorCode::kInvalidPlan, node->describe(),
                 ": a view must have one input and output");
      ctx.view_sources[node->outputs[0]] = node->inputs[0];
      continue;
    }
    const CudaKernel* k = CudaKernelRegistry::instance().find(node->op, t->second);
    KILN_CHECK(k != nullptr, ErrorCode::kInvalidPlan, node->describe(),
               ": the plan's CUDA tactic '", t->second, "' does not exist in this kiln");
    ctx.kernels[node.get()] = k;
    if (auto p = plan.tactic_params.find(node->name);
        p != plan.tactic_params.end() && !p->second.empty()) {
      KILN_CHECK(k->tunable, ErrorCode::kInvalidPlan, node->describe(),
                 ": the plan gives algorithm "
                 "parameters to CUDA tactic '",
                 k->name, "', which takes none");
      ctx.tactic_params[node.get()] = &p->second;
    }
  }
  ctx.initialized = true;
}

bool all_outputs_known(const ir::Node& node, const ops::ResolvedShapes& resolved) {
  for (const ir::Value* out : node.outputs) {
    if (out && !resolved.values.count(out)) return false;
  }
  return true;
}

bool is_host_input(const CudaKernel& k, size_t i) {
  return std::find(k.host_inputs.begin(), k.host_inputs.end(), i) != k.host_inputs.end();
}

// Uploads the shape-time values that kernels read as device data (stream-ordered).
void upload_shape_values(const plan::PlanContents& plan, ContextResources& ctx,
                         const ops::ResolvedShapes& resolved, cudaStream_t stream) {
  std::vector<const ir::Value*> needed;
  std::unordered_set<const ir::Value*> seen;
  for (const auto& node : plan.graph->nodes()) {
    if (all_outputs_known(*node, resolved)) continue;
    auto k = ctx.kernels.find(node.get());
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const ir::Value* in = node->inputs[i];
      if (!in || in->is_constant() || !resolved.values.count(in)) continue;
      if (k != ctx.kernels.end() && is_host_input(*k->second, i)) continue;
      if (seen.insert(in).second) needed.push_back(in);
    }
  }
  uint64_t total = 0;
  std::vector<uint64_t> offsets;
  for (const ir::Value* v : needed) {
    total = align_up(total, 256);
    offsets.push_back(total);
    total += resolved.values.at(v).nbytes();
  }
  if (total > ctx.shape_values_capacity) {
    // Rare (the values are small): cudaFree waits for earlier work that may still read them.
    if (ctx.shape_values) cudaFree(ctx.shape_values);
    ctx.shape_values = nullptr;
    ctx.shape_values_capacity = 0;
    check_status(cudaMalloc(&ctx.shape_values, total),
                 "allocating device memory for shape-time values");
    ctx.shape_values_capacity = total;
  }
  ctx.shape_value_addresses.clear();
  for (size_t i = 0; i < needed.size(); ++i) {
    const Tensor& t = resolved.values.at(needed[i]);
    void* dst = static_cast<std::byte*>(ctx.shape_values) + offsets[i];
    if (t.nbytes()) {
      check_status(cudaMemcpyAsync(dst, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream),
                   cat("uploading shape-time value '", needed[i]->name, "'"));
    }
    ctx.shape_value_addresses[needed[i]] = dst;
  }
}

// One enqueue of the plan's graph: where values live, the nodes run from the plan's kernels,
// and those resolved as they run.
class GraphRun : public ValueScope {
 public:
  GraphRun(const plan::PlanContents& plan, EngineResources& engine, ContextResources& ctx,
           const ops::ResolvedShapes& resolved, const std::map<const ir::Value*, void*>& io,
           cudaStream_t stream, const LayerTimeCallback& on_layer_time)
      : plan_(plan),
        engine_(engine),
        ctx_(ctx),
        rt_(ctx.runtime),
        resolved_(resolved),
        io_(io),
        stream_(stream),
        on_layer_time_(on_layer_time) {}

  ~GraphRun() override {
    for (auto& [node, events] : timed_) {
      cudaEventDestroy(events.first);
      cudaEventDestroy(events.second);
    }
  }

  void run_nodes() {
    for (const auto& node_ptr : plan_.graph->nodes()) {
      const ir::Node& node = *node_ptr;
      if (all_outputs_known(node, resolved_)) continue;
      if (node.outputs.size() == 1 && ctx_.view_sources.count(node.outputs[0])) continue;
      if (resolved_as_it_runs(node)) {
        run_resolving(node);
      } else {
        run_planned(node);
      }
    }
  }

  // Outputs no node wrote: constants, shape-time values, values computed on the host, and
  // outputs whose extents waited for the data (to the caller's OutputAllocator).
  void copy_outputs(const DeferredOutputCallback& on_deferred_output) {
    for (const ir::Value* out : plan_.graph->outputs()) {
      if (written_.count(out)) continue;
      if (resolved_.is_deferred(out)) {
        hand_over(out, on_deferred_output);
        continue;
      }
      void* dst = io_.at(out);
      const ops::TensorDesc& d = resolved_.of(out);
      const size_t bytes = size_t(volume(d.shape)) * element_size(d.dtype);
      if (bytes == 0) continue;
      if (const Tensor* host = host_value(out)) {
        check_status(cudaMemcpyAsync(dst, host->raw(), bytes, cudaMemcpyHostToDevice, stream_),
                     cat("copying output '", out->name, "'"));
        continue;
      }
      void* src = address_of(out);
      if (src != dst) {
        check_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_),
                     cat("copying output '", out->name, "'"));
      }
    }
  }

  void report_layer_times() {
    if (!on_layer_time_ || timed_.empty()) return;
    synchronize(stream_);
    for (auto& [node, events] : timed_) {
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, events.first, events.second), *node,
                 "reading a profiling event");
      on_layer_time_(*node, ms);
    }
  }

 private:
  const ir::Value* view_root(const ir::Value* v) const {
    for (auto it = ctx_.view_sources.find(v); it != ctx_.view_sources.end();
         it = ctx_.view_sources.find(v)) {
      v = it->second;
    }
    return v;
  }

  // Where a value lives on the device. Shape-time values come first: a graph output known on
  // the host is read by later nodes from the uploaded copy (it is copied out at the end).
  void* address_of(const ir::Value* v) {
    v = view_root(v);
    if (resolving_) {
      if (auto it = rt_.addresses.find(v); it != rt_.addresses.end()) return it->second;
      if (auto it = rt_.host_values.find(v); it != rt_.host_values.end()) {
        return upload(v, it->second);
      }
    }
    if (auto it = ctx_.shape_value_addresses.find(v); it != ctx_.shape_value_addresses.end()) {
      return it->second;
    }
    if (v->is_constant()) {
      auto it = engine_.constants.find(v);
      return it == engine_.constants.end() ? nullptr : it->second;  // empty constant
    }
    if (auto it = io_.find(v); it != io_.end()) return it->second;
    // Body values (names may repeat those of the graph) live only where a run placed them;
    // they exist only while resolving, so planned runs skip the check.
    KILN_CHECK(!resolving_ || resolved_.desc.count(v), ErrorCode::kInternal, "value '", v->name,
               "' is read before it is computed");
    auto off = plan_.memory.offsets.find(v->name);
    KILN_CHECK(off != plan_.memory.offsets.end(), ErrorCode::kInternal, "value '", v->name,
               "' has no place in the memory plan");
    return static_cast<std::byte*>(ctx_.arena) + off->second;
  }

  // The value's type and extents: as resolved, or as found by this run.
  const ops::TensorDesc& desc_of(const ir::Value* v) const {
    if (resolving_) {
      if (auto it = rt_.descs.find(v); it != rt_.descs.end()) return it->second;
    }
    if (v->is_constant() && !resolved_.desc.count(v)) {  // a body's constant
      auto [it, added] = body_constants_.try_emplace(v);
      if (added) it->second = ops::TensorDesc{v->constant->dtype(), v->constant->shape()};
      return it->second;
    }
    return resolved_.of(v);
  }

  // The value's contents when known on the host without copying it from the device: at shape
  // time, or computed on the host by this run.
  const Tensor* host_value(const ir::Value* v) const {
    if (auto it = resolved_.values.find(v); it != resolved_.values.end()) return &it->second;
    if (v->is_constant()) return &*v->constant;  // a body's
    if (resolving_) {
      if (auto it = rt_.host_values.find(v); it != rt_.host_values.end()) return &it->second;
    }
    return nullptr;
  }

  // Same, or copied from the device by this run.
  const Tensor* known_value(const ir::Value* v) const {
    if (const Tensor* t = host_value(v)) return t;
    if (resolving_) {
      if (auto it = rt_.downloaded.find(v); it != rt_.downloaded.end()) return &it->second;
    }
    return nullptr;
  }

  bool resolved_as_it_runs(const ir::Node& node) const {
    if (ctx_.runtime_selected.count(&node)) return true;
    for (const ir::Value* out : node.outputs) {
      if (out && resolved_.is_deferred(out)) return true;
    }
    return false;
  }

  void launch(const ir::Node& node, const CudaKernel& kernel, RunContext& rc) {
    cudaEvent_t before = nullptr, after = nullptr;
    if (on_layer_time_) {
      check_cuda(cudaEventCreate(&before), node, "creating a profiling event");
      check_cuda(cudaEventCreate(&after), node, "creating a profiling event");
      timed_.push_back({&node, {before, after}});
      check_cuda(cudaEventRecord(before, stream_), node, "recording a profiling event");
    }
    kernel.run(rc);
    check_cuda(cudaGetLastError(), node, cat("launching CUDA kernel ", kernel.name).c_str());
    if (on_layer_time_)
      check_cuda(cudaEventRecord(after, stream_), node, "recording a profiling event");
  }

  void fill_common(RunContext& rc, const ir::Node& node) {
    rc.stream = stream_;
    rc.builder_flags = plan_.builder_flags;
    rc.cublaslt = ctx_.cublaslt;
    rc.workspace = ctx_.workspace;
    rc.workspace_bytes = ctx_.workspace_bytes;
    rc.state = &ctx_.node_state[&node];
    rc.cudnn = &ctx_.cudnn;
  }

  // A node with its kernel from the plan, shapes as resolved, outputs at planned places.
  void run_planned(const ir::Node& node) {
    auto kit = ctx_.kernels.find(&node);
    KILN_CHECK(kit != ctx_.kernels.end(), ErrorCode::kRuntime, node.describe(),
               ": its outputs were expected to be computed when shapes are resolved, but are not "
               "known for these input shapes, and the plan has no CUDA kernel for it");
    const CudaKernel& kernel = *kit->second;
    RunContext rc(node);
    fill_common(rc, node);
    if (auto p = ctx_.tactic_params.find(&node); p != ctx_.tactic_params.end())
      rc.tactic_params = p->second;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ir::Value* in = node.inputs[i];
      DeviceTensor t;
      if (in) {
        KILN_CHECK(!resolved_.is_deferred(in), ErrorCode::kInternal, node.describe(),
                   ": reads a value whose shape depends on the input data, but the plan chose "
                   "its kernel when building");
        const ops::TensorDesc& d = resolved_.of(in);
        t.present = true;
        t.dtype = d.dtype;
        t.shape = d.shape;
        if (auto it = resolved_.values.find(in); it != resolved_.values.end())
          t.host_value = &it->second;
        if (!is_host_input(kernel, i)) t.data = address_of(in);
      }
      rc.inputs.push_back(std::move(t));
    }
    const plan::MemoryPlanData& memory = plan_.memory;
    for (const ir::Value* out : node.outputs) {
      DeviceTensor t;
      if (out) {
        const ops::TensorDesc& d = resolved_.of(out);
        t.present = true;
        t.dtype = d.dtype;
        t.shape = d.shape;
        if (auto it = io_.find(out); it != io_.end()) {
          t.data = it->second;
        } else {
          auto off = memory.offsets.find(out->name);
          KILN_CHECK(off != memory.offsets.end(), ErrorCode::kInternal, node.describe(),
                     ": value '", out->name, "' has no place in the memory plan");
          const size_t bytes = t.nbytes();
          KILN_CHECK(
              bytes <= memory.sizes.at(out->name) && off->second + bytes <= memory.arena_bytes,
              ErrorCode::kRuntime, node.describe(), ": output '", out->name, "' needs ", bytes,
              " bytes but the plan reserved ", memory.sizes.at(out->name),
              " (shapes outside the optimization profile?)");
          t.data = static_cast<std::byte*>(ctx_.arena) + off->second;
        }
        written_.insert(out);
      }
      rc.outputs.push_back(std::move(t));
    }
    launch(node, kernel, rc);
  }

  // ---- Shapes that wait for data

  // The first node resolved as it runs: wait for the work enqueued so far, so that values on
  // the device can be copied to the host, and runtime buffers may be grown.
  void start_resolving(const ir::Node& node) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    check_cuda(cudaStreamIsCapturing(stream_, &capture), node, "querying stream capture");
    KILN_CHECK(capture == cudaStreamCaptureStatusNone, ErrorCode::kUnsupported, node.describe(),
               ": its shapes (or an operand its CUDA kernel reads on the host) depend on the input "
               "data, so the run waits for the GPU here, which a CUDA graph capture does not "
               "allow");
    check_cuda(cudaStreamSynchronize(stream_), node,
               "waiting for the GPU before shapes that depend on the data");
    rt_.start_run();
    resolving_ = true;
  }

  // A grow-only device buffer for `v` of at least `bytes` (never null).
  void* buffer_for(const ir::Value* v, size_t bytes) { return scratch(v, 0, bytes, 0); }

  // A value computed on the host that a kernel reads as device data.
  void* upload(const ir::Value* v, const Tensor& t) {
    void* dst = buffer_for(v, t.nbytes());
    if (t.nbytes()) {
      check_status(cudaMemcpyAsync(dst, t.raw(), t.nbytes(), cudaMemcpyHostToDevice, stream_),
                   cat("uploading '", v->name, "'"));
    }
    rt_.addresses[v] = dst;
    return dst;
  }

  // Where a resolved-as-it-runs node's output goes: the caller's buffer for a graph output of
  // known extents, its planned place when it has one, else a runtime buffer.
  void* place_output(const ir::Node& node, const ir::Value* out, size_t bytes) {
    void* where = nullptr;
    if (auto it = io_.find(out); it != io_.end()) {
      where = it->second;
      written_.insert(out);
    } else if (auto off = plan_.memory.offsets.find(out->name);
               off != plan_.memory.offsets.end() && resolved_desc(out)) {
      KILN_CHECK(bytes <= plan_.memory.sizes.at(out->name), ErrorCode::kRuntime, node.describe(),
                 ": output '", out->name, "' needs ", bytes, " bytes but the plan reserved ",
                 plan_.memory.sizes.at(out->name), " (shapes outside the optimization profile?)");
      where = static_cast<std::byte*>(ctx_.arena) + off->second;
    } else {
      where = buffer_for(out, bytes);
    }
    rt_.addresses[out] = where;
    return where;
  }

  // Copies inputs `indices` of `node` that are not known on the host yet (and have at most
  // ops::kMaxShapeTimeElements elements) from the device, with one wait for all of them.
  // `reader` names the CUDA kernel that needs them on the host, or is null where they only
  // help shape inference (then larger inputs are skipped).
  void download(const ir::Node& node, const std::vector<size_t>& indices,
                const CudaKernel* reader) {
    bool copied = false;
    for (size_t i : indices) {
      if (i >= node.inputs.size() || !node.inputs[i] || known_value(node.inputs[i])) continue;
      const ir::Value* in = node.inputs[i];
      const ops::TensorDesc& d = desc_of(in);
      if (volume(d.shape) > ops::kMaxShapeTimeElements) {
        if (!reader) continue;
        fail(ErrorCode::kUnsupported, node.describe(), ": input ", i, " ('", in->name, "') has ",
             volume(d.shape), " elements, too many to copy to the host, where the CUDA kernel ",
             reader->name, " reads it (at most ", ops::kMaxShapeTimeElements, ")");
      }
      copied |= start_download(in, node);
    }
    if (copied) check_cuda(cudaStreamSynchronize(stream_), node, "copying inputs to the host");
  }

  // Enqueues the copy of `v` to the host (into rt_.downloaded); true when there are bytes to
  // wait for.
  bool start_download(const ir::Value* v, const ir::Node& reader) {
    const ops::TensorDesc& d = desc_of(v);
    Tensor t = Tensor::zeros(d.dtype, d.shape);
    const bool copying = t.nbytes() > 0;
    if (copying) {
      check_cuda(
          cudaMemcpyAsync(t.raw(), address_of(v), t.nbytes(), cudaMemcpyDeviceToHost, stream_),
          reader, cat("copying '", v->name, "' to the host").c_str());
    }
    rt_.downloaded[v] = std::move(t);
    return copying;
  }

  ops::InferContext infer(const ir::Node& node) {
    ops::ResolvedShapes known;
    for (const ir::Value* in : node.inputs) {
      if (!in) continue;
      known.desc[in] = desc_of(in);
      if (const Tensor* t = known_value(in)) known.values[in] = *t;
    }
    return ops::infer_node(node, known);
  }

  // Shape arithmetic on values known on the host, with small results: evaluated on the host,
  // as shape resolution does for the same nodes when their inputs are known then.
  bool evaluate_on_host(const ir::Node& node, ops::InferContext& inferred) const {
    for (const ir::Value* in : node.inputs) {
      if (in && !host_value(in)) return false;
    }
    for (const auto& [key, attr] : node.attrs) {
      if (std::holds_alternative<std::shared_ptr<ir::Graph>>(attr)) return false;
    }
    int64_t elements = 0;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] && !inferred.data_dependent_ranks()[i]) {
        elements += volume(inferred.outputs()[i]->shape);
      }
    }
    return elements <= ops::kMaxShapeTimeElements;
  }

  // Outputs that shape inference computed from the input extents alone (Shape, Size).
  static bool computed_by_inference(const ir::Node& node, ops::InferContext& inferred) {
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] && !inferred.output_values()[i]) return false;
    }
    return true;
  }

  void compute_on_host(const ir::Node& node, ops::InferContext& inferred) {
    std::vector<const Tensor*> inputs;
    for (const ir::Value* in : node.inputs) inputs.push_back(in ? host_value(in) : nullptr);
    std::vector<Tensor> outputs(node.outputs.size());
    std::vector<Tensor*> out_ptrs(node.outputs.size(), nullptr);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.outputs[i]) continue;
      if (const auto& value = inferred.output_values()[i]) {
        outputs[i] = *value;
      } else if (!inferred.data_dependent_ranks()[i]) {
        outputs[i] = Tensor::zeros(inferred.outputs()[i]->dtype, inferred.outputs()[i]->shape);
      }
      out_ptrs[i] = &outputs[i];
    }
    if (!computed_by_inference(node, inferred)) {
      ops::ComputeContext compute(node, inputs, out_ptrs);
      ops::OpRegistry::instance().get(node).compute(compute);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::Value* out = node.outputs[i];
      if (!out) continue;
      KILN_CHECK(outputs[i].defined(), ErrorCode::kInternal, node.describe(), ": output ", i,
                 " was never allocated");
      rt_.descs[out] = ops::TensorDesc{outputs[i].dtype(), outputs[i].shape()};
      rt_.host_values[out] = std::move(outputs[i]);
    }
  }

  // A node whose shapes, or an operand its kernel reads on the host, wait for data.
  void run_resolving(const ir::Node& node) {
    if (!resolving_) start_resolving(node);
    // Operands some CUDA kernel of the op reads on the host decide the shapes too (Reshape's
    // shape, Slice's starts): copy them first.
    std::vector<size_t> host_operands;
    for (const CudaKernel& k : CudaKernelRegistry::instance().kernels()) {
      if (k.op != node.op) continue;
      for (size_t i : k.host_inputs) {
        if (std::find(host_operands.begin(), host_operands.end(), i) == host_operands.end()) {
          host_operands.push_back(i);
        }
      }
    }
    download(node, host_operands, nullptr);
    std::optional<ops::InferContext> inferred;
    try {
      inferred.emplace(infer(node));
    } catch (const ops::ShapeValueUnavailable&) {
      // Other inputs decide the shapes (Range's bounds, Resize's scales): copy every small one.
      std::vector<size_t> all(node.inputs.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      download(node, all, nullptr);
      try {
        inferred.emplace(infer(node));
      } catch (const ops::ShapeValueUnavailable& e) {
        fail(ErrorCode::kUnsupported, e.what(),
             "; the CUDA backend copies such inputs to the "
             "host only up to ",
             ops::kMaxShapeTimeElements, " elements");
      }
    }
    if (computed_by_inference(node, *inferred) || evaluate_on_host(node, *inferred)) {
      return compute_on_host(node, *inferred);
    }
    if (is_control_flow(node.op)) return run_control_flow(node, *this);

    // A CUDA kernel for the shapes now known.
    NodeQuery q;
    q.node = &node;
    q.builder_flags = plan_.builder_flags;
    // The plan does not record BuilderConfig::tactic_sources: every source is allowed here.
    q.tactic_sources = kAllTacticSources;
    for (const ir::Value* in : node.inputs) {
      TensorInfo t;
      if (in) {
        const ops::TensorDesc& d = desc_of(in);
        t = TensorInfo{true, d.dtype, d.shape, known_value(in)};
      }
      q.inputs.push_back(std::move(t));
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      TensorInfo t;
      if (node.outputs[i]) {
        t.present = true;
        t.dtype = inferred->outputs()[i]->dtype;
        if (!inferred->data_dependent_ranks()[i]) t.shape = inferred->outputs()[i]->shape;
      }
      q.outputs.push_back(std::move(t));
    }
    const CudaKernel* kernel = CudaKernelRegistry::instance().select(q);
    if (kernel == nullptr) {
      fail_no_kernel(q,
                     "chosen as the engine runs, since its shapes depend on the input data; there "
                     "is no fallback to the CPU");
    }
    download(node, kernel->host_inputs, kernel);

    RunContext rc(node);
    fill_common(rc, node);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ir::Value* in = node.inputs[i];
      DeviceTensor t;
      if (in) {
        const ops::TensorDesc& d = desc_of(in);
        t.present = true;
        t.dtype = d.dtype;
        t.shape = d.shape;
        t.host_value = known_value(in);
        if (!is_host_input(*kernel, i)) t.data = address_of(in);
      }
      rc.inputs.push_back(std::move(t));
    }
    std::vector<bool> waiting(node.outputs.size(), false);  // data-dependent, not yet allocated
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::Value* out = node.outputs[i];
      DeviceTensor t;
      if (out) {
        t.present = true;
        t.dtype = inferred->outputs()[i]->dtype;
        if (inferred->data_dependent_ranks()[i]) {
          waiting[i] = true;
        } else {
          t.shape = inferred->outputs()[i]->shape;
          t.data = place_output(node, out, t.nbytes());
        }
      }
      rc.outputs.push_back(std::move(t));
    }
    if (std::find(waiting.begin(), waiting.end(), true) != waiting.end()) {
      rc.allocate_output = [&](size_t i, const Dims& shape) -> DeviceTensor& {
        KILN_CHECK(i < waiting.size() && waiting[i], ErrorCode::kInternal, node.describe(),
                   ": the CUDA kernel allocated output ", i,
                   ", which is not data-dependent or "
                   "was allocated already");
        DeviceTensor& t = rc.outputs[i];
        t.shape = shape;
        t.data = place_output(node, node.outputs[i], t.nbytes());
        waiting[i] = false;
        return t;
      };
    }
    launch(node, *kernel, rc);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::Value* out = node.outputs[i];
      if (!out) continue;
      KILN_CHECK(!waiting[i], ErrorCode::kInternal, node.describe(), ": the CUDA kernel ",
                 kernel->name, " did not allocate its data-dependent output ", i);
      rt_.descs[out] = ops::TensorDesc{rc.outputs[i].dtype, rc.outputs[i].shape};
    }
  }

  // ---- ValueScope: what control-flow nodes (control_flow.cu) use

  cudaStream_t stream() const override { return stream_; }
  const ops::TensorDesc& desc(const ir::Value* v) override { return desc_of(v); }
  const void* device_data(const ir::Value* v) override { return address_of(v); }
  const Tensor* host_contents(const ir::Value* v) override { return host_value(v); }

  const Tensor& fetch(const ir::Value* v, const ir::Node& reader) override {
    if (const Tensor* t = known_value(v)) return *t;
    if (start_download(v, reader)) {
      check_cuda(cudaStreamSynchronize(stream_), reader,
                 cat("copying '", v->name, "' to the host").c_str());
    }
    return rt_.downloaded.at(v);
  }

  void bind(const ir::Value* v, const ops::TensorDesc& d, const void* data,
            const Tensor* host) override {
    KILN_CHECK(data || host, ErrorCode::kInternal, "value '", v->name, "' is bound to nothing");
    forget(v);
    rt_.descs[v] = d;
    if (data) {
      rt_.addresses[v] = const_cast<void*>(data);
      if (host) rt_.downloaded[v] = *host;
    } else {
      rt_.host_values[v] = *host;
    }
  }

  void forget(const ir::Value* v) override {
    rt_.descs.erase(v);
    rt_.addresses.erase(v);
    rt_.host_values.erase(v);
    rt_.downloaded.erase(v);
  }

  void run_node(const ir::Node& node) override { run_resolving(node); }

  const ops::TensorDesc* resolved_desc(const ir::Value* v) const override {
    if (resolved_.is_deferred(v)) return nullptr;
    auto it = resolved_.desc.find(v);
    return it == resolved_.desc.end() ? nullptr : &it->second;
  }

  void* place_result(const ir::Node& node, size_t i, const ops::TensorDesc& d) override {
    const ir::Value* out = node.outputs.at(i);
    if (const ops::TensorDesc* built = resolved_desc(out)) {
      KILN_CHECK(built->dtype == d.dtype && built->shape == d.shape, ErrorCode::kRuntime,
                 node.describe(), ": output ", i, " ('", out->name, "') computes as ",
                 to_string(d.dtype), " ", to_string(d.shape), " but the engine was built for ",
                 to_string(built->dtype), " ", to_string(built->shape));
    }
    rt_.descs[out] = d;
    return place_output(node, out, size_t(volume(d.shape)) * element_size(d.dtype));
  }

  void* scratch(const void* owner, int slot, size_t bytes, size_t keep_bytes) override {
    RuntimeValues::Buffer& b = rt_.buffers[{owner, slot}];
    const size_t want = std::max<size_t>(align_up(bytes, 256), 256);
    if (b.capacity >= want) return b.data;
    const size_t capacity = std::max(want, b.capacity + b.capacity / 2);
    void* fresh = nullptr;
    check_status(
        cudaMalloc(&fresh, capacity),
        cat("allocating ", capacity, " bytes on the GPU for values computed as the engine runs"));
    if (b.data) {
      // Work still queued may read the old buffer (an earlier iteration of a loop), and part
      // of its contents may have to move: wait before freeing it.
      cudaError_t status = cudaSuccess;
      if (keep_bytes) {
        status = cudaMemcpyAsync(fresh, b.data, std::min(keep_bytes, b.capacity),
                                 cudaMemcpyDeviceToDevice, stream_);
      }
      if (status == cudaSuccess) status = cudaStreamSynchronize(stream_);
      if (status != cudaSuccess) cudaFree(fresh);
      check_status(status, "growing GPU memory for values computed as the engine runs");
      cudaFree(b.data);
    }
    b.data = fresh;
    b.capacity = capacity;
    return b.data;
  }

  // A graph output whose extents waited for data: to the caller's memory.
  void hand_over(const ir::Value* out, const DeferredOutputCallback& on_deferred_output) {
    KILN_CHECK(resolving_, ErrorCode::kInternal, "output '", out->name,
               "' waits for data, but no node computed it");
    KILN_CHECK(on_deferred_output != nullptr, ErrorCode::kInternal, "output '", out->name,
               "' has a shape that depends on the input data and nowhere to go");
    const ops::TensorDesc& d = desc_of(out);
    const size_t bytes = size_t(volume(d.shape)) * element_size(d.dtype);
    void* dst = on_deferred_output(*out, d.shape, bytes);
    if (bytes == 0) return;
    // cudaMemcpyDefault: the allocator should give device memory, but host memory that the
    // unified address space knows works too (the copy is then synchronous).
    const Tensor* host = host_value(out);
    const void* src = host ? host->raw() : address_of(out);
    check_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_),
                 cat("copying output '", out->name, "'"));
  }

  const plan::PlanContents& plan_;
  EngineResources& engine_;
  ContextResources& ctx_;
  RuntimeValues& rt_;
  const ops::ResolvedShapes& resolved_;
  const std::map<const ir::Value*, void*>& io_;
  cudaStream_t stream_;
  const LayerTimeCallback& on_layer_time_;
  bool resolving_ = false;  // a node resolved as it runs was reached (the stream was synchronized)
  mutable std::unordered_map<const ir::Value*, ops::TensorDesc> body_constants_;
  std::unordered_set<const ir::Value*> written_;
  // Profiling: an event before and after each kernel (created here: profiling may allocate).
  std::vector<std::pair<const ir::Node*, std::pair<cudaEvent_t, cudaEvent_t>>> timed_;
};

}  // namespace

void enqueue_graph(const plan::PlanContents& plan, EngineResources& engine, ContextResources& ctx,
                   const ops::ResolvedShapes& resolved, uint64_t resolved_generation,
                   const std::map<const ir::Value*, void*>& io, void* stream_handle,
                   const LayerTimeCallback& on_layer_time,
                   const DeferredOutputCallback& on_deferred_output) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  if (!ctx.initialized) {
    require_device();
    upload_weights(plan, engine);
    initialize_context(plan, ctx);
  }
  if (ctx.uploaded_generation != resolved_generation) {
    upload_shape_values(plan, ctx, resolved, stream);
    ctx.uploaded_generation = resolved_generation;
  }
  GraphRun run(plan, engine, ctx, resolved, io, stream, on_layer_time);
  run.run_nodes();
  run.copy_outputs(on_deferred_output);
  run.report_layer_times();
}

void synchronize(void* stream) {
  check_status(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
               "running the engine on the GPU");
}

}  // namespace kiln::cuda
