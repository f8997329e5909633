// Runs one execution context again and again (CPU or GPU engine), and compares the backends
// over several runs of one context each, so that runtime buffers are reused and grown.
#pragma once

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln::gpu_test {

// Throws kiln::Error naming `what` unless `status` is cudaSuccess.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::kRuntime, cat("test harness: ", what, ": ", cudaGetErrorString(status)));
  }
}

// One execution context run again and again: inputs copied in, outputs of known extents into
// fresh buffers, data-dependent outputs through a GrowingAllocator each, all returned on the host.
class Runner {
 public:
  explicit Runner(const Engine& engine)
      : engine_(engine),
        gpu_(engine.device() == DeviceType::kGPU),
        context_(engine.create_execution_context()) {
    if (gpu_) check(cudaStreamCreate(&stream_), "cudaStreamCreate");
  }
  ~Runner() {
    free_buffers();
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs) {
    free_buffers();
    std::vector<Tensor> host_inputs = inputs;  // kept alive for CPU engines
    int input_index = 0;
    for (int i = 0; i < engine_.num_io_tensors(); ++i) {
      const std::string& name = engine_.io_tensor_name(i);
      if (engine_.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
      Tensor& t = host_inputs.at(size_t(input_index++));
      context_->set_input_shape(name, t.shape());
      context_->set_tensor_address(name, buffer_with(t));
    }
    std::vector<std::string> outputs;
    std::vector<Tensor> known;    // outputs of known extents (their buffers)
    std::vector<void*> known_at;  // where the engine writes them
    for (int i = 0; i < engine_.num_io_tensors(); ++i) {
      const std::string& name = engine_.io_tensor_name(i);
      if (engine_.tensor_io_mode(name) != TensorIOMode::kOUTPUT) continue;
      outputs.push_back(name);
      if (context_->has_data_dependent_shape(name)) {
        auto& allocator = allocators_[name];
        if (!allocator) allocator = std::make_unique<GrowingAllocator>(gpu_);
        context_->set_output_allocator(name, allocator.get());
        known.emplace_back();
        known_at.push_back(nullptr);
      } else {
        known.push_back(Tensor::zeros(engine_.tensor_dtype(name), context_->tensor_shape(name)));
        known_at.push_back(buffer_with(known.back()));
        context_->set_tensor_address(name, known_at.back());
      }
    }
    if (gpu_) {
      context_->enqueue(stream_);
      check(cudaStreamSynchronize(stream_), "running the engine");
    } else {
      context_->execute();
    }
    std::vector<Tensor> got;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const std::string& name = outputs[o];
      if (auto it = allocators_.find(name); it != allocators_.end() && !known[o].defined()) {
        EXPECT_EQ(context_->tensor_shape(name), it->second->shape) << name;
        got.push_back(it->second->read(engine_.tensor_dtype(name)));
        continue;
      }
      if (gpu_ && known[o].nbytes()) {
        check(cudaMemcpy(known[o].raw(), known_at[o], known[o].nbytes(), cudaMemcpyDeviceToHost),
              "download");
      }
      got.push_back(known[o]);
    }
    return got;
  }

  ExecutionContext& context() { return *context_; }
  cudaStream_t stream() const { return stream_; }
  GrowingAllocator* allocator(const std::string& name) { return allocators_.at(name).get(); }

 private:
  // Device memory holding `t` (GPU engines), or `t`'s own memory (CPU engines).
  void* buffer_with(Tensor& t) {
    if (!gpu_) return t.raw();
    void* p = nullptr;
    check(cudaMalloc(&p, std::max<size_t>(t.nbytes(), 1)), "cudaMalloc");
    device_buffers_.push_back(p);
    if (t.nbytes()) check(cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice), "upload");
    return p;
  }
  void free_buffers() {
    for (void* p : device_buffers_) cudaFree(p);
    device_buffers_.clear();
  }

  const Engine& engine_;
  bool gpu_;
  std::unique_ptr<ExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> device_buffers_;
  std::map<std::string, std::unique_ptr<GrowingAllocator>> allocators_;
};

// A network built for the CPU (the reference) and for the GPU (TF32 off).
struct Engines {
  std::unique_ptr<Engine> cpu;
  std::unique_ptr<Engine> gpu;
  std::string gpu_description;
};

// Per dynamic input: its min, opt and max shapes.
using Profile = std::map<std::string, std::array<Dims, 3>>;

inline Engines build_both(const std::function<void(NetworkDefinition&)>& define,
                          const Profile& profile = {}) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  define(*network);
  OptimizationProfile p;
  for (const auto& [name, shapes] : profile) {
    p.set_dimensions(name, OptProfileSelector::kMIN, shapes[0]);
    p.set_dimensions(name, OptProfileSelector::kOPT, shapes[1]);
    p.set_dimensions(name, OptProfileSelector::kMAX, shapes[2]);
  }
  Engines e;
  BuilderConfig cpu_config;
  if (!profile.empty()) cpu_config.add_optimization_profile(p);
  e.cpu = builder.build_engine(*network, cpu_config);
  BuilderConfig gpu_config;
  if (!profile.empty()) gpu_config.add_optimization_profile(p);
  gpu_config.set_device(DeviceType::kGPU);
  gpu_config.clear_flag(BuilderFlag::kTF32);
  e.gpu = builder.build_engine(*network, gpu_config);
  e.gpu_description = e.gpu->describe();
  return e;
}

// Builds `define` for both backends (the GPU plan must resolve some nodes as it runs), then,
// where a GPU exists, runs one context of each over every input set and compares (relative
// L2 within `tolerance`).
inline void expect_runs_match(const std::function<void(NetworkDefinition&)>& define,
                              const std::vector<std::vector<Tensor>>& runs,
                              const Profile& profile = {}, double tolerance = 1e-6) {
  Engines e = build_both(define, profile);
  EXPECT_TRUE(has(e.gpu_description, "runtime_select")) << e.gpu_description;
  // The reference runs everywhere, so that a bad test case shows without a GPU too.
  Runner cpu(*e.cpu);
  std::vector<std::vector<Tensor>> wants;
  for (const auto& inputs : runs) wants.push_back(cpu.run(inputs));
  KILN_SKIP_WITHOUT_GPU();
  Runner gpu(*e.gpu);
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE(cat("run ", r));
    const std::vector<Tensor>& want = wants[r];
    std::vector<Tensor> got;
    try {
      got = gpu.run(runs[r]);
    } catch (const Error& err) {
      ADD_FAILURE() << "running on the GPU failed: " << err.what() << "\n" << e.gpu_description;
      return;
    }
    expect_outputs_match(got, want, tolerance, "GPU vs CPU");
  }
}

}  // namespace kiln::gpu_test
#endif
