// Kernels that move elements without computing on them: device copies (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout), strided copies (Transpose, Slice, Expand, Split),
// Concat and Gather. The strided copy is shared with other families (Gemm broadcasts C with it).
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// out[i] = in[in_offset + sum(index(i)[d] * in_strides[d])] for every element i of out_shape
// (row-major), elements of `element_bytes` bytes. Strides are in elements, 0 broadcasts.
void launch_strided_copy(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                         const Dims& out_shape, const Dims& in_strides, int64_t in_offset,
                         cudaStream_t stream);

// A stream-ordered device-to-device copy; nothing when the pointers are equal or bytes is 0.
void copy_device(const ir::Node& node, const void* in, void* out, size_t bytes, cudaStream_t stream);

}  // namespace kiln::cuda
