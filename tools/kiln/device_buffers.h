// Memory and CUDA objects for the CLI's runs: aligned host buffers for CPU engines, and (in
// CUDA builds) device buffers, pinned host buffers, streams, events and captured CUDA graphs
// as RAII objects whose failures become kiln::Error naming what was being done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "kiln/kiln.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::cli {

// Host memory for one tensor, zeroed, aligned for any kernel's vector loads.
class HostBuffer {
 public:
  explicit HostBuffer(size_t bytes);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static constexpr std::align_val_t kAlignment{64};

  size_t size_;
  uint8_t* data_;
};

// Memory for CPU outputs whose shape is known only after the run (NonZero and what follows
// it): the context asks for it once the size is known; `slot` keeps it.
class HostOutputAllocator : public OutputAllocator {
 public:
  explicit HostOutputAllocator(std::unique_ptr<HostBuffer>& slot) : slot_(slot) {}
  void* reallocate_output(const std::string& name, void* current, uint64_t size,
                          uint64_t alignment) override;
  void notify_shape(const std::string&, const Dims&) override {}

 private:
  std::unique_ptr<HostBuffer>& slot_;
};

// Throws kiln::Error (kRuntime) unless a GPU is usable, saying why not and what needed one
// (`purpose`, e.g. "'m.plan' is a GPU engine").
void require_gpu(const std::string& purpose);

#ifdef KILN_HAVE_CUDA

// Throws kiln::Error (kRuntime) "CUDA error while <what>: <CUDA's message>" on failure.
void check_cuda(cudaError_t status, const std::string& what);

// Device memory (cudaMalloc); zero bytes hold no memory and have a null address.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  // Synchronous copies of the whole buffer.
  void copy_from_host(const void* source);
  void copy_to_host(void* destination) const;

 private:
  size_t size_;
  void* data_ = nullptr;
};

// Page-locked host memory (cudaMallocHost), which asynchronous copies need to overlap.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  size_t size_;
  uint8_t* data_ = nullptr;
};

// A non-blocking stream: it never waits for the legacy default stream.
class CudaStream {
 public:
  CudaStream();
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

// An event with timing (for cudaEventElapsedTime).
class CudaEvent {
 public:
  CudaEvent();
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  void synchronize() const;
  // Milliseconds from `start` to this event; both must have completed.
  float milliseconds_since(const CudaEvent& start) const;

 private:
  cudaEvent_t event_ = nullptr;
};

// The work `enqueue` puts on a stream, captured once into a CUDA graph and launched as one
// unit afterwards (cudaStreamBeginCapture / EndCapture / GraphInstantiate / GraphLaunch).
class CudaGraph {
 public:
  // Captures what `enqueue` puts on `stream`. Returns nullptr, with the reason in `why_not`,
  // when the work cannot be captured (the stream is left out of capture mode then).
  static std::unique_ptr<CudaGraph> capture(cudaStream_t stream,
                                            const std::function<void()>& enqueue,
                                            std::string& why_not);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  void launch(cudaStream_t stream) const;

 private:
  CudaGraph(cudaGraph_t graph, cudaGraphExec_t exec) : graph_(graph), exec_(exec) {}
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

#endif  // KILN_HAVE_CUDA

}  // namespace kiln::cli
