// The window attributes that Conv, ConvTranspose, ConvInteger, QLinearConv, FusedConv and the
// pools share (auto_pad, strides, dilations, pads), read and checked in one place, and ONNX's
// padding arithmetic for a forward window (a convolution or a pool) written once. Each op's
// geometry (ops/convolution.h, ops/pooling.h) is built from these, and the backends take the
// resolved geometry from there instead of reading the attributes again.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/op.h"

namespace kiln::ops {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

// auto_pad (default NOTSET; an empty string, which some exporters write, is NOTSET); throws
// naming the node for any other value.
AutoPad read_auto_pad(const InferContext& ctx);
inline bool is_same_padding(AutoPad p) {
  return p == AutoPad::kSameUpper || p == AutoPad::kSameLower;
}

// A per-spatial-axis attribute that defaults to 1 and must be >= 1 (strides, dilations).
Dims read_window_steps(const InferContext& ctx, const char* key, size_t spatial_rank);

// The explicit pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] (default 0), checked for
// length and (unless `allow_negative`) sign.
struct Pads {
  Dims begin;
  Dims end;
};
Pads read_explicit_pads(const InferContext& ctx, size_t spatial_rank, bool allow_negative);

inline int64_t dilated_extent(int64_t kernel, int64_t dilation) {
  return (kernel - 1) * dilation + 1;
}

// Padding and output extents of a forward window over `in_spatial`: SAME_UPPER/SAME_LOWER give
// ceil(in / stride) outputs with the padding that achieves them (the odd element at the end for
// SAME_UPPER); NOTSET uses the explicit pads and VALID none. With `ceil_mode` (pools, NOTSET
// only) the last partial window counts unless it would start in the end padding. Throws naming
// the node when the padded input is smaller than the dilated kernel.
struct ForwardWindow {
  Pads pads;
  Dims out_spatial;
};
ForwardWindow resolve_forward_window(const InferContext& ctx, AutoPad auto_pad,
                                     const Dims& in_spatial, const Dims& kernel,
                                     const Dims& strides, const Dims& dilations,
                                     bool ceil_mode = false);

}  // namespace kiln::ops
