#include "gpu/gpu_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::gpu_test {

std::string no_gpu_reason() {
#ifdef KILN_HAVE_CUDA
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return cudaGetErrorString(status);
  if (count == 0) return "cudaGetDeviceCount found no devices";
  return "";
#else
  return "this kiln was built without CUDA";
#endif
}

Tensor random_tensor(DataType dtype, const Dims& shape, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  const int64_t n = volume(shape);
  if (dtype == DataType::kBool) {
    std::vector<uint8_t> v(static_cast<size_t>(n));
    for (auto& b : v) b = uint8_t(rng() & 1u);
    return Tensor::from_bytes(dtype, shape, v.data(), v.size());
  }
  if (is_integer(dtype)) {
    std::uniform_int_distribution<int64_t> dist{int64_t(lo), int64_t(hi)};
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = dist(rng);
    return Tensor::from_vector<int64_t>(DataType::kInt64, shape, v).cast(dtype);
  }
  std::uniform_real_distribution<float> dist{float(lo), float(hi)};
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v).cast(dtype);
}

std::vector<Tensor> run_on_cpu(const Engine& engine, const std::vector<Tensor>& inputs) {
  auto ctx = engine.create_execution_context();
  std::vector<Tensor> outputs;
  int input_index = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    const Tensor& t = inputs.at(size_t(input_index++));
    ctx->set_input_shape(name, t.shape());
    ctx->set_tensor_address(name, const_cast<void*>(t.raw()));
  }
  outputs.reserve(size_t(engine.num_io_tensors()));
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kOUTPUT) continue;
    outputs.push_back(Tensor::zeros(engine.tensor_dtype(name), ctx->tensor_shape(name)));
    ctx->set_tensor_address(name, outputs.back().raw());
  }
  ctx->execute();
  return outputs;
}

#ifdef KILN_HAVE_CUDA
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::kRuntime, cat("test harness: ", what, ": ", cudaGetErrorString(status)));
  }
}

// Device memory freed on scope exit.
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) { check(cudaMalloc(&ptr, bytes ? bytes : 1), "cudaMalloc"); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr) { o.ptr = nullptr; }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

}  // namespace
#endif

std::vector<Tensor> run_on_gpu(const Engine& engine, const std::vector<Tensor>& inputs) {
#ifdef KILN_HAVE_CUDA
  auto ctx = engine.create_execution_context();
  std::vector<DeviceBuffer> buffers;
  buffers.reserve(size_t(engine.num_io_tensors()));
  int input_index = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    const Tensor& t = inputs.at(size_t(input_index++));
    ctx->set_input_shape(name, t.shape());
    buffers.emplace_back(t.nbytes());
    check(cudaMemcpy(buffers.back().ptr, t.raw(), t.nbytes(), cudaMemcpyHostToDevice), "upload");
    ctx->set_tensor_address(name, buffers.back().ptr);
  }
  std::vector<Tensor> outputs;
  std::vector<void*> output_buffers;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kOUTPUT) continue;
    outputs.push_back(Tensor::zeros(engine.tensor_dtype(name), ctx->tensor_shape(name)));
    buffers.emplace_back(outputs.back().nbytes());
    // NaN-like garbage, so that an output the engine forgets to write is noticed.
    check(cudaMemset(buffers.back().ptr, 0x7f, outputs.back().nbytes()), "memset");
    output_buffers.push_back(buffers.back().ptr);
    ctx->set_tensor_address(name, buffers.back().ptr);
  }
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  try {
    ctx->enqueue(stream);
    check(cudaStreamSynchronize(stream), "running the engine");
  } catch (...) {
    cudaStreamDestroy(stream);
    throw;
  }
  cudaStreamDestroy(stream);
  for (size_t o = 0; o < outputs.size(); ++o) {
    check(cudaMemcpy(outputs[o].raw(), output_buffers[o], outputs[o].nbytes(),
                     cudaMemcpyDeviceToHost),
          "download");
  }
  return outputs;
