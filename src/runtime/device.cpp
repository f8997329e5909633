#include "kiln/device.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln {

bool built_with_cuda() {
#ifdef KILN_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

GpuInfo query_gpu() {
  GpuInfo info;
#ifdef KILN_HAVE_CUDA
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    info.why_not = status == cudaSuccess
                       ? std::string("no CUDA GPU is present")
                       : std::string("no usable CUDA GPU: ") + cudaGetErrorString(status);
    cudaGetLastError();  // a failed query must not poison later CUDA calls
    return info;
  }
  int device = 0;
  cudaDeviceProp props{};
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaGetDeviceProperties(&props, device) != cudaSuccess) {
    info.why_not = "cannot query the CUDA device's properties";
    cudaGetLastError();
    return info;
  }
  info.available = true;
  info.name = props.name;
  info.compute_major = props.major;
  info.compute_minor = props.minor;
  info.multiprocessors = props.multiProcessorCount;
  info.memory_bytes = props.totalGlobalMem;
#else
  info.why_not = "this kiln was built without CUDA";
#endif
  return info;
}

}  // namespace kiln
