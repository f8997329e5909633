// Col2Im's geometry, shared by the reference (col2im.cpp) and the CUDA kernel
// (backends/cuda/col2im.cu).
#pragma once

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

// Everything the shape inputs and attributes say about the image and its blocks.
struct Col2ImGeometry {
  Dims image;   // spatial extents of the output
  Dims block;   // spatial extents of one block
  Dims blocks;  // number of block positions along each spatial axis
  Dims strides, dilations, pads_begin;
};

// From the image_shape and block_shape inputs (1-D integer tensors of one length) and the
// strides, dilations and pads attributes; throws kiln::Error naming the node when they do not
// make a valid Col2Im.
Col2ImGeometry col2im_geometry(const ir::Node& node, const Tensor& image_shape,
                               const Tensor& block_shape);

}  // namespace kiln::ops
