// Col2Im (ONNX opset 18) on the GPU, as src/ops/col2im.cpp defines it: the columns
// [N, C * prod(block_shape), L] are summed back into the image [N, C, *image_shape] along the
// convolution geometry of image_shape, block_shape (both read on the host), strides, dilations
// and pads. One thread per image element gathers the column entries that land on it, in
// increasing block offset (the order in which the reference scatters them, each offset
// reaching an element from at most one block position), so float32 sums round exactly as on
// the CPU. float16/bfloat16 sum in float32 and round once, as the reference does; integers
// wrap like the reference's element type.
#include <cstdint>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"
#include "ops/col2im.h"

namespace kiln::cuda {
namespace {

inline constexpr int kMaxImageDims = kMaxRank - 2;

struct Col2ImArgs {
  int dims = 0;
  int64_t image[kMaxImageDims] = {};
  int64_t block[kMaxImageDims] = {};
  int64_t blocks[kMaxImageDims] = {};  // block positions per axis
  int64_t strides[kMaxImageDims] = {};
  int64_t dilations[kMaxImageDims] = {};
  int64_t pads_begin[kMaxImageDims] = {};
  int64_t image_size = 0, block_size = 0, positions = 0;
};

template <typename T, typename A>
__global__ void col2im_kernel(const T* __restrict__ columns, T* __restrict__ image, int64_t total,
                              Col2ImArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t plane = i / a.image_size;  // n * C + c
    int64_t rest = i % a.image_size;
    int64_t at[kMaxImageDims];
    for (int d = a.dims - 1; d >= 0; --d) {
      at[d] = rest % a.image[d];
      rest /= a.image[d];
    }
    const T* column = columns + plane * a.block_size * a.positions;
    A sum = A(0);
    int64_t offset[kMaxImageDims] = {};  // position within the block, row-major odometer
    for (int64_t k = 0; k < a.block_size; ++k) {
      int64_t position = 0;
      bool hit = true;
      for (int d = 0; d < a.dims && hit; ++d) {
        const int64_t from = at[d] + a.pads_begin[d] - offset[d] * a.dilations[d];
        const int64_t p = from / a.strides[d];
        hit = from >= 0 && from % a.strides[d] == 0 && p < a.blocks[d];
        position = position * a.blocks[d] + p;
      }
      if (hit) sum = A(sum + widen_to<A>(column[k * a.positions + position]));
      for (int d = a.dims - 1; d >= 0; --d) {
        if (++offset[d] < a.block[d]) break;
        offset[d] = 0;
      }
    }
    image[i] = narrow_to<T>(sum);
  }
}

bool col2im_dtype(DataType t) {
  return t != DataType::kBool && t != DataType::kFloat8E4M3 && t != DataType::kFloat8E5M2;
}

Col2ImArgs col2im_args(const RunContext& rc) {
  const ir::Node& node = rc.node;
  const ops::Col2ImGeometry g =
      ops::col2im_geometry(node, rc.host_input(1, "image_shape"), rc.host_input(2, "block_shape"));
  const size_t dims = g.image.size();
  KILN_CHECK(dims <= size_t(kMaxImageDims), ErrorCode::kUnsupported, node.describe(),
             ": image_shape ", to_string(g.image), " has more than ", kMaxImageDims,
             " dims, the CUDA kernel's limit");
  Col2ImArgs a;
  a.dims = int(dims);
  a.image_size = a.block_size = a.positions = 1;
  for (size_t d = 0; d < dims; ++d) {
    a.image[d] = g.image[d];
    a.block[d] = g.block[d];
    a.blocks[d] = g.blocks[d];
    a.strides[d] = g.strides[d];
    a.dilations[d] = g.dilations[d];
    a.pads_begin[d] = g.pads_begin[d];
    a.image_size *= g.image[d];
    a.block_size *= g.block[d];
    a.positions *= g.blocks[d];
  }
  return a;
}

template <typename T, typename A>
void launch_col2im(RunContext& rc, const Col2ImArgs& a, int64_t total) {
  col2im_kernel<T, A><<<grid_for(total), kBlock, 0, rc.stream>>>(rc.input(0).as<T>(),
                                                                 rc.output(0).as<T>(), total, a);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Col2Im",
    "cuda_col2im",
    {1, 2},
    [](const NodeQuery& q) {
      return col2im_dtype(q.input(0).dtype) && q.input(0).shape.size() == 3 && q.has_output(0) &&
             q.outputs[0].shape.size() <= size_t(kMaxRank);
    },
    [](RunContext& rc) {
      const int64_t total = rc.output(0).numel();
      if (total == 0) return;
      const Col2ImArgs a = col2im_args(rc);
      switch (rc.input(0).dtype) {
        case DataType::kFloat32:
          return launch_col2im<float, float>(rc, a, total);
        case DataType::kFloat16:
          return launch_col2im<half, float>(rc, a, total);
        case DataType::kBFloat16:
          return launch_col2im<bfloat16, float>(rc, a, total);
        case DataType::kFloat64:
          return launch_col2im<double, double>(rc, a, total);
        default:
          break;
      }
      // Integers of either signedness add alike in two's complement.
      dispatch_bits(rc.node, element_size(rc.input(0).dtype), [&](auto tag) {
        using B = typename decltype(tag)::type;
        launch_col2im<B, B>(rc, a, total);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