#else
  (void)engine;
  (void)inputs;
  throw Error(ErrorCode::kUnsupported, "this kiln was built without CUDA");
#endif
}

double time_on_gpu(const Engine& engine, const std::vector<Tensor>& inputs, int runs) {
#ifdef KILN_HAVE_CUDA
  auto ctx = engine.create_execution_context();
  std::vector<DeviceBuffer> buffers;
  buffers.reserve(size_t(engine.num_io_tensors()));
  int input_index = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    const Tensor& t = inputs.at(size_t(input_index++));
    ctx->set_input_shape(name, t.shape());
    buffers.emplace_back(t.nbytes());
    check(cudaMemcpy(buffers.back().ptr, t.raw(), t.nbytes(), cudaMemcpyHostToDevice), "upload");
    ctx->set_tensor_address(name, buffers.back().ptr);
  }
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kOUTPUT) continue;
    const Dims shape = ctx->tensor_shape(name);
    buffers.emplace_back(size_t(volume(shape)) * element_size(engine.tensor_dtype(name)));
    ctx->set_tensor_address(name, buffers.back().ptr);
  }
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  ctx->enqueue(stream);
  check(cudaStreamSynchronize(stream), "warm-up run");
  check(cudaEventRecord(start, stream), "cudaEventRecord");
  for (int r = 0; r < runs; ++r) ctx->enqueue(stream);
  check(cudaEventRecord(stop, stream), "cudaEventRecord");
  check(cudaEventSynchronize(stop), "timed runs");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  return double(ms) / runs;
#else
  (void)engine;
  (void)inputs;
  (void)runs;
  throw Error(ErrorCode::kUnsupported, "this kiln was built without CUDA");
#endif
}

double relative_l2(const Tensor& got, const Tensor& want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got.as_double(i), w = want.as_double(i);
    if (std::isnan(g) && std::isnan(w)) continue;
    if (std::isinf(w) && g == w) continue;
    num += (g - w) * (g - w);
    den += w * w;
  }
  if (num == 0) return 0;
  return std::sqrt(num / std::max(den, 1e-30));
}

void expect_outputs_match(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                          double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].dtype(), want[o].dtype()) << what << " output " << o;
    ASSERT_EQ(got[o].shape(), want[o].shape()) << what << " output " << o;
    if (is_floating_point(want[o].dtype())) {
      // <=, so that a tolerance of 0 asks for exact results.
      EXPECT_LE(relative_l2(got[o], want[o]), tolerance) << what << " output " << o;
    } else {
      int64_t mismatches = 0, first = -1;
      for (int64_t i = 0; i < want[o].numel(); ++i) {
        if (got[o].as_int64(i) != want[o].as_int64(i)) {
          if (first < 0) first = i;
          ++mismatches;
        }
      }
      EXPECT_EQ(mismatches, 0) << what << " output " << o << ": first mismatch at " << first
                               << (first >= 0 ? cat(": got ", got[o].as_int64(first), ", want ",
                                                    want[o].as_int64(first))
                                              : std::string());
    }
  }
}

namespace {

// GTEST_SKIP returns from the function it is in, which must return void.
void skip_test(const std::string& why) { GTEST_SKIP() << why; }

}  // namespace

