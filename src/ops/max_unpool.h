// MaxUnpool's default output shape, shared by the reference (max_unpool.cpp) and the CUDA
// kernel (backends/cuda/indexing.cu).
#pragma once

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

// The output shape MaxUnpool's attributes (kernel_shape, strides, pads) imply for input shape
// `x`: (in - 1) * stride - (pad_begin + pad_end) + kernel per spatial axis. Throws kiln::Error
// naming the node when the attributes do not fit `x`.
Dims max_unpool_default_shape(const ir::Node& node, const Dims& x);

}  // namespace kiln::ops
