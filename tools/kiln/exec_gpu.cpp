// The GPU measurement loop of `kiln exec`, as trtexec runs it: per stream an execution
// context, device buffers for the inputs and outputs and pinned host copies of them; per
// inference CUDA events around the H2D copies, the enqueue (or the launch of a captured CUDA
// graph) and the D2H copies. Each stream keeps two inferences in flight, so that the host
// enqueues the next one while the GPU runs the current one; several streams are fed round
// robin from this one host thread. GPU times are placed on the host timeline through an event
// recorded when the measurement starts, with the GPU idle.
#include "exec_runner.h"

#ifdef KILN_HAVE_CUDA

#include <algorithm>
#include <array>
#include <chrono>

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kInFlight = 2;  // inferences in flight per stream

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Events of one inference in flight.
struct Slot {
  CudaEvent h2d_start, compute_start, compute_end, d2h_end;
  double enqueue_start = 0, enqueue_end = 0;  // host ms since the phase's origin
  bool busy = false;
};

struct GpuStream {
  int index = 0;
  CudaStream stream;
  std::unique_ptr<ExecutionContext> context;
  std::vector<std::unique_ptr<PinnedBuffer>> host_inputs, host_outputs;
  std::vector<std::unique_ptr<DeviceBuffer>> device_inputs, device_outputs;
  std::unique_ptr<CudaGraph> graph;
  std::array<Slot, kInFlight> slots;
  uint64_t launched = 0;
};

void check_no_data_dependent_outputs(const RunSetup& setup) {
  for (const TensorSetup& output : setup.outputs) {
    if (output.data_dependent_output) {
      throw Error(ErrorCode::kUnsupported,
                  "output '" + output.name +
                      "' has a shape that depends on the input data, which GPU engines do not "
                      "support yet; build the engine for the CPU (--device=cpu)");
    }
  }
}

// A context with device buffers holding the setup's inputs (copied once), and pinned host
// buffers for the per-inference copies.
std::unique_ptr<GpuStream> make_gpu_stream(const Engine& engine, const RunSetup& setup, int index) {
  auto s = std::make_unique<GpuStream>();
  s->index = index;
  s->context = make_context(engine, setup);
  for (const TensorSetup& input : setup.inputs) {
    auto host = std::make_unique<PinnedBuffer>(input.bytes());
    if (input.bytes()) std::copy_n(input.values->data(), input.bytes(), host->data());
    auto device = std::make_unique<DeviceBuffer>(input.bytes());
    device->copy_from_host(host->data());
    s->context->set_tensor_address(input.name, device->data());
    s->host_inputs.push_back(std::move(host));
    s->device_inputs.push_back(std::move(device));
  }
  for (const TensorSetup& output : setup.outputs) {
    s->host_outputs.push_back(std::make_unique<PinnedBuffer>(output.bytes()));
    s->device_outputs.push_back(std::make_unique<DeviceBuffer>(output.bytes()));
    s->context->set_tensor_address(output.name, s->device_outputs.back()->data());
  }
  return s;
}

void copy_async(void* to, const void* from, size_t bytes, cudaMemcpyKind kind,
                cudaStream_t stream) {
  if (bytes == 0) return;
  check_cuda(cudaMemcpyAsync(to, from, bytes, kind, stream), kind == cudaMemcpyHostToDevice
                                                                 ? "copying an input to the device"
                                                                 : "copying an output to the host");
}

class Phase {
 public:
  Phase(std::vector<std::unique_ptr<GpuStream>>& streams, bool data_transfers, bool keep)
      : streams_(streams), data_transfers_(data_transfers), keep_(keep) {
    // The origin: with the GPU idle, an event recorded now completes now.
    check_cuda(cudaDeviceSynchronize(), "waiting for the GPU");
    host_origin_ = Clock::now();
    origin_.record(streams_.front()->stream.get());
    origin_.synchronize();
  }

  // Launches one inference on every stream, round robin, until at least `min_iterations`
  // were launched and `min_ms` passed; then waits for all of them.
  void run(uint64_t min_iterations, double min_ms) {
    const Clock::time_point start = Clock::now();
    uint64_t launched = 0;
    do {
      for (auto& s : streams_) launch(*s);
      launched += streams_.size();
    } while (launched < min_iterations || ms_between(start, Clock::now()) < min_ms);
    for (auto& s : streams_) {
      for (size_t k = 0; k < kInFlight; ++k) {
        Slot& slot = s->slots[(s->launched + k) % kInFlight];  // oldest first
        if (slot.busy) collect(*s, slot);
      }
    }
    elapsed_ms_ = ms_between(start, Clock::now());
  }

  std::vector<InferenceTrace> traces() {
    std::stable_sort(traces_.begin(), traces_.end(),
                     [](const InferenceTrace& a, const InferenceTrace& b) {
                       return a.enqueue_start < b.enqueue_start;
                     });
    return traces_;
  }
  size_t count() const { return count_; }
  double elapsed_ms() const { return elapsed_ms_; }

