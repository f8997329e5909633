// The CUDA executor: tactic choice for the builder, and running a plan's graph on a stream.
//
// Memory: weights (every constant of the graph) are uploaded once per engine, on the first
// run, under std::call_once. Each execution context allocates, on its first run, one device
// arena of the size the memory planner chose (activations live at the planned offsets), a
// cuBLASLt handle and workspace. Values known on the host at shape time (shape arithmetic)
// that a kernel reads as data are uploaded into a per-context buffer whenever the resolved
// shapes change. Graph inputs and outputs are the caller's device buffers. Nothing is
// allocated and nothing waits on the host after the first run with given shapes.
#include <cublasLt.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// ---------------------------------------------------------------------------------------------
// Registry and small shared helpers

CudaKernelRegistry& CudaKernelRegistry::instance() {
  static CudaKernelRegistry registry;
  return registry;
}

void CudaKernelRegistry::add(CudaKernel kernel) { kernels_.push_back(std::move(kernel)); }

const CudaKernel* CudaKernelRegistry::select(const NodeQuery& query) const {
  const CudaKernel* best = nullptr;
  for (const CudaKernel& k : kernels_) {
    if (k.op != query.node->op || (best && k.priority <= best->priority)) continue;
    if (k.source != 0 && (query.tactic_sources & k.source) == 0) continue;
    if (k.supports(query)) best = &k;
  }
  return best;
}

const CudaKernel* CudaKernelRegistry::find(const std::string& op, const std::string& name) const {
  for (const CudaKernel& k : kernels_) {
    if (k.op == op && k.name == name) return &k;
  }
  return nullptr;
}

void check_cuda(cudaError_t status, const ir::Node& node, const char* what) {
  if (status == cudaSuccess) return;
  fail(ErrorCode::kRuntime, node.describe(), ": ", what, ": CUDA error ", cudaGetErrorName(status),
       " (", cudaGetErrorString(status), ")");
}

const Tensor& RunContext::host_input(size_t i, const char* what) const {
  const Tensor* t = i < inputs.size() ? inputs[i].host_value : nullptr;
  KILN_CHECK(t != nullptr, ErrorCode::kRuntime, node.describe(), ": ", what,
             " must be known when shapes are resolved (a constant or shape arithmetic) for the "
             "CUDA kernel, which reads it on the host");
  return *t;
}

Dims broadcast_strides_to(const Dims& shape, const Dims& out) {
  Dims strides(out.size(), 0);
  const Dims own = contiguous_strides(shape);
  const size_t offset = out.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) {
    strides[offset + d] = shape[d] == 1 ? 0 : own[d];
  }
  return strides;
}

bool is_float16_or_32(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

bool ranks_fit(const NodeQuery& q) {
  for (const auto* list : {&q.inputs, &q.outputs}) {
    for (const TensorInfo& t : *list) {
      if (t.present && t.shape.size() > size_t(kMaxRank)) return false;
    }
  }
  return true;
}

bool is_cuda_target(const std::string& target) { return target.rfind("cuda", 0) == 0; }

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

std::string describe_inputs(const NodeQuery& q) {
  std::string s;
  for (const TensorInfo& t : q.inputs) {
    if (!s.empty()) s += ", ";
    s += t.present ? cat(to_string(t.dtype), "[", to_string(t.shape), "]") : "(none)";
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tactic choice

namespace {

// What a kernel's capability check sees of `node`, with the types and shapes resolved in `r`.
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

}  // namespace

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
  for (size_t i = 0; i < q.outputs.size() && i < outputs.size(); ++i) q.outputs[i].dtype = outputs[i];
  return CudaKernelRegistry::instance().select(q) != nullptr;
}

std::string choose_tactic(const ir::Node& node, const std::vector<ops::ResolvedShapes>& points,
                          size_t opt, uint32_t builder_flags, uint32_t tactic_sources) {
  bool known_everywhere = true;
  for (const ir::Value* out : node.outputs) {
    if (!out) continue;
    for (const ops::ResolvedShapes& r : points) {
      KILN_CHECK(!r.is_deferred(out), ErrorCode::kUnsupported, node.describe(), ": output '",
                 out->name, "' has a shape that depends on the input data; the CUDA backend "
                 "does not run such nodes yet");
      if (!r.values.count(out)) known_everywhere = false;
    }
  }
  if (known_everywhere) return kShapeTimeTactic;

  const NodeQuery q = make_query(node, points.at(opt), builder_flags, tactic_sources);
  const CudaKernel* k = CudaKernelRegistry::instance().select(q);
  KILN_CHECK(k != nullptr, ErrorCode::kUnsupported, node.describe(),
             ": the CUDA backend has no kernel for op ", node.op, " with inputs ",
             describe_inputs(q), " (and no fallback to the CPU); build for DeviceType::kCPU, or "
             "change the model");
  // Shape operands are read on the host: they must be known at every profile point.
  for (size_t i : k->host_inputs) {
    if (i >= node.inputs.size() || !node.inputs[i]) continue;
    for (const ops::ResolvedShapes& p : points) {
      KILN_CHECK(p.values.count(node.inputs[i]), ErrorCode::kUnsupported, node.describe(),
                 ": input ", i, " ('", node.inputs[i]->name, "') must be known when shapes are "
                 "resolved for the CUDA kernel ", k->name, ", but it is computed at run time");
    }
  }
  return k->name;
}

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
  // Views sharing their source's memory: output -> the value it views.
  std::unordered_map<const ir::Value*, const ir::Value*> view_sources;
  std::unordered_map<const ir::Node*, std::shared_ptr<void>> node_state;
  std::shared_ptr<void> cudnn;  // RunContext::cudnn

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
    fail(ErrorCode::kRuntime, "cannot run a CUDA engine: no CUDA GPU is available (",
         status == cudaSuccess ? std::string("no devices") : std::string(cudaGetErrorString(status)),
         ")");
  }
}

