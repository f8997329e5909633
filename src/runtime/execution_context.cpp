#include <cstring>
#include <new>

#include "backends/cpu/cpu_executor.h"
#include "core/checked_size.h"
#include "runtime/engine_impl.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace kiln {

namespace detail {

const ops::ResolvedShapes& ContextImpl::resolve() {
  if (resolved) return *resolved;
  std::map<std::string, Dims> shapes;
  for (const IOTensor& t : engine->io) {
    if (t.mode != TensorIOMode::kINPUT) continue;
    auto it = input_shapes.find(t.name);
    if (it != input_shapes.end()) {
      shapes[t.name] = it->second;
    } else {
      KILN_CHECK(volume(t.dims) >= 0, ErrorCode::kInvalidArgument, "input '", t.name,
                 "' has dynamic shape [", to_string(t.dims),
                 "]: call set_input_shape for it first");
      shapes[t.name] = t.dims;
    }
  }
  resolved = ops::resolve_shapes(*engine->plan.graph, shapes);
  ++resolve_generation;
  return *resolved;
}

std::byte* ContextImpl::arena() {
  // Allocated on first use and kept: the plan sized it for the profile's max shapes.
  size_t bytes = size_t(engine->plan.memory.arena_bytes);
  if (arena_storage.size() < bytes) {
    // One allocation, bounded as every tensor is (a plan may ask for any size).
    check_allocation_size(bytes, "the execution context's activation arena");
    try {
      arena_storage.assign(bytes, std::byte{0});
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::kRuntime, "out of host memory: cannot allocate the activation arena of ",
           bytes, " bytes");
    }
  }
  return arena_storage.data();
}

ExclusiveUse::ExclusiveUse(ContextImpl& impl) : impl_(impl) {
  const std::thread::id self = std::this_thread::get_id();
  std::thread::id expected{};
  if (impl_.user.compare_exchange_strong(expected, self, std::memory_order_acquire)) {
    owns_ = true;
    return;
  }
  KILN_CHECK(expected == self, ErrorCode::kInvalidArgument,
             "this ExecutionContext is in use by another thread: a context holds per-run state "
             "(shapes, addresses, activation memory) and serves one thread at a time; give each "
             "thread its own (Engine::create_execution_context)");
}

ExclusiveUse::~ExclusiveUse() {
  if (owns_) impl_.user.store(std::thread::id{}, std::memory_order_release);
}

}  // namespace detail

ExecutionContext::ExecutionContext(std::unique_ptr<detail::ContextImpl> impl)
    : impl_(std::move(impl)) {}
ExecutionContext::~ExecutionContext() = default;

void ExecutionContext::set_input_shape(const std::string& name, const Dims& dims) {
  detail::ExclusiveUse in_use(*impl_);
  const detail::IOTensor& t = impl_->engine->io_tensor(name);
  KILN_CHECK(t.mode == TensorIOMode::kINPUT, ErrorCode::kInvalidArgument, "'", name,
             "' is an output; only input shapes can be set");
  KILN_CHECK(dims.size() == t.dims.size(), ErrorCode::kInvalidArgument, "input '", name,
             "' has rank ", t.dims.size(), " [", to_string(t.dims), "], got shape ",
             to_string(dims));
  const plan::ProfileData& p = impl_->engine->plan.profiles.at(0);
  for (size_t k = 0; k < p.input_names.size(); ++k) {
    if (p.input_names[k] != name) continue;
    for (size_t i = 0; i < dims.size(); ++i) {
      KILN_CHECK(dims[i] >= p.min[k][i] && dims[i] <= p.max[k][i], ErrorCode::kInvalidArgument,
                 "shape ", to_string(dims), " for input '", name,
                 "' is outside the engine's optimization profile (min ", to_string(p.min[k]),
                 ", max ", to_string(p.max[k]), ")");
    }
  }
  auto it = impl_->input_shapes.find(name);
  if (it != impl_->input_shapes.end() && it->second == dims) return;
  impl_->input_shapes[name] = dims;
  impl_->resolved.reset();
}

