// Conv and ConvTranspose geometry, resolved from a node's attributes and its input shapes as
// shape inference resolves it: shared by the reference computes (convolution.cpp) and the CUDA
// backend's direct ConvTranspose kernel (backends/cuda/conv_transpose.cu).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  Dims in_spatial;
  Dims kernel;
  Dims out_spatial;
  Dims strides;
  Dims dilations;
  Dims pads_begin;  // with output_shape a ConvTranspose's may be negative
  Dims pads_end;
};

// ConvTranspose's geometry for X and W of these shapes and type; throws kiln::Error naming the
// node when they do not make a valid ConvTranspose.
ConvGeometry resolve_conv_transpose(const ir::Node& node, DataType dtype, const Dims& x,
                                    const Dims& w);

}  // namespace kiln::ops
