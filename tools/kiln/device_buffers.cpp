#include "device_buffers.h"

#include <cstring>

namespace kiln::cli {

HostBuffer::HostBuffer(size_t bytes)
    : size_(bytes), data_(static_cast<uint8_t*>(::operator new(bytes ? bytes : 1, kAlignment))) {
  std::memset(data_, 0, bytes);
}

HostBuffer::~HostBuffer() { ::operator delete(data_, kAlignment); }

void* HostOutputAllocator::reallocate_output(const std::string&, void*, uint64_t size, uint64_t) {
  if (!slot_ || slot_->size() < size) slot_ = std::make_unique<HostBuffer>(size_t(size));
  return slot_->data();
}

void require_gpu(const std::string& purpose) {
  const GpuInfo gpu = query_gpu();
  if (!gpu.available) {
    throw Error(ErrorCode::kRuntime, purpose + ", but no GPU can be used: " + gpu.why_not);
  }
}

#ifdef KILN_HAVE_CUDA

void check_cuda(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // reset the (non-sticky) error so that later calls report their own
  throw Error(ErrorCode::kRuntime, "CUDA error while " + what + ": " + cudaGetErrorString(status));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : size_(bytes) {
  if (bytes)
    check_cuda(cudaMalloc(&data_, bytes),
               "allocating " + std::to_string(bytes) + " bytes of device memory");
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

void DeviceBuffer::copy_from_host(const void* source) {
  if (size_)
    check_cuda(cudaMemcpy(data_, source, size_, cudaMemcpyHostToDevice), "copying to the device");
}

void DeviceBuffer::copy_to_host(void* destination) const {
  if (size_)
    check_cuda(cudaMemcpy(destination, data_, size_, cudaMemcpyDeviceToHost),
               "copying from the device");
}

PinnedBuffer::PinnedBuffer(size_t bytes) : size_(bytes) {
  void* data = nullptr;
  check_cuda(cudaMallocHost(&data, bytes ? bytes : 1),
             "allocating " + std::to_string(bytes) + " bytes of pinned host memory");
  data_ = static_cast<uint8_t*>(data);
  std::memset(data_, 0, bytes);
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}

CudaStream::CudaStream() {
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
}

CudaStream::~CudaStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaStream::synchronize() const {
  check_cuda(cudaStreamSynchronize(stream_), "waiting for a stream");
}

CudaEvent::CudaEvent() { check_cuda(cudaEventCreate(&event_), "creating an event"); }

CudaEvent::~CudaEvent() {
  if (event_) cudaEventDestroy(event_);
}

void CudaEvent::record(cudaStream_t stream) {
  check_cuda(cudaEventRecord(event_, stream), "recording an event");
}

void CudaEvent::synchronize() const {
  check_cuda(cudaEventSynchronize(event_), "waiting for an event");
}

float CudaEvent::milliseconds_since(const CudaEvent& start) const {
  float ms = 0;
  check_cuda(cudaEventElapsedTime(&ms, start.event_, event_), "reading an event's time");
  return ms;
}

std::unique_ptr<CudaGraph> CudaGraph::capture(cudaStream_t stream,
                                              const std::function<void()>& enqueue,
                                              std::string& why_not) {
  cudaError_t status = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (status != cudaSuccess) {
    cudaGetLastError();
    why_not = std::string("cudaStreamBeginCapture failed: ") + cudaGetErrorString(status);
    return nullptr;
  }
  // The capture must be ended whatever happens in between, or the stream stays unusable.
  std::string enqueue_error;
  try {
    enqueue();
  } catch (const std::exception& error) {
    enqueue_error = error.what();
  }
  cudaGraph_t graph = nullptr;
  status = cudaStreamEndCapture(stream, &graph);
  cudaGetLastError();
  if (!enqueue_error.empty() || status != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    why_not = !enqueue_error.empty()
                  ? "the enqueue failed while capturing: " + enqueue_error
                  : std::string("cudaStreamEndCapture failed: ") + cudaGetErrorString(status);
    return nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  status = cudaGraphInstantiate(&exec, graph, 0);
  if (status != cudaSuccess) {
    cudaGetLastError();
    cudaGraphDestroy(graph);
    why_not = std::string("cudaGraphInstantiate failed: ") + cudaGetErrorString(status);
    return nullptr;
  }
  return std::unique_ptr<CudaGraph>(new CudaGraph(graph, exec));
}

CudaGraph::~CudaGraph() {
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

void CudaGraph::launch(cudaStream_t stream) const {
  check_cuda(cudaGraphLaunch(exec_, stream), "launching the CUDA graph");
}

#endif  // KILN_HAVE_CUDA

}  // namespace kiln::cli