 private:
  void launch(GpuStream& s) {
    Slot& slot = s.slots[s.launched % kInFlight];
    if (slot.busy) collect(s, slot);  // reuse its events only once it finished
    const cudaStream_t stream = s.stream.get();
    slot.h2d_start.record(stream);
    if (data_transfers_) {
      for (size_t i = 0; i < s.device_inputs.size(); ++i) {
        copy_async(s.device_inputs[i]->data(), s.host_inputs[i]->data(), s.device_inputs[i]->size(),
                   cudaMemcpyHostToDevice, stream);
      }
    }
    slot.compute_start.record(stream);
    const Clock::time_point enqueue_start = Clock::now();
    if (s.graph) {
      s.graph->launch(stream);
    } else {
      s.context->enqueue(stream);
    }
    const Clock::time_point enqueue_end = Clock::now();
    slot.compute_end.record(stream);
    if (data_transfers_) {
      for (size_t i = 0; i < s.device_outputs.size(); ++i) {
        copy_async(s.host_outputs[i]->data(), s.device_outputs[i]->data(),
                   s.device_outputs[i]->size(), cudaMemcpyDeviceToHost, stream);
      }
    }
    slot.d2h_end.record(stream);
    slot.enqueue_start = ms_between(host_origin_, enqueue_start);
    slot.enqueue_end = ms_between(host_origin_, enqueue_end);
    slot.busy = true;
    ++s.launched;
  }

  void collect(GpuStream& s, Slot& slot) {
    slot.d2h_end.synchronize();
    slot.busy = false;
    ++count_;
    if (!keep_) return;
    InferenceTrace t;
    t.stream = s.index;
    t.enqueue_start = slot.enqueue_start;
    t.enqueue_end = slot.enqueue_end;
    t.h2d_start = slot.h2d_start.milliseconds_since(origin_);
    t.h2d_end = t.compute_start = slot.compute_start.milliseconds_since(origin_);
    t.compute_end = t.d2h_start = slot.compute_end.milliseconds_since(origin_);
    t.d2h_end = slot.d2h_end.milliseconds_since(origin_);
    if (!data_transfers_) {  // the events around no copies: exactly no time
      t.h2d_start = t.h2d_end;
      t.d2h_end = t.d2h_start;
    }
    traces_.push_back(t);
  }

  std::vector<std::unique_ptr<GpuStream>>& streams_;
  bool data_transfers_;
  bool keep_;
  CudaEvent origin_;
  Clock::time_point host_origin_;
  std::vector<InferenceTrace> traces_;
  size_t count_ = 0;
  double elapsed_ms_ = 0;
};

}  // namespace

BenchmarkResult benchmark_gpu(const Engine& engine, const RunSetup& setup,
                              const BenchmarkOptions& options) {
  require_gpu("this is a GPU engine");
  check_no_data_dependent_outputs(setup);
  BenchmarkResult result;
  std::vector<std::unique_ptr<GpuStream>> streams;
  streams.reserve(size_t(std::max(options.streams, 0)));
  for (int index = 0; index < options.streams; ++index) {
    streams.push_back(make_gpu_stream(engine, setup, index));
  }
  // An untimed first run: it uploads the weights and allocates the context's memory, which a
  // CUDA graph cannot capture.
  for (auto& s : streams) s->context->enqueue(s->stream.get());
  // The whole device: the first run may also have copied on the legacy default stream (the
  // weights), which our non-blocking streams are not ordered after.
  check_cuda(cudaDeviceSynchronize(), "running the engine for the first time");

  if (options.cuda_graph) {
    std::string why_not;
    for (auto& s : streams) {
      GpuStream& stream = *s;
      stream.graph = CudaGraph::capture(
          stream.stream.get(), [&stream] { stream.context->enqueue(stream.stream.get()); },
          why_not);
      if (!stream.graph) break;
      stream.graph->launch(stream.stream.get());  // check it runs before timing it
      stream.stream.synchronize();
    }
    if (!why_not.empty()) {
      for (auto& s : streams) s->graph.reset();
      result.notes.push_back("CUDA graph capture failed (" + why_not +
                             "); measuring without CUDA graphs");
      // A failed capture must leave the contexts usable: check with a plain run.
      for (auto& s : streams) s->context->enqueue(s->stream.get());
      for (auto& s : streams) s->stream.synchronize();
    }
  }

  if (options.warmup_ms > 0) {
    Phase warmup(streams, options.data_transfers, false);
    warmup.run(0, options.warmup_ms);
    result.warmup_queries = warmup.count();
    result.warmup_ms = warmup.elapsed_ms();
  }
  Phase measured(streams, options.data_transfers, true);
  measured.run(options.iterations, options.duration_ms);
  result.traces = measured.traces();
  return result;
}

void profile_layers_gpu(const Engine& engine, const RunSetup& setup,
                        const BenchmarkOptions& options, LayerProfiler& profiler) {
  require_gpu("this is a GPU engine");
  check_no_data_dependent_outputs(setup);
  std::unique_ptr<GpuStream> s = make_gpu_stream(engine, setup, 0);
  const cudaStream_t stream = s->stream.get();
  s->context->enqueue(stream);  // untimed first run
  check_cuda(cudaDeviceSynchronize(), "running the engine for the first time");
  s->context->set_profiler(&profiler);
  const Clock::time_point start = Clock::now();
  for (uint64_t runs = 0;
       runs < options.iterations || ms_between(start, Clock::now()) < options.duration_ms; ++runs) {
    profiler.begin_run();
    s->context->enqueue(stream);  // with a profiler set, returns once the GPU finished
  }
  s->stream.synchronize();
  s->context->set_profiler(nullptr);
}

}  // namespace kiln::cli

#else  // !KILN_HAVE_CUDA

namespace kiln::cli {

BenchmarkResult benchmark_gpu(const Engine&, const RunSetup&, const BenchmarkOptions&) {
  throw Error(ErrorCode::kUnsupported,
              "this is a GPU engine, but this kiln was built without CUDA");
}

void profile_layers_gpu(const Engine&, const RunSetup&, const BenchmarkOptions&, LayerProfiler&) {
  throw Error(ErrorCode::kUnsupported,
              "this is a GPU engine, but this kiln was built without CUDA");
}

}  // namespace kiln::cli

#endif  // KILN_HAVE_CUDA
