// The device-independent part of the measurement loops, and the CPU implementation: each
// stream is a host thread with its own execution context, running synchronously.
#include "exec_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <latch>
#include <mutex>
#include <thread>

#include "model.h"
#include "values.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// One CPU "stream": a context with its own copy of the inputs and its own outputs.
struct CpuWorker {
  std::unique_ptr<ExecutionContext> context;
  std::vector<std::unique_ptr<HostBuffer>> inputs;
  std::vector<std::unique_ptr<HostBuffer>> outputs;  // data-dependent ones filled by allocators
  std::vector<std::unique_ptr<HostOutputAllocator>> allocators;
};

std::unique_ptr<CpuWorker> make_cpu_worker(const Engine& engine, const RunSetup& setup) {
  auto worker = std::make_unique<CpuWorker>();
  worker->context = make_context(engine, setup);
  for (const TensorSetup& input : setup.inputs) {
    auto buffer = std::make_unique<HostBuffer>(input.bytes());
    if (input.bytes()) std::memcpy(buffer->data(), input.values->data(), input.bytes());
    worker->context->set_tensor_address(input.name, buffer->data());
    worker->inputs.push_back(std::move(buffer));
  }
  worker->outputs.resize(setup.outputs.size());
  for (size_t i = 0; i < setup.outputs.size(); ++i) {
    const TensorSetup& output = setup.outputs[i];
    if (output.data_dependent_output) {
      worker->allocators.push_back(std::make_unique<HostOutputAllocator>(worker->outputs[i]));
      worker->context->set_output_allocator(output.name, worker->allocators.back().get());
      continue;
    }
    worker->outputs[i] = std::make_unique<HostBuffer>(output.bytes());
    worker->context->set_tensor_address(output.name, worker->outputs[i]->data());
  }
  return worker;
}

// Runs every worker on its own thread (the first on this one) until at least `min_iterations`
// inferences finished in all and `min_ms` passed. Traces are in ms since `origin`.
std::vector<InferenceTrace> run_cpu_phase(std::vector<std::unique_ptr<CpuWorker>>& workers,
                                          Clock::time_point origin, uint64_t min_iterations,
                                          double min_ms) {
  std::atomic<uint64_t> finished{0};
  std::atomic<bool> stop{false};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  std::vector<std::vector<InferenceTrace>> traces(workers.size());

  std::latch all_started(std::ptrdiff_t(workers.size()));  // so that every stream gets a share
  auto work = [&](size_t stream) {
    all_started.arrive_and_wait();
    try {
      ExecutionContext& context = *workers[stream]->context;
      // Timed from this thread's first run: when it stops the phase, the phase's walltime
      // (earliest start to latest end, over all threads) is at least min_ms.
      const Clock::time_point first_start = Clock::now();
      while (!stop.load()) {
        const Clock::time_point start = Clock::now();
        context.execute();
        const Clock::time_point end = Clock::now();
        InferenceTrace trace;
        trace.stream = int(stream);
        trace.enqueue_start = trace.h2d_start = trace.h2d_end = trace.compute_start =
            ms_between(origin, start);
        trace.enqueue_end = trace.compute_end = trace.d2h_start = trace.d2h_end =
            ms_between(origin, end);
        traces[stream].push_back(trace);
        if (finished.fetch_add(1) + 1 >= min_iterations && ms_between(first_start, end) >= min_ms) {
          stop.store(true);
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop.store(true);
    }
  };
  std::vector<std::thread> threads;
  for (size_t stream = 1; stream < workers.size(); ++stream) threads.emplace_back(work, stream);
  work(0);
  for (std::thread& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);

  std::vector<InferenceTrace> all;
  for (const auto& stream_traces : traces)
    all.insert(all.end(), stream_traces.begin(), stream_traces.end());
  std::stable_sort(all.begin(), all.end(), [](const InferenceTrace& a, const InferenceTrace& b) {
    return a.enqueue_start < b.enqueue_start;
  });
  return all;
}

}  // namespace

size_t TensorSetup::bytes() const {
  if (data_dependent_output || is_dynamic(dims)) return 0;
  return tensor_buffer_bytes("tensor '" + name + "'", dtype, dims);
}

std::unique_ptr<ExecutionContext> make_context(const Engine& engine, const RunSetup& setup) {
  std::unique_ptr<ExecutionContext> context = engine.create_execution_context();
  for (const TensorSetup& input : setup.inputs) {
    if (input.dynamic_input) context->set_input_shape(input.name, input.dims);
  }
  return context;
}

BenchmarkResult benchmark(const Engine& engine, const RunSetup& setup,
                          const BenchmarkOptions& options) {
  return engine.device() == DeviceType::kGPU ? benchmark_gpu(engine, setup, options)
                                             : benchmark_cpu(engine, setup, options);
}

void profile_layers(const Engine& engine, const RunSetup& setup, const BenchmarkOptions& options,
                    LayerProfiler& profiler) {
  if (engine.device() == DeviceType::kGPU) {
    profile_layers_gpu(engine, setup, options, profiler);
  } else {
    profile_layers_cpu(engine, setup, options, profiler);
  }
}

BenchmarkResult benchmark_cpu(const Engine& engine, const RunSetup& setup,
                              const BenchmarkOptions& options) {
  std::vector<std::unique_ptr<CpuWorker>> workers;
  workers.reserve(size_t(std::max(options.streams, 0)));
  for (int stream = 0; stream < options.streams; ++stream) {
    workers.push_back(make_cpu_worker(engine, setup));
  }
  for (auto& worker : workers) worker->context->execute();  // untimed first run

  BenchmarkResult result;
  if (options.warmup_ms > 0) {
    const Clock::time_point start = Clock::now();
    result.warmup_queries = run_cpu_phase(workers, start, 0, options.warmup_ms).size();
    result.warmup_ms = ms_between(start, Clock::now());
  }
  result.traces = run_cpu_phase(workers, Clock::now(), options.iterations, options.duration_ms);
  return result;
}

void profile_layers_cpu(const Engine& engine, const RunSetup& setup,
                        const BenchmarkOptions& options, LayerProfiler& profiler) {
  std::unique_ptr<CpuWorker> worker = make_cpu_worker(engine, setup);
  worker->context->execute();  // untimed first run
  worker->context->set_profiler(&profiler);
  const Clock::time_point start = Clock::now();
  for (uint64_t runs = 0;
       runs < options.iterations || ms_between(start, Clock::now()) < options.duration_ms; ++runs) {
    profiler.begin_run();
    worker->context->execute();
  }
  worker->context->set_profiler(nullptr);
}

}  // namespace kiln::cli
