// Convolution (1-D and 2-D, NCHW, groups, strides, dilations, padding, bias); the pooling
// kernels are in pooling.cu. Conv runs as an implicit GEMM (im2col done on the fly
// into shared-memory tiles, float32 accumulation) when each group has enough output channels
// to fill a tile, and as a direct loop per output element otherwise (depthwise convs).
// cuDNN tactics come in a later increment.
#pragma once

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// A 1-D or 2-D convolution or pooling window, 1-D seen as 2-D with H = 1.
struct WindowGeometry {
  int64_t batch = 0, channels = 0, height = 1, width = 1;
  int64_t out_channels = 0, out_height = 1, out_width = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t groups = 1;
};

// A Conv's geometry as shape inference resolves it (ops/convolution.h) for X and W of these
// shapes, in the kernels' 2-D terms.
WindowGeometry window_geometry(const ir::Node& node, DataType dtype, const Dims& x, const Dims& w);

}  // namespace kiln::cuda
