// RoiAlign (ONNX opset 16), as the reference (src/ops/roi_align.cpp): each region of X
// [N, C, H, W] pools into [output_height, output_width] bins, each the average (mode "avg") or
// maximum (mode "max": of each sample's largest weighted corner term, as onnxruntime) of
// bilinearly interpolated samples; half_pixel shifts the region by -0.5, output_half_pixel
// widens degenerate regions to 1 pixel. One thread per output element, in double.
//
// A batch index outside [0, N) cannot be reported from the GPU (the CPU throws): that region's
// outputs are 0.
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

struct RoiArgs {
  int64_t batches, channels, height, width;
  int64_t rois, pooled_h, pooled_w, sampling_ratio;
  double spatial_scale;
  bool half_pixel, max_mode, indices64;
};

template <typename T>
__global__ void roi_align_kernel(const T* __restrict__ x, const T* __restrict__ rois,
                                 const void* __restrict__ batch_indices, T* __restrict__ y,
                                 int64_t total, RoiArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t pw = i % a.pooled_w;
    const int64_t ph = (i / a.pooled_w) % a.pooled_h;
    const int64_t c = (i / (a.pooled_w * a.pooled_h)) % a.channels;
    const int64_t r = i / (a.pooled_w * a.pooled_h * a.channels);
    const int64_t batch = a.indices64 ? static_cast<const int64_t*>(batch_indices)[r]
                                      : int64_t(static_cast<const int32_t*>(batch_indices)[r]);
    if (batch < 0 || batch >= a.batches) {
      y[i] = from_float<T>(0.0f);
      continue;
    }
    const double offset = a.half_pixel ? 0.5 : 0.0;
    const double start_w = double(to_float(rois[r * 4 + 0])) * a.spatial_scale - offset;
    const double start_h = double(to_float(rois[r * 4 + 1])) * a.spatial_scale - offset;
    const double end_w = double(to_float(rois[r * 4 + 2])) * a.spatial_scale - offset;
    const double end_h = double(to_float(rois[r * 4 + 3])) * a.spatial_scale - offset;
    double roi_w = end_w - start_w, roi_h = end_h - start_h;
    if (!a.half_pixel) {  // malformed regions become 1x1
      roi_w = fmax(roi_w, 1.0);
      roi_h = fmax(roi_h, 1.0);
    }
    const double bin_h = roi_h / double(a.pooled_h), bin_w = roi_w / double(a.pooled_w);
    const int64_t grid_h =
        a.sampling_ratio > 0 ? a.sampling_ratio : int64_t(ceil(roi_h / double(a.pooled_h)));
    const int64_t grid_w =
        a.sampling_ratio > 0 ? a.sampling_ratio : int64_t(ceil(roi_w / double(a.pooled_w)));
    const double count = double(grid_h * grid_w > 1 ? grid_h * grid_w : 1);
    const T* plane = x + (batch * a.channels + c) * a.height * a.width;
    double result = 0.0;
    bool first = true;
    for (int64_t iy = 0; iy < grid_h; ++iy) {
      double sy = start_h + double(ph) * bin_h + (double(iy) + 0.5) * bin_h / double(grid_h);
      for (int64_t ix = 0; ix < grid_w; ++ix) {
        double sx = start_w + double(pw) * bin_w + (double(ix) + 0.5) * bin_w / double(grid_w);
        // The sample's four corners and weights; all 0 for a sample off the map.
        double terms[4] = {0, 0, 0, 0};
        if (!(sy < -1.0 || sy > double(a.height) || sx < -1.0 || sx > double(a.width))) {
          double yy = fmax(sy, 0.0), xx = fmax(sx, 0.0);
          int64_t y_low = int64_t(yy), x_low = int64_t(xx), y_high, x_high;
          if (y_low >= a.height - 1) {
            y_high = y_low = a.height - 1;
            yy = double(y_low);
          } else {
            y_high = y_low + 1;
          }
          if (x_low >= a.width - 1) {
            x_high = x_low = a.width - 1;
            xx = double(x_low);
          } else {
            x_high = x_low + 1;
          }
          const double ly = yy - double(y_low), lx = xx - double(x_low);
          const double hy = 1.0 - ly, hx = 1.0 - lx;
          terms[0] = hy * hx * double(to_float(plane[y_low * a.width + x_low]));
          terms[1] = hy * lx * double(to_float(plane[y_low * a.width + x_high]));
          terms[2] = ly * hx * double(to_float(plane[y_high * a.width + x_low]));
          terms[3] = ly * lx * double(to_float(plane[y_high * a.width + x_high]));
        }
        if (a.max_mode) {
          const double v = fmax(fmax(terms[0], terms[1]), fmax(terms[2], terms[3]));
          result = first ? v : fmax(result, v);
          first = false;
        } else {
          result += terms[0] + terms[1] + terms[2] + terms[3];
        }
      }
    }
    if (!a.max_mode) result /= count;
    y[i] = from_float<T>(float(result));
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RoiAlign",
    "cuda_roi_align",
    {},
    [](const NodeQuery& q) {
      const DataType t = q.input(0).dtype;
      const DataType index = q.input(2).dtype;
      return is_float16_or_32(t) && q.input(1).dtype == t && q.input(0).shape.size() == 4 &&
             (index == DataType::kInt64 || index == DataType::kInt32);
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const DeviceTensor& y = rc.output(0);
      const int64_t total = y.numel();
      if (total == 0) return;
      const ir::Node& node = rc.node;
      RoiArgs a{};
      a.batches = x.shape[0];
      a.channels = x.shape[1];
      a.height = x.shape[2];
      a.width = x.shape[3];
      a.rois = y.shape[0];
      a.pooled_h = y.shape[2];
      a.pooled_w = y.shape[3];
      a.sampling_ratio = node.attr_int("sampling_ratio", 0);
      a.spatial_scale = node.attr_float("spatial_scale", 1.0);
      a.half_pixel =
          node.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel";
      a.max_mode = node.attr_string("mode", "avg") == "max";
      a.indices64 = rc.input(2).dtype == DataType::kInt64;
      dispatch_float(node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        roi_align_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.input(1).as<T>(), rc.input(2).data, y.as<T>(), total, a);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
