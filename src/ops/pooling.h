// The window geometry of MaxPool, AveragePool and LpPool (and kiln's NHWC layout of the first
// two), resolved once from the node's attributes and X's shape: the reference computes
// (pooling.cpp) and the CUDA pooling kernels take padding and extents from here.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"
#include "ops/op.h"

namespace kiln::ops {

struct PoolGeometry {
  bool channels_last = false;  // layout NHWC: X [N, spatial..., C]
  int64_t batch = 0;
  int64_t channels = 0;
  Dims in_spatial;
  Dims kernel;
  Dims out_spatial;
  Dims strides;
  Dims dilations;
  Dims pads_begin;
  Dims pads_end;
};

// The geometry for X of `ctx`'s input 0, with every check of the window attributes (kernel_shape,
// strides, dilations, pads, auto_pad, ceil_mode, layout) but not of X's dtype.
PoolGeometry window_pool_geometry(const InferContext& ctx);
// The same outside shape inference (backends): throws kiln::Error naming the node.
PoolGeometry resolve_pool(const ir::Node& node, DataType dtype, const Dims& x);

}  // namespace kiln::ops
