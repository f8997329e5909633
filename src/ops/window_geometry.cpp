#include "ops/window_geometry.h"

#include <algorithm>
#include <string>

#include "ops/common.h"

namespace kiln::ops {

AutoPad read_auto_pad(const InferContext& ctx) {
  const std::string auto_pad = ctx.node().attr_string("auto_pad", "NOTSET");
  if (auto_pad == "NOTSET" || auto_pad.empty()) return AutoPad::kNotSet;
  if (auto_pad == "SAME_UPPER") return AutoPad::kSameUpper;
  if (auto_pad == "SAME_LOWER") return AutoPad::kSameLower;
  if (auto_pad == "VALID") return AutoPad::kValid;
  ctx.check(false, "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '", auto_pad,
            "'");
  return AutoPad::kNotSet;
}

Dims read_window_steps(const InferContext& ctx, const char* key, size_t spatial_rank) {
  Dims values = ctx.node().attr_ints(key, Dims(spatial_rank, 1));
  ctx.check(values.size() == spatial_rank, key, " has ", values.size(), " values, expected ",
            spatial_rank, " (one per spatial axis)");
  const bool positive = std::all_of(values.begin(), values.end(), [](int64_t v) { return v >= 1; });
  ctx.check(positive, key, " must be >= 1, got ", to_string(values));
  check_window_values(ctx, key, values);
  return values;
}

Pads read_explicit_pads(const InferContext& ctx, size_t spatial_rank, bool allow_negative) {
  const Dims pads = ctx.node().attr_ints("pads", Dims(2 * spatial_rank, 0));
  ctx.check(pads.size() == 2 * spatial_rank, "pads has ", pads.size(), " values, expected ",
            2 * spatial_rank, " (begin and end per spatial axis)");
  const bool signs_ok =
      allow_negative || std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p >= 0; });
  ctx.check(signs_ok, "pads must be >= 0, got ", to_string(pads));
  check_window_values(ctx, "pads", pads);
  return Pads{Dims(pads.begin(), pads.begin() + int64_t(spatial_rank)),
              Dims(pads.begin() + int64_t(spatial_rank), pads.end())};
}

ForwardWindow resolve_forward_window(const InferContext& ctx, AutoPad auto_pad,
                                     const Dims& in_spatial, const Dims& kernel,
                                     const Dims& strides, const Dims& dilations, bool ceil_mode) {
  const size_t rank = in_spatial.size();
  ForwardWindow w;
  if (auto_pad == AutoPad::kNotSet) {
    w.pads = read_explicit_pads(ctx, rank, /*allow_negative=*/false);
  } else {
    w.pads = Pads{Dims(rank, 0), Dims(rank, 0)};
  }
  w.out_spatial.resize(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t in = in_spatial[d];
    const int64_t stride = strides[d];
    const int64_t window = dilated_extent(kernel[d], dilations[d]);
    if (is_same_padding(auto_pad)) {
      // The spec's formulas give ceil(in / stride) with or without ceil_mode.
      const int64_t out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (out - 1) * stride + window - in);
      w.pads.begin[d] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      w.pads.end[d] = total - w.pads.begin[d];
      w.out_spatial[d] = out;
      continue;
    }
    const int64_t span = in + w.pads.begin[d] + w.pads.end[d] - window;
    ctx.check(span >= 0, "spatial axis ", d, ": the input (", in, " plus padding ",
              w.pads.begin[d] + w.pads.end[d], ") is smaller than the dilated kernel (", window,
              ")");
    // VALID's spec formulas also agree for both modes (ceil((in - window + 1) / stride)).
    int64_t out = span / stride + 1;
    if (ceil_mode && auto_pad == AutoPad::kNotSet) {
      out = (span + stride - 1) / stride + 1;
      // A window that would start in the end padding is dropped.
      if ((out - 1) * stride >= in + w.pads.begin[d]) --out;
    }
    w.out_spatial[d] = out;
  }
  return w;
}

}  // namespace kiln::ops
