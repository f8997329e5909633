// Layout and pattern kernels: DepthToSpace and SpaceToDepth (permutations of a 6-D view, so
// they share Transpose's tiled and row-copy paths), ReverseSequence, Trilu, EyeLike and
// ConstantOfShape. All move or fill raw words, so every dtype of 1 to 8 bytes works.
#include <cstring>

#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {
namespace {

// ---------------------------------------------------------------------------------------------
// DepthToSpace / SpaceToDepth. With C the wide tensor's channels and (i, j) the position in a
// bs x bs block, the deep tensor [N, C*bs*bs, H, W] is viewed as [N, bs, bs, C, H, W] (DCR) or
// [N, C, bs, bs, H, W] (CRD), and the wide one [N, C, H*bs, W*bs] as [N, C, H, bs, W, bs].

struct BlockView {
  Dims deep;  // the deep tensor's 6-D view
  Dims wide;  // the wide tensor's 6-D view
  bool dcr = true;
};

BlockView block_view(const ir::Node& node, const Dims& wide_shape) {
  const int64_t bs = node.attr_int("blocksize");
  const bool dcr = node.attr_string("mode", "DCR") == "DCR";
  const int64_t n = wide_shape[0], c = wide_shape[1];
  const int64_t h = wide_shape[2] / bs, w = wide_shape[3] / bs;
  BlockView v;
  v.dcr = dcr;
  v.deep = dcr ? Dims{n, bs, bs, c, h, w} : Dims{n, c, bs, bs, h, w};
  v.wide = {n, c, h, bs, w, bs};
  return v;
}

bool rank4_movable(const NodeQuery& q) {
  return movable_element_size(q.input(0).dtype) && q.input(0).shape.size() == 4;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "DepthToSpace", "cuda_permute", {}, rank4_movable, [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      const BlockView v = block_view(rc.node, out.shape);
      // wide [n, c, h, i, w, j] from deep: DCR [n, i, j, c, h, w], CRD [n, c, i, j, h, w]
      const std::vector<int64_t> perm =
          v.dcr ? std::vector<int64_t>{0, 3, 4, 1, 5, 2} : std::vector<int64_t>{0, 1, 4, 2, 5, 3};
      launch_permute(rc.node, in.data, out.data, element_size(in.dtype), v.deep, perm, rc.stream);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "SpaceToDepth", "cuda_permute", {}, rank4_movable, [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const BlockView v = block_view(rc.node, in.shape);
      // deep DCR [n, i, j, c, h, w] or CRD [n, c, i, j, h, w] from wide [n, c, h, i, w, j]
      const std::vector<int64_t> perm =
          v.dcr ? std::vector<int64_t>{0, 3, 5, 1, 2, 4} : std::vector<int64_t>{0, 1, 3, 5, 2, 4};
      launch_permute(rc.node, in.data, rc.output(0).data, element_size(in.dtype), v.wide, perm,
                     rc.stream);
    }});

// ---------------------------------------------------------------------------------------------
// ReverseSequence: the input is [d0, d1, entry] with (batch, time) = (d0, d1) or (d1, d0); the
// first lens[b] steps of batch entry b are reversed. A length outside [0, time] (an error on the
// CPU) is clamped to that range on the GPU, which cannot report it.

template <typename T>
__global__ void reverse_sequence_kernel(const T* __restrict__ x, const int64_t* __restrict__ lens,
                                        T* __restrict__ y, int64_t n, int64_t d1, int64_t entry,
                                        int64_t time, bool batch_first) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t e = i % entry;
    const int64_t row = i / entry;
    const int64_t a = row / d1, c = row % d1;
    const int64_t b = batch_first ? a : c;
    const int64_t t = batch_first ? c : a;
    int64_t len = lens[b];
    len = len < 0 ? 0 : (len > time ? time : len);
    const int64_t from = t < len ? len - 1 - t : t;
    const int64_t source = batch_first ? b * time + from : from * d1 + b;
    y[i] = x[source * entry + e];
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "ReverseSequence",
    "cuda_reverse_sequence",
    {},
    [](const NodeQuery& q) {
      return movable_element_size(q.input(0).dtype) && q.input(1).dtype == DataType::kInt64;
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t n = x.numel();
      if (n == 0) return;
      const bool batch_first = rc.node.attr_int("batch_axis", 1) == 0;
      const int64_t d0 = x.shape[0], d1 = x.shape[1];
      const int64_t time = batch_first ? d1 : d0;
      const int64_t entry = n / (d0 * d1);
      dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        reverse_sequence_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.input(1).as<int64_t>(), rc.output(0).as<T>(), n, d1, entry, time,
            batch_first);
      });
    }});

