// CenterCropPad (ONNX opset 18) on the GPU, as src/ops/center_crop_pad.cpp defines it: each
// listed axis is cropped (starting at floor((in - out) / 2)) or zero-padded (floor((out - in)
// / 2) zeros before the content) to the extent in the `shape` operand, read on the host.
// Elements move as raw words, so every dtype of 1 to 8 bytes works. A pure crop is a strided
// copy (the data-movement family's fast paths); with padding, one thread per output element
// copies or writes zero.
#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {
namespace {

struct CropPadArgs {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t in_dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {};
  int64_t shift[kMaxRank] = {};  // input index = output index + shift (negative where padded)
};

template <typename B>
__global__ void crop_pad_kernel(const B* __restrict__ x, B* __restrict__ y, int64_t total,
                                CropPadArgs a) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t rest = i, offset = 0;
    bool inside = true;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t at = rest % a.out_dims[d] + a.shift[d];
      rest /= a.out_dims[d];
      if (at < 0 || at >= a.in_dims[d]) inside = false;
      offset += at * a.in_strides[d];
    }
    y[i] = inside ? x[offset] : B(0);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "CenterCropPad",
    "cuda_center_crop_pad",
    {1},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype) && ranks_fit(q); },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const DeviceTensor& y = rc.output(0);
      const int64_t total = y.numel();
      if (total == 0) return;
      const Dims& in = x.shape;
      const Dims& out = y.shape;
      const Dims in_strides = contiguous_strides(in);
      CropPadArgs a;
      bool pads = false;
      int64_t crop_offset = 0;
      for (size_t d = 0; d < in.size(); ++d) {
        const int64_t shift = in[d] >= out[d] ? (in[d] - out[d]) / 2 : -((out[d] - in[d]) / 2);
        if (out[d] > in[d]) pads = true;  // a pad of one puts its zero after: shift 0
        crop_offset += shift * in_strides[d];
        a.out_dims[d] = out[d];
        a.in_dims[d] = in[d];
        a.in_strides[d] = in_strides[d];
        a.shift[d] = shift;
      }
      a.rank = int(in.size());
      const size_t bytes = element_size(x.dtype);
      if (!pads) {
        launch_strided_copy(rc.node, x.data, y.data, bytes, out, in_strides, crop_offset,
                            rc.stream);
        return;
      }
      if (a.rank == 0) return;  // a scalar cannot pad
      dispatch_bits(rc.node, bytes, [&](auto tag) {
        using B = typename decltype(tag)::type;
        crop_pad_kernel<B>
            <<<grid_for(total), kBlock, 0, rc.stream>>>(x.as<B>(), y.as<B>(), total, a);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
