// RoiAlign (ONNX opset 16 semantics): pools each region of interest of X [N, C, H, W] into an
// [output_height, output_width] grid. Each output bin averages (mode "avg") or takes the maximum
// of (mode "max") sampling_ratio x sampling_ratio bilinearly interpolated samples (when
// sampling_ratio is 0, ceil(roi extent / output extent) samples per axis).
//
// rois are [x1, y1, x2, y2] in input coordinates, scaled by spatial_scale; with
// coordinate_transformation_mode "half_pixel" they are shifted by -0.5 pixel, with
// "output_half_pixel" (opset 10's only behavior) they are not and degenerate regions are
// widened to 1 pixel.
//
// Sampling follows the ONNX reference and onnxruntime: a sample more than one pixel outside the
// map is 0; one within a pixel of the border is clamped to the border. In "max" mode the value
// of a sample is the largest of its four weighted corner terms (not the interpolated value):
// onnxruntime defines it so and the ONNX test data follows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/checked_size.h"
#include "ops/common.h"

namespace kiln::ops {
namespace {

constexpr size_t kX = 0, kRois = 1, kBatchIndices = 2;

struct RoiAlignParams {
  bool half_pixel = true;
  bool max_mode = false;
  int64_t output_height = 1;
  int64_t output_width = 1;
  int64_t sampling_ratio = 0;
  double spatial_scale = 1.0;
};

RoiAlignParams read_params(const ir::Node& node) {
  auto check = [&](bool cond, auto&&... args) {
    if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  RoiAlignParams p;
  const std::string transform = node.attr_string("coordinate_transformation_mode", "half_pixel");
  check(transform == "half_pixel" || transform == "output_half_pixel",
        "coordinate_transformation_mode '", transform, "' is not half_pixel or output_half_pixel");
  p.half_pixel = transform == "half_pixel";
  const std::string mode = node.attr_string("mode", "avg");
  check(mode == "avg" || mode == "max", "mode '", mode, "' is not avg or max");
  p.max_mode = mode == "max";
  p.output_height = node.attr_int("output_height", 1);
  p.output_width = node.attr_int("output_width", 1);
  check(p.output_height > 0 && p.output_width > 0,
        "output_height and output_width must be "
        "positive, not ",
        p.output_height, " and ", p.output_width);
  p.sampling_ratio = node.attr_int("sampling_ratio", 0);
  check(p.sampling_ratio >= 0, "sampling_ratio ", p.sampling_ratio, " is negative");
  p.spatial_scale = node.attr_float("spatial_scale", 1.0);
  return p;
}

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void infer_roi_align(InferContext& ctx) {
  const RoiAlignParams p = read_params(ctx.node());
  const DataType dtype = ctx.input_dtype(kX);
  ctx.check(is_float_type(dtype), "X has type ", to_string(dtype), "; a float type expected");
  ctx.check(ctx.input_dtype(kRois) == dtype, "rois has type ", to_string(ctx.input_dtype(kRois)),
            ", X has ", to_string(dtype));
  const DataType index_type = ctx.input_dtype(kBatchIndices);
  ctx.check(index_type == DataType::kInt64 || index_type == DataType::kInt32,
            "batch_indices has type ", to_string(index_type), "; int64 expected");
  const Dims& x = ctx.input_shape(kX);
  const Dims& rois = ctx.input_shape(kRois);
  const Dims& batch_indices = ctx.input_shape(kBatchIndices);
  ctx.check(x.size() == 4 && x[2] > 0 && x[3] > 0,
            "X must be [N, C, H, W] with H and W positive, not ", to_string(x));
  ctx.check(rois.size() == 2 && rois[1] == 4, "rois must be [num_rois, 4], not ", to_string(rois));
  ctx.check(batch_indices == Dims{rois[0]}, "batch_indices has shape ", to_string(batch_indices),
            "; ", to_string(Dims{rois[0]}), " expected");
  ctx.set_output(0, dtype, {rois[0], x[1], p.output_height, p.output_width});
}

// The four pixels and weights of one bilinear sample; all weights 0 for a sample off the map.
struct Sample {
  int64_t offsets[4] = {0, 0, 0, 0};
  double weights[4] = {0, 0, 0, 0};
};

Sample bilinear_sample(double y, double x, int64_t height, int64_t width) {
  Sample s;
  if (y < -1.0 || y > double(height) || x < -1.0 || x > double(width)) return s;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y_low = int64_t(y), x_low = int64_t(x), y_high, x_high;
  if (y_low >= height - 1) {
    y_high = y_low = height - 1;
    y = double(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= width - 1) {
    x_high = x_low = width - 1;
    x = double(x_low);
  } else {
    x_high = x_low + 1;
  }
  const double ly = y - double(y_low), lx = x - double(x_low);
  const double hy = 1.0 - ly, hx = 1.0 - lx;
  s.offsets[0] = y_low * width + x_low;
  s.offsets[1] = y_low * width + x_high;
  s.offsets[2] = y_high * width + x_low;
  s.offsets[3] = y_high * width + x_high;
  s.weights[0] = hy * hx;
  s.weights[1] = hy * lx;
  s.weights[2] = ly * hx;
  s.weights[3] = ly * lx;
  return s;
}

void compute_roi_align(ComputeContext& ctx) {
  const RoiAlignParams p = read_params(ctx.node());
  const Tensor& x = ctx.input(kX);
  const Tensor& rois = ctx.input(kRois);
  const std::vector<int64_t> batch_indices = ctx.input(kBatchIndices).to_int64_vector();
  Tensor& y = ctx.output(0);
  const int64_t batches = x.dim(0), channels = x.dim(1), height = x.dim(2), width = x.dim(3);
  const int64_t pooled_h = p.output_height, pooled_w = p.output_width;
  const double offset = p.half_pixel ? 0.5 : 0.0;

  for (int64_t n = 0; n < rois.dim(0); ++n) {
    const int64_t batch = batch_indices[size_t(n)];
    KILN_CHECK(batch >= 0 && batch < batches, ErrorCode::kInvalidArgument, ctx.node().describe(),
               ": batch_indices[", n, "] = ", batch, " is outside [0, ", batches, ")");
    const double start_w = rois.as_double(n * 4 + 0) * p.spatial_scale - offset;
    const double start_h = rois.as_double(n * 4 + 1) * p.spatial_scale - offset;
    const double end_w = rois.as_double(n * 4 + 2) * p.spatial_scale - offset;
    const double end_h = rois.as_double(n * 4 + 3) * p.spatial_scale - offset;
    KILN_CHECK(std::isfinite(start_w) && std::isfinite(start_h) && std::isfinite(end_w) &&
                   std::isfinite(end_h),
               ErrorCode::kInvalidArgument, ctx.node().describe(), ": region ", n,
               " has a coordinate that is not finite");
    double roi_w = end_w - start_w, roi_h = end_h - start_h;
    if (!p.half_pixel) {  // malformed regions become 1x1
      roi_w = std::max(roi_w, 1.0);
      roi_h = std::max(roi_h, 1.0);
    }
    const double bin_h = roi_h / double(pooled_h), bin_w = roi_w / double(pooled_w);
    const int64_t grid_h = p.sampling_ratio > 0
                               ? p.sampling_ratio
                               : checked_int64_from_double(std::ceil(roi_h / double(pooled_h)),
                                                           "RoiAlign's sampling grid");
    const int64_t grid_w = p.sampling_ratio > 0
                               ? p.sampling_ratio
                               : checked_int64_from_double(std::ceil(roi_w / double(pooled_w)),
                                                           "RoiAlign's sampling grid");
    const double count = double(std::max<int64_t>(grid_h * grid_w, 1));

    for (int64_t ph = 0; ph < pooled_h; ++ph) {
      for (int64_t pw = 0; pw < pooled_w; ++pw) {
        // The samples of this bin, shared by every channel.
        std::vector<Sample> samples;
        for (int64_t iy = 0; iy < grid_h; ++iy) {
          const double sy =
              start_h + double(ph) * bin_h + (double(iy) + 0.5) * bin_h / double(grid_h);
          for (int64_t ix = 0; ix < grid_w; ++ix) {
            const double sx =
                start_w + double(pw) * bin_w + (double(ix) + 0.5) * bin_w / double(grid_w);
            samples.push_back(bilinear_sample(sy, sx, height, width));
          }
        }
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t plane = (batch * channels + c) * height * width;
          double result = 0;
          bool first = true;
          for (const Sample& s : samples) {
            double terms[4];
            for (int k = 0; k < 4; ++k) {
              terms[k] = s.weights[k] * x.as_double(plane + s.offsets[k]);
            }
            if (p.max_mode) {
              const double v = std::max({terms[0], terms[1], terms[2], terms[3]});
              result = first ? v : std::max(result, v);
              first = false;
            } else {
              result += terms[0] + terms[1] + terms[2] + terms[3];
            }
          }
          if (!p.max_mode) result /= count;
          const int64_t out = ((n * channels + c) * pooled_h + ph) * pooled_w + pw;
          if (y.dtype() == DataType::kFloat64)
            y.data<double>()[out] = result;
          else
            store_float(y, out, float(result));
        }
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "RoiAlign",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer = infer_roi_align,
    .compute = compute_roi_align,
});

}  // namespace
}  // namespace kiln::ops
