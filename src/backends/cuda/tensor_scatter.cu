// TensorScatter (ONNX opset 24, a KV-cache update) on the GPU, as src/ops/tensor_scatter.cpp
// defines it: the output is past_cache (copied unless the executor made them one buffer) with
// the update's rows written from write_indices[batch] on along the axis (mod the cache's extent
// when mode is "circular"). write_indices stays on the device, so a decode step needs no host
// synchronization and can be captured in a CUDA graph. Rows move in the widest words that
// their size and the buffers' alignment allow. A linear-mode write that would fall outside the
// cache is dropped here (the CPU backend reports it as an error; ONNX leaves it undefined).
#include <cstdint>

#include "backends/cuda/cuda_common.cuh"
#include "ops/tensor_scatter.h"

namespace kiln::cuda {
namespace {

template <typename W>
__global__ void tensor_scatter_kernel(const W* __restrict__ update, W* __restrict__ out,
                                      const int64_t* __restrict__ write_indices, int64_t total,
                                      int64_t row_words, int64_t update_len, int64_t cache_len,
                                      int64_t per_batch, bool circular) {
  KILN_GRID_STRIDE_LOOP(i, total) {  // i indexes the update: [prefix, step, word]
    const int64_t word = i % row_words;
    const int64_t rest = i / row_words;
    const int64_t step = rest % update_len;
    const int64_t prefix = rest / update_len;
    int64_t at = (write_indices ? write_indices[prefix / per_batch] : 0) + step;
    if (circular) {
      at %= cache_len;
      if (at < 0) at += cache_len;
    }
    if (at < 0 || at >= cache_len) continue;
    out[(prefix * cache_len + at) * row_words + word] = update[i];
  }
}

void run_tensor_scatter(RunContext& rc) {
  const DeviceTensor& cache = rc.input(0);
  const DeviceTensor& update = rc.input(1);
  const DeviceTensor& out = rc.output(0);
  const ops::TensorScatterLayout l =
      ops::tensor_scatter_layout(rc.node, cache.shape, update.shape, cache.dtype);
  const bool circular = ops::tensor_scatter_is_circular(rc.node);
  if (out.data != cache.data && cache.nbytes()) {
    check_cuda(
        cudaMemcpyAsync(out.data, cache.data, cache.nbytes(), cudaMemcpyDeviceToDevice, rc.stream),
        rc.node, "copying past_cache");
  }
  if (l.outer == 0 || l.update_len == 0 || l.row_bytes == 0) return;
  const int64_t* indices = rc.has_input(2) ? rc.input(2).as<int64_t>() : nullptr;
  const int64_t per_batch = l.outer / cache.shape[0];  // prefixes that share one batch entry
  size_t word = 8;
  const auto aligned = [&](size_t bytes) {
    return l.row_bytes % bytes == 0 && reinterpret_cast<uintptr_t>(update.data) % bytes == 0 &&
           reinterpret_cast<uintptr_t>(out.data) % bytes == 0;
  };
  while (word > 1 && !aligned(word)) word /= 2;
  const int64_t row_words = int64_t(l.row_bytes / word);
  const int64_t total = l.outer * l.update_len * row_words;
  dispatch_bits(rc.node, word, [&](auto tag) {
    using W = typename decltype(tag)::type;
    tensor_scatter_kernel<W><<<grid_for(total), kBlock, 0, rc.stream>>>(
        update.as<W>(), out.as<W>(), indices, total, row_words, l.update_len, l.cache_len,
        per_batch, circular);
  });
}

bool supports_tensor_scatter(const NodeQuery& q) {
  return q.input(0).shape.size() >= 2 && q.input(0).dtype == q.input(1).dtype;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "TensorScatter", "cuda_tensor_scatter", {}, supports_tensor_scatter, run_tensor_scatter});

}  // namespace
}  // namespace kiln::cuda
