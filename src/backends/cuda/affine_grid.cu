// AffineGrid (ONNX opset 20) on the GPU, as src/ops/grid_sample.cpp defines it: theta (N, 2, 3)
// and size (N, C, H, W) give the grid (N, H, W, 2) of theta[n] @ (x, y, 1); theta (N, 3, 4) and
// size (N, C, D, H, W) give (N, D, H, W, 3). The base positions are -1 + k * 2 / (d - 1) with
// align_corners (-1 for d = 1), else pixel centres -1 + step / 2 + k * step with step = 2 / d.
// Computed in double without fused multiply-adds, in the reference's order, so that the
// results round into theta's type exactly as the CPU backend's do. `size` is read on the host.
// One thread per grid point.
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {
namespace {

struct AffineArgs {
  int spatial = 2;
  int64_t extents[3] = {1, 1, 1};  // x (width) first
  int64_t points = 0;              // per batch entry
  bool align_corners = false;
};

__device__ double base_coordinate(int64_t k, int64_t d, bool align_corners) {
  if (align_corners) {
    return d == 1 ? -1.0 : __dadd_rn(-1.0, __dmul_rn(double(k), __ddiv_rn(2.0, double(d - 1))));
  }
  const double step = __ddiv_rn(2.0, double(d));
  return __dadd_rn(__dadd_rn(-1.0, __ddiv_rn(step, 2.0)), __dmul_rn(double(k), step));
}

template <typename T>
__global__ void affine_grid_kernel(const T* __restrict__ theta, T* __restrict__ grid, int64_t total,
                                   AffineArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t n = i / a.points;
    int64_t rest = i % a.points;
    double base[4] = {0, 0, 0, 1};
    for (int k = 0; k < a.spatial; ++k) {
      const int64_t extent = a.extents[k];
      base[k] = base_coordinate(rest % extent, extent, a.align_corners);
      rest /= extent;
    }
    base[a.spatial] = 1.0;  // homogeneous coordinate
    const T* t = theta + n * a.spatial * (a.spatial + 1);
    for (int r = 0; r < a.spatial; ++r) {
      double sum = 0;
      for (int c = 0; c <= a.spatial; ++c) {
        sum = __dadd_rn(sum, __dmul_rn(widen_to<double>(t[r * (a.spatial + 1) + c]), base[c]));
      }
      grid[i * a.spatial + r] = narrow_to<T>(sum);
    }
  }
}

bool affine_dtype(DataType t) { return is_float16_or_32(t) || t == DataType::kFloat64; }

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "AffineGrid",
    "cuda_affine_grid",
    {1},
    [](const NodeQuery& q) {
      const size_t rank = q.input(0).shape.size();
      return affine_dtype(q.input(0).dtype) && rank == 3;
    },
    [](RunContext& rc) {
      const DeviceTensor& theta = rc.input(0);
      const DeviceTensor& grid = rc.output(0);
      const Dims size = rc.host_input(1, "size").to_int64_vector();
      AffineArgs a;
      a.spatial = int(size.size()) - 2;
      KILN_CHECK(a.spatial == 2 || a.spatial == 3, ErrorCode::kInvalidModel, rc.node.describe(),
                 ": size must hold 4 or 5 values, got ", to_string(size));
      a.points = 1;
      for (int k = 0; k < a.spatial; ++k) {
        a.extents[k] = size[size.size() - 1 - size_t(k)];
        a.points *= a.extents[k];
      }
      a.align_corners = rc.node.attr_int("align_corners", 0) == 1;
      const int64_t total = size[0] * a.points;
      if (total == 0) return;
      auto launch = [&](auto tag) {
        using T = typename decltype(tag)::type;
        affine_grid_kernel<T>
            <<<grid_for(total), kBlock, 0, rc.stream>>>(theta.as<T>(), grid.as<T>(), total, a);
      };
      if (theta.dtype == DataType::kFloat64) {
        launch(Tag<double>{});
      } else {
        dispatch_float(rc.node, theta.dtype, launch);
      }
    }});

}  // namespace
}  // namespace kiln::cuda