// ---------------------------------------------------------------------------------------------
// Trilu: keeps the upper (col - row >= k) or lower (col - row <= k) triangle of each matrix of
// the last two dims and zeroes the rest. k comes from the host when known at shape time, else
// it is read on the device (it may be a network input).

template <typename T>
__global__ void trilu_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t rows,
                             int64_t cols, const int64_t* __restrict__ k_device, int64_t k_host,
                             bool upper) {
  const int64_t k = k_device ? *k_device : k_host;
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t col = i % cols;
    const int64_t row = (i / cols) % rows;
    const int64_t diagonal = col - row;  // compared with k, never overflows
    const bool keep = upper ? diagonal >= k : diagonal <= k;
    y[i] = keep ? x[i] : T{};
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Trilu",
    "cuda_trilu",
    {},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const int64_t n = x.numel();
      if (n == 0) return;
      const size_t rank = x.shape.size();
      const int64_t rows = x.shape[rank - 2], cols = x.shape[rank - 1];
      int64_t k_host = 0;
      const int64_t* k_device = nullptr;
      if (rc.has_input(1)) {
        if (const Tensor* k = rc.input(1).host_value) {
          k_host = k->as_int64(0);
        } else {
          k_device = rc.input(1).as<int64_t>();
        }
      }
      const bool upper = rc.node.attr_int("upper", 1) != 0;
      dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        trilu_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(x.as<T>(), rc.output(0).as<T>(), n,
                                                               rows, cols, k_device, k_host, upper);
      });
    }});

// ---------------------------------------------------------------------------------------------
// EyeLike and ConstantOfShape: patterned fills. The values (EyeLike's one, ConstantOfShape's
// `value`) are converted on the host and passed as raw bits.

template <typename T>
__global__ void eye_kernel(T* __restrict__ y, int64_t n, int64_t cols, int64_t k, T one) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] = i % cols - i / cols == k ? one : T{}; }
}

template <typename T>
__global__ void fill_kernel(T* __restrict__ y, int64_t n, T value) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] = value; }
}

template <typename T>
T bits_of(const Tensor& t) {
  T v;
  std::memcpy(&v, t.raw(), sizeof(T));
  return v;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "EyeLike",
    "cuda_eye_like",
    {},
    [](const NodeQuery& q) { return movable_element_size(q.outputs.at(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& y = rc.output(0);
      const int64_t n = y.numel();
      if (n == 0) return;
      const Tensor one = Tensor::from_vector<double>(DataType::kFloat64, {}, {1.0}).cast(y.dtype);
      const int64_t k = rc.node.attr_int("k", 0);
      dispatch_bits(rc.node, element_size(y.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        eye_kernel<T>
            <<<grid_for(n), kBlock, 0, rc.stream>>>(y.as<T>(), n, y.shape[1], k, bits_of<T>(one));
      });
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "ConstantOfShape",
    "cuda_fill",
    {0},
    [](const NodeQuery& q) { return movable_element_size(q.outputs.at(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& y = rc.output(0);
      const int64_t n = y.numel();
      if (n == 0) return;
      const Tensor value = rc.node.has_attr("value") ? rc.node.attr_tensor("value")
                                                     : Tensor::zeros(DataType::kFloat32, {});
      const size_t bytes = element_size(y.dtype);
      // A value whose bytes are all equal (zero, above all) is a memset.
      const auto* raw = static_cast<const uint8_t*>(value.raw());
      bool uniform = true;
      for (size_t b = 1; b < bytes; ++b) uniform = uniform && raw[b] == raw[0];
      if (uniform) {
        check_cuda(cudaMemsetAsync(y.data, raw[0], y.nbytes(), rc.stream), rc.node, "filling");
        return;
      }
      dispatch_bits(rc.node, bytes, [&](auto tag) {
        using T = typename decltype(tag)::type;
        fill_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(y.as<T>(), n, bits_of<T>(value));
      });
    }});

}  // namespace
}  // namespace kiln::cuda
