// Build-time autotuning (cuda_backend.h: autotune_tactics). For each node with a choice — several
// kernels support it (cuDNN and kiln's own convolution, say), or its kernel proposes algorithms
// (cuBLASLt's top heuristic algorithms, cuDNN's engine configurations of heuristics modes A and
// fallback) — every candidate runs on the GPU at the profile's opt shapes, on the node's real
// constants and deterministic pseudo-random data elsewhere: a probe run (which also plans, and
// collects the kernel's proposals), kWarmupRuns untimed runs, then the median of kTimedRuns
// runs timed with CUDA events. The fastest kernel and its algorithm parameters go into the
// plan. Timings are keyed by layer signature and environment, so identical layers (ResNet's
// repeated blocks) are timed once per build, and not at all when a TimingCache has them.
//
// Only nodes whose runtime inputs are floating point are timed: pseudo-random integers could be
// out-of-range indices, and a kernel reading out of bounds would break the CUDA context for
// the whole process. Others keep the kernel of highest priority (heuristics at run time).
#include <cublasLt.h>
#include <cudnn_graph.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <variant>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_common.cuh"
#include "kiln/version.h"

namespace kiln::cuda {
namespace {

constexpr int kWarmupRuns = 2;
constexpr int kTimedRuns = 5;
// Device workspace of the timing runs: what execution contexts give kernels
// (ContextResources::workspace_bytes in cuda_executor.cu).
constexpr size_t kWorkspaceBytes = size_t(32) << 20;
// Layers whose buffers would take more than this are not timed.
constexpr uint64_t kMaxLayerBytes = uint64_t(4) << 30;

template <typename T>
__global__ void fill_pseudo_random_kernel(T* data, int64_t n, uint32_t seed) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    uint32_t x = uint32_t(i) * 2654435761u ^ seed;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    data[i] = from_float<T>(float(x) * (2.0f / 4294967296.0f) - 1.0f);  // in [-1, 1)
  }
}

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

// GPU, SM and library versions: part of every timing cache key.
std::string environment_key() {
  int device = 0;
  cudaGetDevice(&device);
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  return cat(prop.name, " sm_", prop.major, prop.minor, ", cuBLASLt ", cublasLtGetVersion(),
             ", cuDNN ", cudnnGetVersion(), ", kiln ", version_string());
}

uint64_t fnv1a(const void* data, size_t size, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

std::string describe_tensor(const Tensor& t) {
  return cat(to_string(t.dtype()), "[", to_string(t.shape()), "]#", fnv1a(t.raw(), t.nbytes()));
}

std::string describe_attribute(const ir::Attribute& a) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, double> ||
                      std::is_same_v<V, std::string>) {
          return cat(v);
        } else if constexpr (std::is_same_v<V, Tensor>) {
          return describe_tensor(v);
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>> ||
                             std::is_same_v<V, std::vector<double>> ||
                             std::is_same_v<V, std::vector<std::string>>) {
          std::string s = "[";
          for (const auto& e : v) s += cat(e, ",");
          return s + "]";
        } else if constexpr (std::is_same_v<V, std::vector<Tensor>>) {
          std::string s = "[";
          for (const auto& e : v) s += describe_tensor(e) + ",";
          return s + "]";
        } else {
          return "graph";  // subgraph ops have no tunable kernels
        }
      },
      a);
}

// What decides a layer's timings: op, attributes, input and output types and shapes, values
// read on the host, builder flags and allowed sources, and the candidate kernels. Values that
// the kernels read on the device (weights) do not: layers that differ only in their weights
// (ResNet's repeated blocks) share one timing.
std::string layer_signature(const NodeQuery& q, const std::vector<const CudaKernel*>& candidates) {
  auto read_on_host = [&](size_t i) {
    return std::any_of(candidates.begin(), candidates.end(), [&](const CudaKernel* k) {
      return std::find(k->host_inputs.begin(), k->host_inputs.end(), i) != k->host_inputs.end();
    });
  };
  std::string s = cat(q.node->op, "|");
  for (const auto& [key, value] : q.node->attrs) s += cat(key, "=", describe_attribute(value), ";");
  s += "|in:";
  for (size_t i = 0; i < q.inputs.size(); ++i) {
    const TensorInfo& t = q.inputs[i];
    if (!t.present) {
      s += "none,";
      continue;
    }
    s += cat(to_string(t.dtype), "[", to_string(t.shape), "]");
    if (t.host_value && read_on_host(i))
      s += cat("=", fnv1a(t.host_value->raw(), t.host_value->nbytes()));
    s += ",";
  }
  s += "|out:";
  for (const TensorInfo& t : q.outputs) {
    s += t.present ? cat(to_string(t.dtype), "[", to_string(t.shape), "],") : std::string("none,");
  }
  s += cat("|flags ", q.builder_flags, " sources ", q.tactic_sources, "|kernels:");
  for (const CudaKernel* k : candidates) s += k->name + ",";
  return s;
}

