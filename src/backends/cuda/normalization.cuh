// Normalization kernels: LayerNormalization and RMSNormalization (row kernels: one warp or
// block per normalized row held in registers, float32 statistics), BatchNormalization in
// inference mode (per-channel scale and shift). The normalizations over channel groups,
// arbitrary axes and neighbouring channels are in normalization_axes.cu.
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// y = (x - mean) / sqrt(var + epsilon) * scale + bias over rows of n contiguous elements;
// scale and bias (bias may be null) hold n elements of x's dtype. mean_out / inv_std_out
// (float32, one per row) may be null.
void launch_layer_norm(const ir::Node& node, DataType dtype, const void* x, const void* scale,
                       const void* bias, void* y, float* mean_out, float* inv_std_out, int64_t rows,
                       int64_t n, double epsilon, cudaStream_t stream);

}  // namespace kiln::cuda