void upload_weights(const plan::PlanContents& plan, EngineResources& engine) {
  std::call_once(engine.uploaded, [&] {
    std::vector<std::pair<const ir::Value*, uint64_t>> placed;
    uint64_t total = 0;
    for (const auto& v : plan.graph->values()) {
      if (!v->is_constant() || v->constant->nbytes() == 0) continue;
      total = align_up(total, 256);
      placed.emplace_back(v.get(), total);
      total += v->constant->nbytes();
    }
    if (total == 0) return;
    void* weights = nullptr;
    check_status(cudaMalloc(&weights, total), cat("allocating ", total, " bytes of weights on the GPU"));
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
    check_status(cudaMalloc(&ctx.arena, plan.memory.arena_bytes),
                 cat("allocating the ", plan.memory.arena_bytes, "-byte activation arena on the GPU"));
  }
  check_cublas(cublasLtCreate(&ctx.cublaslt), "creating a cuBLASLt handle");
  check_status(cudaMalloc(&ctx.workspace, ctx.workspace_bytes), "allocating the cuBLASLt workspace");
  // Each node's kernel, as the builder chose it.
  for (const auto& node : plan.graph->nodes()) {
    auto t = plan.tactics.find(node->name);
    KILN_CHECK(t != plan.tactics.end(), ErrorCode::kInvalidPlan, node->describe(),
               ": the plan records no tactic for this node");
    if (t->second == kShapeTimeTactic) continue;
    if (t->second == kViewAliasTactic) {
      KILN_CHECK(node->inputs.size() >= 1 && node->inputs[0] && node->outputs.size() == 1,
                 ErrorCode::kInvalidPlan, node->describe(), ": a view must have one input and output");
      ctx.view_sources[node->outputs[0]] = node->inputs[0];
      continue;
    }
    const CudaKernel* k = CudaKernelRegistry::instance().find(node->op, t->second);
    KILN_CHECK(k != nullptr, ErrorCode::kInvalidPlan, node->describe(), ": the plan's CUDA tactic '",
               t->second, "' does not exist in this kiln");
    ctx.kernels[node.get()] = k;
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
    check_status(cudaMalloc(&ctx.shape_values, total), "allocating device memory for shape-time values");
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

}  // namespace

void enqueue_graph(const plan::PlanContents& plan, EngineResources& engine, ContextResources& ctx,
                   const ops::ResolvedShapes& resolved, uint64_t resolved_generation,
                   const std::map<const ir::Value*, void*>& io, void* stream_handle,
                   const LayerTimeCallback& on_layer_time) {
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
  const plan::MemoryPlanData& memory = plan.memory;

  // Where a value lives on the device. Shape-time values come first: a graph output known on
  // the host is read by later nodes from the uploaded copy (it is copied out at the end).
  auto address_of = [&](const ir::Value* v) -> void* {
    for (auto it = ctx.view_sources.find(v); it != ctx.view_sources.end(); it = ctx.view_sources.find(v)) {
      v = it->second;
    }
    if (auto it = ctx.shape_value_addresses.find(v); it != ctx.shape_value_addresses.end()) {
      return it->second;
    }
    if (v->is_constant()) {
      auto it = engine.constants.find(v);
      return it == engine.constants.end() ? nullptr : it->second;  // empty constant
    }
    if (auto it = io.find(v); it != io.end()) return it->second;
    auto off = memory.offsets.find(v->name);
    KILN_CHECK(off != memory.offsets.end(), ErrorCode::kInternal, "value '", v->name,
               "' has no place in the memory plan");
    return static_cast<std::byte*>(ctx.arena) + off->second;
  };

  std::unordered_set<const ir::Value*> written;
  // Profiling: an event before and after each kernel (created here: profiling may allocate).
  std::vector<std::pair<const ir::Node*, std::pair<cudaEvent_t, cudaEvent_t>>> timed;
  auto destroy_events = [&] {
    for (auto& [node, events] : timed) {
      cudaEventDestroy(events.first);
      cudaEventDestroy(events.second);
    }
    timed.clear();
  };
  struct EventGuard {
    std::function<void()> destroy;
    ~EventGuard() { destroy(); }
  } event_guard{destroy_events};
  for (const auto& node_ptr : plan.graph->nodes()) {
    const ir::Node& node = *node_ptr;
    if (all_outputs_known(node, resolved)) continue;
    if (node.outputs.size() == 1 && ctx.view_sources.count(node.outputs[0])) continue;
    auto kit = ctx.kernels.find(&node);
    KILN_CHECK(kit != ctx.kernels.end(), ErrorCode::kRuntime, node.describe(),
               ": its outputs were expected to be computed when shapes are resolved, but are not "
               "known for these input shapes, and the plan has no CUDA kernel for it");
    const CudaKernel& kernel = *kit->second;
    RunContext rc(node);
    rc.stream = stream;
    rc.builder_flags = plan.builder_flags;
    rc.cublaslt = ctx.cublaslt;
    rc.workspace = ctx.workspace;
    rc.workspace_bytes = ctx.workspace_bytes;
    rc.state = &ctx.node_state[&node];
    rc.cudnn = &ctx.cudnn;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ir::Value* in = node.inputs[i];
      DeviceTensor t;
      if (in) {
        KILN_CHECK(!resolved.is_deferred(in), ErrorCode::kUnsupported, node.describe(),
                   ": reads a value whose shape depends on the input data; the CUDA backend does "
                   "not run such graphs yet");
        const ops::TensorDesc& d = resolved.of(in);
        t.present = true;
        t.dtype = d.dtype;
        t.shape = d.shape;
        if (auto it = resolved.values.find(in); it != resolved.values.end()) t.host_value = &it->second;
        if (!is_host_input(kernel, i)) t.data = address_of(in);
      }
      rc.inputs.push_back(std::move(t));
    }
    for (const ir::Value* out : node.outputs) {
      DeviceTensor t;
      if (out) {
        const ops::TensorDesc& d = resolved.of(out);
        t.present = true;
        t.dtype = d.dtype;
        t.shape = d.shape;
        if (auto it = io.find(out); it != io.end()) {
          t.data = it->second;
        } else {
          auto off = memory.offsets.find(out->name);
          KILN_CHECK(off != memory.offsets.end(), ErrorCode::kInternal, node.describe(), ": value '",
                     out->name, "' has no place in the memory plan");
          const size_t bytes = t.nbytes();
          KILN_CHECK(bytes <= memory.sizes.at(out->name) && off->second + bytes <= memory.arena_bytes,
                     ErrorCode::kRuntime, node.describe(), ": output '", out->name, "' needs ", bytes,
                     " bytes but the plan reserved ", memory.sizes.at(out->name),
                     " (shapes outside the optimization profile?)");
          t.data = static_cast<std::byte*>(ctx.arena) + off->second;
        }
        written.insert(out);
      }
      rc.outputs.push_back(std::move(t));
    }
    cudaEvent_t before = nullptr, after = nullptr;
    if (on_layer_time) {
      check_cuda(cudaEventCreate(&before), node, "creating a profiling event");
      check_cuda(cudaEventCreate(&after), node, "creating a profiling event");
      timed.push_back({&node, {before, after}});
      check_cuda(cudaEventRecord(before, stream), node, "recording a profiling event");
    }
    kernel.run(rc);
    check_cuda(cudaGetLastError(), node, cat("launching CUDA kernel ", kernel.name).c_str());
    if (on_layer_time) check_cuda(cudaEventRecord(after, stream), node, "recording a profiling event");
  }

  // Outputs no node wrote: constants, shape-time values, or values computed on the host.
  for (const ir::Value* out : plan.graph->outputs()) {
    if (written.count(out)) continue;
    void* dst = io.at(out);
    const ops::TensorDesc& d = resolved.of(out);
    const size_t bytes = size_t(volume(d.shape)) * element_size(d.dtype);
    if (bytes == 0) continue;
    if (auto it = resolved.values.find(out); it != resolved.values.end()) {
      check_status(cudaMemcpyAsync(dst, it->second.raw(), bytes, cudaMemcpyHostToDevice, stream),
                   cat("copying output '", out->name, "'"));
      continue;
    }
    void* src = address_of(out);
    if (src != dst) {
      check_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream),
                   cat("copying output '", out->name, "'"));
    }
  }
  if (on_layer_time && !timed.empty()) {
    synchronize(stream);
    for (auto& [node, events] : timed) {
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, events.first, events.second), *node, "reading a profiling event");
      on_layer_time(*node, ms);
    }
  }
}

void synchronize(void* stream) {
  check_status(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)),
               "running the engine on the GPU");
}

}  // namespace kiln::cuda
