// Convolutions of GPU engines, in two steps run after mixed precision:
// 1. fuse_conv_epilogues: Conv(X, W, B) [+ Z] [-> Relu] => FusedConv(X, W, B, Z) (NCHW), where
//    Z is a tensor of the convolution's shape (a residual connection) and each folded node is
//    the only reader of the value before it. cuDNN adds Z and applies ReLU as it writes.
// 2. convert_convs_to_channels_last: FP16/BF16 (and, with TF32, float32) 2-D convolutions
//    (group 1, constant weights) become channels-last FusedConv nodes (tensor-core
//    convolutions are native in NHWC), with Transposes into and out of NHWC around each; the
//    weights are permuted at build time. Channel counts must be multiples of 8; fewer input
//    channels (an RGB image) are padded with zeros up to 4 or 8 (a Pad of X, zero weights).
//    transpose_cancellation then removes the Transposes between consecutive convolutions.
// Both return how many nodes they rewrote; the caller resolves shapes again afterwards.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"
#include "passes/pass.h"

namespace kiln::passes {

size_t fuse_conv_epilogues(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points);
// With `float32_too` (TF32 allowed: cuDNN's channels-last TF32 kernels are faster than its NCHW
// ones, as for FP16), float32 convolutions convert as well.
size_t convert_convs_to_channels_last(ir::Graph& graph,
                                      const std::vector<ops::ResolvedShapes>& points,
                                      bool float32_too = false);

// The two as Passes, at the points in `context`; channels_last cancels the Transposes
// (transpose_cancellation.h) after converting any convolution.
std::unique_ptr<Pass> make_conv_epilogue_fusion(const PassContext& context);
std::unique_ptr<Pass> make_channels_last(const PassContext& context, bool float32_too);

}  // namespace kiln::passes
