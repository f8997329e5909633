// Conv and ConvTranspose geometry, resolved from a node's attributes and its input shapes as
// shape inference resolves it, once: the reference computes (convolution.cpp, quantized_conv.cpp,
// fused_conv.cpp), the CPU backend's fast kernels and the CUDA backend's convolutions all take
// their padding and extents from here (window_geometry.h has the shared window arithmetic).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"
#include "ops/op.h"

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

// A forward convolution's geometry (Conv, FusedConv in NCHW, ConvInteger, QLinearConv) for X and
// W of these shapes, with every check of ranks, channels, group and window attributes (not of
// dtypes: each op checks its own); throws naming the node through `ctx`.
ConvGeometry conv_geometry(const InferContext& ctx, const Dims& x, const Dims& w);
// [N, M, spatial out...]
Dims conv_output_shape(const ConvGeometry& geo);
// The same outside shape inference (backends): throws kiln::Error naming the node.
ConvGeometry resolve_conv(const ir::Node& node, DataType dtype, const Dims& x, const Dims& w);

// ConvTranspose's geometry for X and W of these shapes and type; throws kiln::Error naming the
// node when they do not make a valid ConvTranspose.
ConvGeometry resolve_conv_transpose(const ir::Node& node, DataType dtype, const Dims& x,
                                    const Dims& w);

}  // namespace kiln::ops