std::string expect_gpu_matches_cpu(const std::function<void(NetworkDefinition&)>& define,
                                   const std::vector<Tensor>& inputs, GpuOptions options) {
#ifndef KILN_HAVE_CUDA
  skip_test("no CUDA GPU: this kiln was built without CUDA");  // GPU builds fail by design
  return "";
#endif
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  define(*network);
  BuilderConfig cpu_config;
  auto cpu_engine = builder.build_engine(*network, cpu_config);
  BuilderConfig gpu_config;
  gpu_config.set_device(DeviceType::kGPU);
  gpu_config.set_tactic_sources(options.tactic_sources);
  if (!options.autotune) gpu_config.set_builder_optimization_level(0);
  if (options.fp16) gpu_config.set_flag(BuilderFlag::kFP16);
  if (options.tf32) {
    gpu_config.set_flag(BuilderFlag::kTF32);
  } else {
    gpu_config.clear_flag(BuilderFlag::kTF32);
  }
  std::unique_ptr<Engine> gpu_engine;
  try {
    gpu_engine = builder.build_engine(*network, gpu_config);
  } catch (const Error& e) {
    ADD_FAILURE() << "building for the GPU failed: " << e.what();
    return "";
  }
  const std::string description = gpu_engine->describe();
  // The reference runs everywhere, so that a bad test case shows without a GPU too.
  const std::vector<Tensor> want = run_on_cpu(*cpu_engine, inputs);
  if (std::string why = no_gpu_reason(); !why.empty()) {
    skip_test("no CUDA GPU: " + why + " (the GPU engine was built, the CPU reference ran)");
    return description;
  }
  std::vector<Tensor> got;
  try {
    got = run_on_gpu(*gpu_engine, inputs);
  } catch (const Error& e) {
    ADD_FAILURE() << "running on the GPU failed: " << e.what() << "\n" << description;
    return description;
  }
  expect_outputs_match(got, want, options.tolerance, "GPU vs CPU");
  return description;
}

ITensor& constant(NetworkDefinition& network, const Tensor& t) {
  ILayer* layer = network.add_constant(t.shape(), Weights{t.dtype(), t.raw(), t.numel()});
  return *layer->output(0);
}

Tensor ints(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(v.size())}, v);
}

Tensor scalar(float v) { return Tensor::from_vector<float>(DataType::kFloat32, {}, {v}); }

std::string check_op(const std::string& op, const std::vector<std::optional<Operand>>& operands,
                     const std::function<void(ILayer&)>& attrs, GpuOptions options,
                     int num_outputs) {
  std::vector<Tensor> inputs;
  for (const auto& o : operands) {
    if (o && !o->constant) inputs.push_back(o->value);
  }
  SCOPED_TRACE(op);
  return expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        std::vector<ITensor*> ins;
        int k = 0;
        for (const auto& o : operands) {
          if (!o) {
            ins.push_back(nullptr);
          } else if (o->constant) {
            ins.push_back(&constant(n, o->value));
          } else {
            ins.push_back(n.add_input(cat("in", k++), o->value.dtype(), o->value.shape()));
          }
        }
        ILayer* layer = n.add_layer(op, ins, num_outputs);
        if (attrs) attrs(*layer);
        for (int i = 0; i < num_outputs; ++i) n.mark_output(*layer->output(i));
      },
      inputs, options);
}

#ifdef KILN_HAVE_CUDA
void* GrowingAllocator::reallocate_output(const std::string&, void* current, uint64_t size,
                                          uint64_t) {
  ++reallocations;
  EXPECT_EQ(current, data_) << "the context should pass back what it was given last";
  requested_ = size;
  if (size > capacity_ || !data_) {
    release();
    capacity_ = std::max<uint64_t>(size, 1);
    if (device_) {
      EXPECT_EQ(cudaMalloc(&data_, capacity_), cudaSuccess);
    } else {
      data_ = std::malloc(capacity_);
    }
  }
  return data_;
}

Tensor GrowingAllocator::read(DataType dtype) const {
  Tensor t = Tensor::zeros(dtype, shape);
  if (t.nbytes() == 0) return t;
  if (t.nbytes() > requested_) {
    ADD_FAILURE() << "an output of type " << to_string(dtype) << " and shape " << to_string(shape)
                  << " takes " << t.nbytes() << " bytes, but the context asked for " << requested_;
    return t;
  }
  if (device_) {
    EXPECT_EQ(cudaMemcpy(t.raw(), data_, t.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  } else {
    std::memcpy(t.raw(), data_, t.nbytes());
  }
  return t;
}

void GrowingAllocator::release() {
  if (!data_) return;
  if (device_) {
    cudaFree(data_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
}
#endif

}  // namespace kiln::gpu_test