Dims ExecutionContext::tensor_shape(const std::string& name) const {
  detail::ExclusiveUse in_use(*impl_);
  const detail::IOTensor& t = impl_->engine->io_tensor(name);
  if (t.mode == TensorIOMode::kINPUT) {
    auto it = impl_->input_shapes.find(name);
    return it != impl_->input_shapes.end() ? it->second : t.dims;
  }
  if (!all_input_shapes_specified()) return t.dims;
  const ops::ResolvedShapes& r = impl_->resolve();
  if (r.is_deferred(t.value)) {
    auto it = impl_->data_dependent_shapes.find(name);
    return it != impl_->data_dependent_shapes.end() ? it->second : t.dims;
  }
  return r.of(t.value).shape;
}

void ExecutionContext::set_tensor_address(const std::string& name, void* address) {
  detail::ExclusiveUse in_use(*impl_);
  impl_->engine->io_tensor(name);  // validates the name
  impl_->addresses[name] = address;
}

void* ExecutionContext::tensor_address(const std::string& name) const {
  detail::ExclusiveUse in_use(*impl_);
  auto it = impl_->addresses.find(name);
  return it == impl_->addresses.end() ? nullptr : it->second;
}

bool ExecutionContext::all_input_shapes_specified() const {
  detail::ExclusiveUse in_use(*impl_);
  for (const detail::IOTensor& t : impl_->engine->io) {
    if (t.mode == TensorIOMode::kINPUT && volume(t.dims) < 0 && !impl_->input_shapes.count(t.name))
      return false;
  }
  return true;
}

namespace {

// CUDA engines run on the GPU: inputs and outputs are device addresses, and the run is
// enqueued on the caller's stream.
bool is_gpu_engine(const detail::ContextImpl& impl) { return impl.engine->plan.target != "cpu"; }

void run_on_gpu(detail::ContextImpl& impl, void* stream) {
#ifdef KILN_HAVE_CUDA
  const ops::ResolvedShapes& resolved = impl.resolve();
  std::map<const ir::Value*, void*> io;
  for (const detail::IOTensor& t : impl.engine->io) {
    if (resolved.is_deferred(t.value)) {  // an output: its memory comes once its shape is known
      KILN_CHECK(impl.output_allocators.count(t.name), ErrorCode::kInvalidArgument, "output '",
                 t.name,
                 "' has a shape that depends on the input data: give it an OutputAllocator "
                 "with set_output_allocator");
      continue;
    }
    auto it = impl.addresses.find(t.name);
    void* address = it == impl.addresses.end() ? nullptr : it->second;
    KILN_CHECK(address != nullptr || volume(resolved.of(t.value).shape) == 0,
               ErrorCode::kInvalidArgument, "no address set for ",
               t.mode == TensorIOMode::kINPUT ? "input" : "output", " '", t.name,
               "': call set_tensor_address with device memory");
    io[t.value] = address;
  }
  if (!impl.cuda) impl.cuda = cuda::create_context_resources();
  cuda::LayerTimeCallback on_layer_time;
  if (Profiler* profiler = impl.profiler) {
    on_layer_time = [profiler](const ir::Node& node, float ms) {
      profiler->report_layer_time(node.name, ms);
    };
  }
  // Outputs whose shapes wait for data: device memory from the caller's allocator, as
  // TensorRT's IOutputAllocator (the executor copies the output there on the stream).
  cuda::DeferredOutputCallback on_deferred_output =
      [&impl](const ir::Value& value, const Dims& shape, size_t bytes) -> void* {
    OutputAllocator* allocator = impl.output_allocators.at(value.name);
    auto current = impl.addresses.find(value.name);
    void* dst = allocator->reallocate_output(
        value.name, current == impl.addresses.end() ? nullptr : current->second, bytes, 256);
    KILN_CHECK(dst != nullptr || bytes == 0, ErrorCode::kRuntime, "the OutputAllocator of '",
               value.name, "' returned no memory for ", bytes, " bytes");
    impl.addresses[value.name] = dst;
    impl.data_dependent_shapes[value.name] = shape;
    allocator->notify_shape(value.name, shape);
    return dst;
  };
  cuda::enqueue_graph(impl.engine->plan, *impl.engine->cuda, *impl.cuda, resolved,
                      impl.resolve_generation, io, stream, on_layer_time, on_deferred_output);
#else
  fail(ErrorCode::kUnsupported, "this engine was built for target '", impl.engine->plan.target,
       "', but this kiln was built without CUDA");
#endif
}

}  // namespace

