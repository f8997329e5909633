// Softmax and LogSoftmax along one axis (the tensor seen as [outer, n, inner]): the
// maximum of each line is subtracted before exponentiating; statistics are float32. The last
// axis runs as row kernels (row_kernels.cuh: one read and one write of each element).
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

void launch_softmax(const ir::Node& node, bool log, DataType dtype, const void* x, void* y,
                    int64_t outer, int64_t n, int64_t inner, cudaStream_t stream);

}  // namespace kiln::cuda