std::string describe_choice(const ir::Node& node, const std::string& kernel,
                            const std::vector<uint8_t>& params) {
  const std::string text = describe_tactic_params(node.op, kernel, params);
  return text.empty() ? kernel : cat(kernel, " (", text, ")");
}

class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() {
    for (void* p : blocks_) cudaFree(p);
  }
  void* allocate(size_t bytes, const ir::Node& node) {
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, std::max<size_t>(bytes, 256)), node,
               "allocating a buffer for autotuning");
    blocks_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> blocks_;
};

// Resources of one build's timing runs.
class Tuner {
 public:
  Tuner(uint32_t builder_flags, Logger& logger) : builder_flags_(builder_flags), logger_(logger) {
    const auto fail_setup = [](const char* what) {
      fail(ErrorCode::kRuntime, "autotuning: ", what);
    };
    if (cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking) != cudaSuccess)
      fail_setup("creating a stream");
    if (cublasLtCreate(&cublaslt_) != CUBLAS_STATUS_SUCCESS)
      fail_setup("creating a cuBLASLt handle");
    if (cudaMalloc(&workspace_, kWorkspaceBytes) != cudaSuccess)
      fail_setup("allocating the workspace");
    if (cudaEventCreate(&before_) != cudaSuccess || cudaEventCreate(&after_) != cudaSuccess) {
      fail_setup("creating events");
    }
  }
  Tuner(const Tuner&) = delete;
  Tuner& operator=(const Tuner&) = delete;
  ~Tuner() {
    if (stream_) cudaStreamSynchronize(stream_);
    cudnn_.reset();
    if (before_) cudaEventDestroy(before_);
    if (after_) cudaEventDestroy(after_);
    if (workspace_) cudaFree(workspace_);
    if (cublaslt_) cublasLtDestroy(cublaslt_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  struct Measured {
    const CudaKernel* kernel = nullptr;
    std::vector<uint8_t> params;
    double milliseconds = 0;
  };

  // Times every candidate (and every algorithm each proposes); nullopt when none ran.
  std::optional<Measured> time_node(const NodeQuery& q,
                                    const std::vector<const CudaKernel*>& candidates) {
    const ir::Node& node = *q.node;
    DeviceMemory memory;
    std::vector<DeviceTensor> inputs, outputs;
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < q.inputs.size(); ++i) {
      const TensorInfo& info = q.inputs[i];
      const ir::Value* value = node.inputs[i];
      DeviceTensor t;
      t.present = info.present;
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.host_value = info.host_value;
      if (info.present) {
        t.data = memory.allocate(t.nbytes(), node);
        const Tensor* known = info.host_value                 ? info.host_value
                              : value && value->is_constant() ? &*value->constant
                                                              : nullptr;
        if (known && known->dtype() == t.dtype && known->nbytes() == t.nbytes()) {
          check_cuda(cudaMemcpy(t.data, known->raw(), t.nbytes(), cudaMemcpyHostToDevice), node,
                     "uploading a constant for autotuning");
        } else if (t.numel() > 0) {
          seed = seed * 1664525u + 1013904223u;
          dispatch_float(node, t.dtype, [&](auto tag) {
            using T = typename decltype(tag)::type;
            fill_pseudo_random_kernel<T>
                <<<grid_for(t.numel()), kBlock, 0, stream_>>>(t.as<T>(), t.numel(), seed);
          });
        }
      }
      inputs.push_back(std::move(t));
    }
    for (const TensorInfo& info : q.outputs) {
      DeviceTensor t;
      t.present = info.present;
      t.dtype = info.dtype;
      t.shape = info.shape;
      if (info.present) t.data = memory.allocate(t.nbytes(), node);
      outputs.push_back(std::move(t));
    }
    check_cuda(cudaStreamSynchronize(stream_), node, "preparing autotuning inputs");

    std::optional<Measured> best;
    std::string report;
    // Where this layer's tuning time goes (the build log shows it): the probe runs (planning by
    // heuristics and listing proposals), planning the proposals ahead, and their timed runs.
    double probe_ms = 0, planning_ms = 0, timing_ms = 0;
    auto since = [](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t)
          .count();
    };
    for (const CudaKernel* kernel : candidates) {
      auto make_rc = [&](std::shared_ptr<void>& state) {
        RunContext rc(node);
        rc.inputs = inputs;
        for (size_t i : kernel->host_inputs) {
          if (i < rc.inputs.size()) rc.inputs[i].data = nullptr;
        }
        rc.outputs = outputs;
        rc.stream = stream_;
        rc.builder_flags = builder_flags_;
        rc.cublaslt = cublaslt_;
        rc.workspace = workspace_;
        rc.workspace_bytes = kWorkspaceBytes;
        rc.state = &state;
        rc.cudnn = &cudnn_;
        return rc;
      };
      // The probe run: plans as by heuristics and collects the kernel's proposals.
      std::vector<std::vector<uint8_t>> proposals;
      auto phase = std::chrono::steady_clock::now();
      try {
        std::shared_ptr<void> state;
        RunContext rc = make_rc(state);
        if (kernel->tunable) rc.tactic_proposals = &proposals;
        run_once(*kernel, rc);
        check_cuda(cudaStreamSynchronize(stream_), node, "running a candidate");
      } catch (const std::exception& e) {
        recover(node, *kernel);
        report += cat("\n    ", kernel->name, ": failed (", e.what(), ")");
        probe_ms += since(phase);
        continue;
      }
      probe_ms += since(phase);
      if (proposals.empty()) proposals.emplace_back();  // as the heuristics choose
      // Each proposal gets a fresh state. Kernels that can plan ahead plan all proposals at once
      // first (each on a thread and a cuDNN handle of its own).
      std::vector<std::shared_ptr<void>> states(proposals.size()), handles(proposals.size());
      std::vector<std::string> planning_failures(proposals.size());
      const bool ahead = kernel->plans_ahead && proposals.size() > 1;
      phase = std::chrono::steady_clock::now();
      if (ahead)
        plan_in_parallel(node, *kernel, proposals, make_rc, states, handles, planning_failures);
      planning_ms += since(phase);
      phase = std::chrono::steady_clock::now();
      for (size_t k = 0; k < proposals.size(); ++k) {
        const std::vector<uint8_t>& params = proposals[k];
        const std::string name = describe_choice(node, kernel->name, params);
        try {
          if (!planning_failures[k].empty()) throw std::runtime_error(planning_failures[k]);
          RunContext rc = make_rc(states[k]);
          if (ahead) rc.cudnn = &handles[k];
          if (!params.empty()) rc.tactic_params = &params;
          const double ms = measure(*kernel, rc);
          report += cat("\n    ", name, ": ", ms, " ms");
          if (!best || ms < best->milliseconds) best = Measured{kernel, params, ms};
        } catch (const std::exception& e) {
          recover(node, *kernel);
          report += cat("\n    ", name, ": failed (", e.what(), ")");
        }
      }
      timing_ms += since(phase);
    }
    logger_.log(
        Logger::Severity::kVerbose,
        cat("autotune: ", node.describe(), " at ", describe_shapes(q), ":", report,
            best ? cat("\n  chosen: ", describe_choice(node, best->kernel->name, best->params),
                       ", ", best->milliseconds, " ms")
                 : std::string("\n  no candidate ran; keeping the default kernel"),
            cat("\n  tuning took ", int64_t(probe_ms), " ms probing, ", int64_t(planning_ms),
                " ms planning ahead, ", int64_t(timing_ms), " ms timing")));
    return best;
  }

 private:
  static std::string describe_shapes(const NodeQuery& q) {
    std::string s;
    for (const TensorInfo& t : q.inputs) {
      if (!s.empty()) s += ", ";
      s += t.present ? cat(to_string(t.dtype), "[", to_string(t.shape), "]") : std::string("-");
    }
    return s;
  }

  // Plans every proposal of `kernel` (RunContext::plan_only) on threads of their own: cuDNN's
  // plan finalization may compile kernels with NVRTC, which dominated tuned builds (ResNet-50:
  // about 9 plans per layer, 50-150 ms each), and it runs in parallel given separate handles.
  // A proposal that cannot be planned gets its error text in `failures`.
  template <typename MakeRc>
  void plan_in_parallel(const ir::Node& node, const CudaKernel& kernel,
                        const std::vector<std::vector<uint8_t>>& proposals, const MakeRc& make_rc,
                        std::vector<std::shared_ptr<void>>& states,
                        std::vector<std::shared_ptr<void>>& handles,
                        std::vector<std::string>& failures) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), node, "reading the current device");
    std::vector<std::thread> threads;
    threads.reserve(proposals.size());
    for (size_t k = 0; k < proposals.size(); ++k) {
      threads.emplace_back([&, k] {
        try {
          check_cuda(cudaSetDevice(device), node, "selecting the device for planning");
          RunContext rc = make_rc(states[k]);
          rc.cudnn = &handles[k];
          if (!proposals[k].empty()) rc.tactic_params = &proposals[k];
          rc.plan_only = true;
          kernel.run(rc);
        } catch (const std::exception& e) {
          failures[k] = e.what();
        }
        cudaGetLastError();  // a failed finalization may leave an error in this thread
      });
    }
    for (std::thread& t : threads) t.join();
  }

  void run_once(const CudaKernel& kernel, RunContext& rc) {
    kernel.run(rc);
    check_cuda(cudaGetLastError(), rc.node, cat("launching CUDA kernel ", kernel.name).c_str());
  }

  double measure(const CudaKernel& kernel, RunContext& rc) {
    for (int i = 0; i < kWarmupRuns; ++i) run_once(kernel, rc);
    check_cuda(cudaStreamSynchronize(stream_), rc.node, "warming up a candidate");
    std::vector<float> times;
    for (int i = 0; i < kTimedRuns; ++i) {
      check_cuda(cudaEventRecord(before_, stream_), rc.node, "recording an event");
      run_once(kernel, rc);
      check_cuda(cudaEventRecord(after_, stream_), rc.node, "recording an event");
      check_cuda(cudaEventSynchronize(after_), rc.node, "timing a candidate");
      float ms = 0;
      check_cuda(cudaEventElapsedTime(&ms, before_, after_), rc.node, "reading an event");
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

  // After a failed candidate: drop non-sticky errors; a sticky one has broken the context.
  void recover(const ir::Node& node, const CudaKernel& kernel) {
    cudaGetLastError();
    const cudaError_t status = cudaStreamSynchronize(stream_);
    cudaGetLastError();
    if (status != cudaSuccess && cudaDeviceSynchronize() != cudaSuccess) {
      fail(ErrorCode::kRuntime, node.describe(), ": autotuning kernel ", kernel.name,
           " left the GPU unusable: CUDA error ", cudaGetErrorName(status), " (",
           cudaGetErrorString(status), ")");
    }
  }

  uint32_t builder_flags_;
  Logger& logger_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  void* workspace_ = nullptr;
  cudaEvent_t before_ = nullptr, after_ = nullptr;
  std::shared_ptr<void> cudnn_;  // RunContext::cudnn
};

bool special_tactic(const std::string& tactic) {
  return tactic == kShapeTimeTactic || tactic == kViewAliasTactic || tactic == kRuntimeSelectTactic;
}

double budget_seconds() {
  const char* text = std::getenv("KILN_AUTOTUNE_BUDGET_S");
  if (!text || !*text) return 300.0;
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  return end != text && v >= 0 ? v : 300.0;
}

}  // namespace