void ExecutionContext::execute() {
  detail::ExclusiveUse in_use(*impl_);
  if (is_gpu_engine(*impl_)) {
    run_on_gpu(*impl_, nullptr);  // the default stream, then wait for it
#ifdef KILN_HAVE_CUDA
    cuda::synchronize(nullptr);
#endif
    return;
  }
  const ops::ResolvedShapes& resolved = impl_->resolve();
  std::map<const ir::Value*, void*> io;
  for (const detail::IOTensor& t : impl_->engine->io) {
    if (resolved.is_deferred(t.value)) {
      KILN_CHECK(impl_->output_allocators.count(t.name), ErrorCode::kInvalidArgument, "output '",
                 t.name,
                 "' has a shape that depends on the input data: give it an OutputAllocator "
                 "with set_output_allocator");
      continue;
    }
    void* address = tensor_address(t.name);
    bool empty = volume(resolved.of(t.value).shape) == 0;
    KILN_CHECK(address != nullptr || empty, ErrorCode::kInvalidArgument, "no address set for ",
               t.mode == TensorIOMode::kINPUT ? "input" : "output", " '", t.name,
               "': call set_tensor_address");
    io[t.value] = address;
  }
  const plan::PlanContents& p = impl_->engine->plan;
  std::map<const ir::Value*, Tensor> deferred_outputs;
  cpu::LayerTimeCallback on_layer_time;
  if (Profiler* profiler = impl_->profiler) {
    on_layer_time = [profiler](const ir::Node& node, float ms) {
      profiler->report_layer_time(node.name, ms);
    };
  }
  cpu::execute_graph(*p.graph, p.memory, resolved, impl_->arena(), size_t(p.memory.arena_bytes), io,
                     &deferred_outputs, on_layer_time);
  for (const auto& [value, tensor] : deferred_outputs) {
    OutputAllocator* allocator = impl_->output_allocators.at(value->name);
    void* current = tensor_address(value->name);
    void* dst = allocator->reallocate_output(value->name, current, tensor.nbytes(), 256);
    KILN_CHECK(dst != nullptr || tensor.nbytes() == 0, ErrorCode::kRuntime,
               "the OutputAllocator of '", value->name, "' returned no memory for ",
               tensor.nbytes(), " bytes");
    if (tensor.nbytes()) std::memcpy(dst, tensor.raw(), tensor.nbytes());
    impl_->addresses[value->name] = dst;
    impl_->data_dependent_shapes[value->name] = tensor.shape();
    allocator->notify_shape(value->name, tensor.shape());
  }
}

bool ExecutionContext::has_data_dependent_shape(const std::string& name) const {
  detail::ExclusiveUse in_use(*impl_);
  const detail::IOTensor& t = impl_->engine->io_tensor(name);
  if (t.mode != TensorIOMode::kOUTPUT || !all_input_shapes_specified()) return false;
  return impl_->resolve().is_deferred(t.value);
}

void ExecutionContext::set_output_allocator(const std::string& name, OutputAllocator* allocator) {
  detail::ExclusiveUse in_use(*impl_);
  const detail::IOTensor& t = impl_->engine->io_tensor(name);
  KILN_CHECK(t.mode == TensorIOMode::kOUTPUT, ErrorCode::kInvalidArgument, "'", name,
             "' is an input; output allocators are for outputs");
  impl_->output_allocators[name] = allocator;
}

void ExecutionContext::set_profiler(Profiler* profiler) {
  detail::ExclusiveUse in_use(*impl_);
  impl_->profiler = profiler;
}
Profiler* ExecutionContext::profiler() const { return impl_->profiler; }

void ExecutionContext::enqueue(void* stream) {
  detail::ExclusiveUse in_use(*impl_);
  if (is_gpu_engine(*impl_)) return run_on_gpu(*impl_, stream);  // asynchronous
  KILN_CHECK(stream == nullptr, ErrorCode::kInvalidArgument,
             "this engine runs on the CPU backend: enqueue takes a null stream");
  execute();
}

}  // namespace kiln
