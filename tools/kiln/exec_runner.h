// The measurement loops of `kiln exec`: run an engine repeatedly on fixed inputs and record
// each inference's times (exec_timing.h), or run it with a per-layer profiler. CPU engines run
// synchronously on host threads (exec_cpu.cpp); GPU engines on CUDA streams with CUDA events
// around the copies and the compute (exec_gpu.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device_buffers.h"
#include "exec_timing.h"
#include "kiln/kiln.h"

namespace kiln::cli {

// The tensors of one run, the same for every iteration and stream.
struct TensorSetup {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;                           // the run's extents (outputs: as resolved, or -1)
  bool dynamic_input = false;          // an input whose shape the context must be given
  bool data_dependent_output = false;  // an output sized only after the run (CPU engines)
  std::shared_ptr<HostBuffer> values;  // inputs: the (random) values

  size_t bytes() const;  // 0 for a data-dependent output
};

struct RunSetup {
  std::vector<TensorSetup> inputs;
  std::vector<TensorSetup> outputs;
};

struct BenchmarkOptions {
  uint64_t iterations = 10;    // at least this many measured inferences...
  double duration_ms = 3000;   // ...and for at least this long
  double warmup_ms = 200;      // unmeasured runs first, for this long
  int streams = 1;             // contexts running concurrently (--infStreams)
  bool cuda_graph = false;     // GPU: launch a captured CUDA graph instead of enqueue
  bool data_transfers = true;  // GPU: copy inputs in and outputs out on every inference
};

struct BenchmarkResult {
  size_t warmup_queries = 0;
  double warmup_ms = 0;
  std::vector<InferenceTrace> traces;  // measured inferences, in the order they started
  std::vector<std::string> notes;      // things the user should know (a failed graph capture)
};

// A context with the setup's input shapes set.
std::unique_ptr<ExecutionContext> make_context(const Engine& engine, const RunSetup& setup);

// Runs `engine` (CPU or GPU) as `options` say and returns the measured traces. Every stream
// first runs once untimed (which also allocates the context's memory).
BenchmarkResult benchmark(const Engine& engine, const RunSetup& setup,
                          const BenchmarkOptions& options);

// Runs one context with `profiler` set, as many times as `options` ask (its iterations and
// duration; no warm-up beyond one untimed run, no graphs, no transfers timed).
void profile_layers(const Engine& engine, const RunSetup& setup, const BenchmarkOptions& options,
                    LayerProfiler& profiler);

// The implementations, by device.
BenchmarkResult benchmark_cpu(const Engine& engine, const RunSetup& setup,
                              const BenchmarkOptions& options);
void profile_layers_cpu(const Engine& engine, const RunSetup& setup,
                        const BenchmarkOptions& options, LayerProfiler& profiler);
// Throw kiln::Error in builds without CUDA.
BenchmarkResult benchmark_gpu(const Engine& engine, const RunSetup& setup,
                              const BenchmarkOptions& options);
void profile_layers_gpu(const Engine& engine, const RunSetup& setup,
                        const BenchmarkOptions& options, LayerProfiler& profiler);

}  // namespace kiln::cli