AutotuneStats autotune_tactics(const ir::Graph& graph,
                               const std::vector<ops::ResolvedShapes>& points, size_t opt,
                               uint32_t builder_flags, uint32_t tactic_sources, TimingCache* cache,
                               Logger& logger, std::map<std::string, std::string>& tactics,
                               std::map<std::string, std::vector<uint8_t>>& params) {
  AutotuneStats stats;
  const auto start = std::chrono::steady_clock::now();
  if (const char* env = std::getenv("KILN_AUTOTUNE"); env && std::string(env) == "0") {
    logger.log(Logger::Severity::kVerbose,
               "autotune: off (KILN_AUTOTUNE=0): kernels chosen by "
               "priority, cuBLASLt/cuDNN algorithms by heuristics at the first run");
    return stats;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    logger.log(Logger::Severity::kVerbose,
               "autotune: no CUDA GPU visible at build time: kernels "
               "chosen by priority without timing, cuBLASLt/cuDNN algorithms by heuristics at the "
               "first run");
    return stats;
  }
  stats.ran = true;
  const std::string environment = environment_key();
  const double budget = budget_seconds();
  TimingCache in_build;  // identical layers within this build are timed once
  std::optional<Tuner> tuner;
  bool over_budget = false;
  size_t untimed_integer = 0;
  const ops::ResolvedShapes& at = points.at(opt);

  for (const auto& node_ptr : graph.nodes()) {
    const ir::Node& node = *node_ptr;
    auto tactic = tactics.find(node.name);
    if (tactic == tactics.end() || special_tactic(tactic->second)) continue;
    const NodeQuery q = make_query(node, at, builder_flags, tactic_sources);
    std::vector<const CudaKernel*> candidates;
    for (const CudaKernel* k : CudaKernelRegistry::instance().candidates(q)) {
      const bool host_known =
          std::all_of(k->host_inputs.begin(), k->host_inputs.end(), [&](size_t i) {
            return i >= q.inputs.size() || !q.inputs[i].present || q.inputs[i].host_value;
          });
      if (host_known) candidates.push_back(k);
    }
    if (candidates.empty() || (candidates.size() == 1 && !candidates[0]->tunable)) continue;

    const std::string key = cat(environment, "|", layer_signature(q, candidates));
    std::optional<TimingCache::Entry> hit = in_build.lookup(key);
    if (!hit && cache) hit = cache->lookup(key);
    if (hit) {
      const bool known = std::any_of(candidates.begin(), candidates.end(),
                                     [&](const CudaKernel* k) { return k->name == hit->kernel; });
      if (known) {
        ++stats.cache_hits;
        tactic->second = hit->kernel;
        if (hit->params.empty())
          params.erase(node.name);
        else
          params[node.name] = hit->params;
        in_build.insert(key, *hit);
        logger.log(Logger::Severity::kVerbose,
                   cat("autotune: ", node.describe(),
                       ": from the timing cache: ", describe_choice(node, hit->kernel, hit->params),
                       ", ", hit->milliseconds, " ms"));
        continue;
      }
    }

    // Timing.
    if (over_budget) continue;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > budget) {
      over_budget = true;
      logger.log(Logger::Severity::kWarning,
                 cat("autotune: the timing budget of ", budget,
                     " s (KILN_AUTOTUNE_BUDGET_S) is "
                     "spent: the remaining layers keep their default kernels"));
      continue;
    }
    bool eligible = true;
    uint64_t bytes = 0;
    for (size_t i = 0; i < q.inputs.size(); ++i) {
      const TensorInfo& t = q.inputs[i];
      if (!t.present) continue;
      bytes += uint64_t(volume(t.shape)) * element_size(t.dtype);
      const bool constant = node.inputs[i] && node.inputs[i]->is_constant();
      if (!t.host_value && !constant && !is_float_type(t.dtype)) eligible = false;
    }
    for (const TensorInfo& t : q.outputs) {
      if (t.present) bytes += uint64_t(volume(t.shape)) * element_size(t.dtype);
    }
    if (!eligible || bytes > kMaxLayerBytes) {
      ++untimed_integer;
      continue;
    }
    if (!tuner) tuner.emplace(builder_flags, logger);
    std::optional<Tuner::Measured> best = tuner->time_node(q, candidates);
    if (!best) continue;
    ++stats.timed;
    tactic->second = best->kernel->name;
    if (best->params.empty())
      params.erase(node.name);
    else
      params[node.name] = best->params;
    TimingCache::Entry entry{best->kernel->name, best->params, best->milliseconds};
    in_build.insert(key, entry);
    if (cache) cache->insert(key, entry);
  }
  tuner.reset();
  stats.milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  logger.log(
      Logger::Severity::kInfo,
      cat("autotune: timed ", stats.timed, " layers, ", stats.cache_hits,
          " from the timing cache or an identical layer",
          untimed_integer ? cat(", ", untimed_integer, " not timed (integer inputs or too large)")
                          : std::string(),
          ", ", stats.milliseconds, " ms (", environment, ")"));
  return stats;
}

}  // namespace kiln::cuda
