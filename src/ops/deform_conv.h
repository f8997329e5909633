// DeformConv's geometry, resolved once from the node and its input shapes: shared by the
// reference compute (deform_conv.cpp) and the CUDA kernel (backends/cuda/deform_conv.cu).
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

struct DeformConvParams {
  int64_t group = 1, offset_group = 1;
  int64_t kh = 0, kw = 0;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t out_h = 0, out_w = 0;
};

// Checks the shapes against the attributes (a clear kInvalidModel error naming the node
// otherwise); `bias` and `mask` are null when omitted.
DeformConvParams resolve_deform_conv(const ir::Node& node, const Dims& x, const Dims& w,
                                     const Dims& offset, const Dims* bias, const Dims* mask);

}  // namespace kiln::ops
