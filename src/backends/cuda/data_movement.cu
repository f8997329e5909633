#include <cstring>

#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {

// ---------------------------------------------------------------------------------------------
// Strided copy

namespace {

template <typename T>
__global__ void strided_copy_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n,
                                    StridedMap<1> map, int64_t in_offset) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t off[1];
    map.offsets(i, off);
    out[i] = in[in_offset + off[0]];
  }
}

}  // namespace

void launch_strided_copy(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                         const Dims& out_shape, const Dims& in_strides, int64_t in_offset,
                         cudaStream_t stream) {
  const int64_t n = volume(out_shape);
  if (n == 0) return;
  const StridedMap<1> map = make_strided_map<1>(node, out_shape, {in_strides});
  dispatch_bits(node, element_bytes, [&](auto tag) {
    using T = typename decltype(tag)::type;
    strided_copy_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(in),
                                                               static_cast<T*>(out), n, map,
                                                               in_offset);
  });
}

void copy_device(const ir::Node& node, const void* in, void* out, size_t bytes, cudaStream_t stream) {
  if (bytes == 0 || in == out) return;
  check_cuda(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, stream), node, "device copy");
}

namespace {

bool element_size_ok(DataType t) {
  const size_t b = element_size(t);
  return b == 1 || b == 2 || b == 4 || b == 8;
}

// ---------------------------------------------------------------------------------------------
// Copies: the output holds the input's bytes (another shape, or the same).

void run_copy(RunContext& rc) {
  copy_device(rc.node, rc.input(0).data, rc.output(0).data, rc.output(0).nbytes(), rc.stream);
}

CudaKernel copy_kernel(std::string op, std::vector<size_t> host_inputs) {
  return CudaKernel{std::move(op), "device_copy", std::move(host_inputs),
                    [](const NodeQuery&) { return true; }, run_copy};
}

KILN_REGISTER_CUDA_KERNEL(copy_kernel("Reshape", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Flatten", {}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Squeeze", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Unsqueeze", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Identity", {}));

// Dropout at inference is the identity; its optional mask is all true.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Dropout", "device_copy", {1, 2}, [](const NodeQuery&) { return true; },
    [](RunContext& rc) {
      run_copy(rc);
      if (rc.outputs.size() > 1 && rc.outputs[1].present && rc.outputs[1].nbytes()) {
        check_cuda(cudaMemsetAsync(rc.outputs[1].data, 1, rc.outputs[1].nbytes(), rc.stream),
                   rc.node, "filling the dropout mask");
      }
    }});

// ---------------------------------------------------------------------------------------------
// Transpose, Expand, Slice, Split: strided copies

std::vector<int64_t> transpose_perm(const ir::Node& node, size_t rank) {
  if (node.has_attr("perm")) return node.attr_ints("perm");
  std::vector<int64_t> perm;
  for (size_t i = rank; i-- > 0;) perm.push_back(int64_t(i));
  return perm;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Transpose", "cuda_strided_copy", {},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const std::vector<int64_t> perm = transpose_perm(rc.node, in.shape.size());
      const Dims contiguous = contiguous_strides(in.shape);
      Dims strides;
      for (int64_t p : perm) strides.push_back(contiguous[size_t(p)]);
      launch_strided_copy(rc.node, in.data, rc.output(0).data, element_size(in.dtype),
                          rc.output(0).shape, strides, 0, rc.stream);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Expand", "cuda_strided_copy", {1},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape,
                          broadcast_strides_to(in.shape, out.shape), 0, rc.stream);
    }});

// Slice: first element and step per input dim, clamped as the ONNX spec says (the output's
// extents come from shape inference).
void run_slice(RunContext& rc) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  if (out.numel() == 0) return;
  const int64_t rank = int64_t(in.shape.size());
  const std::vector<int64_t> starts = rc.host_input(1, "starts").to_int64_vector();
  const std::vector<int64_t> ends = rc.host_input(2, "ends").to_int64_vector();
  std::vector<int64_t> axes;
  if (rc.has_input(3)) {
    axes = rc.host_input(3, "axes").to_int64_vector();
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  }
  std::vector<int64_t> steps(starts.size(), 1);
  if (rc.has_input(4)) steps = rc.host_input(4, "steps").to_int64_vector();
  Dims start(size_t(rank), 0), step(size_t(rank), 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t axis = size_t(axes[i] < 0 ? axes[i] + rank : axes[i]);
    const int64_t dim = in.shape[axis];
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    s = steps[i] > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
    start[axis] = s;
    step[axis] = steps[i];
  }
  const Dims contiguous = contiguous_strides(in.shape);
  int64_t offset = 0;
  Dims strides(size_t(rank), 0);
  for (size_t d = 0; d < size_t(rank); ++d) {
    offset += start[d] * contiguous[d];
    strides[d] = step[d] * contiguous[d];
  }
  launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape, strides,
                      offset, rc.stream);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Slice", "cuda_strided_copy", {1, 2, 3, 4},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype); }, run_slice});

// Split: output k is the slab of the input along `axis` after outputs 0..k-1.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Split", "cuda_strided_copy", {1},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const int64_t rank = int64_t(in.shape.size());
      int64_t axis = rc.node.attr_int("axis", 0);
      if (axis < 0) axis += rank;
      const Dims contiguous = contiguous_strides(in.shape);
      int64_t begin = 0;
      for (const DeviceTensor& out : rc.outputs) {
        if (!out.present) continue;  // (an omitted output still advances nothing: none exist)
        launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape,
                            contiguous, begin * contiguous[size_t(axis)], rc.stream);
        begin += out.shape[size_t(axis)];
      }
    }});

// ---------------------------------------------------------------------------------------------
// Concat: each input is a [outer, inner_k] block of rows placed side by side in the output.

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Concat", "cuda_copy_2d", {}, [](const NodeQuery&) { return true; },
    [](RunContext& rc) {
      const DeviceTensor& out = rc.output(0);
      if (out.numel() == 0) return;
      const int64_t rank = int64_t(out.shape.size());
      int64_t axis = rc.node.attr_int("axis");
      if (axis < 0) axis += rank;
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= out.shape[size_t(d)];
      const size_t out_row = out.nbytes() / size_t(outer);
      size_t column = 0;
      for (const DeviceTensor& in : rc.inputs) {
        const size_t row = in.nbytes() / size_t(outer);
        if (row == 0) continue;
        auto* dst = static_cast<std::byte*>(out.data) + column;
        check_cuda(cudaMemcpy2DAsync(dst, out_row, in.data, row, row, size_t(outer),
                                     cudaMemcpyDeviceToDevice, rc.stream),
                   rc.node, "concatenating");
        column += row;
      }
    }});

// ---------------------------------------------------------------------------------------------
// Pad (all modes) and Tile: each output position maps, per dim, to a source position computed in
// the kernel. Pad crops first for negative pads, then extends what is kept (as the reference);
// Tile is a wrap-around "pad" of the input to the output's extents.

enum PadMode : int { kConstant, kReflect, kEdge, kWrap };

struct PadMap {
  int rank = 0;
  int mode = kConstant;
  int64_t out_dims[kMaxRank] = {};
  int64_t kept[kMaxRank] = {};    // extent of the input left after cropping
  int64_t before[kMaxRank] = {};  // output positions before the kept part
  int64_t lo[kMaxRank] = {};      // input positions cropped at the start
  int64_t stride[kMaxRank] = {};  // input strides (elements)
};

template <typename T>
__global__ void pad_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, PadMap m, T value) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t rest = i, offset = 0;
    bool fill = false;
    for (int d = m.rank - 1; d >= 0; --d) {
      const int64_t o = rest % m.out_dims[d];
      rest /= m.out_dims[d];
      int64_t x = o - m.before[d];
      const int64_t k = m.kept[d];
      if (x < 0 || x >= k) {
        switch (m.mode) {
          case kConstant: fill = true; break;
          case kEdge: x = x < 0 ? 0 : k - 1; break;
          case kWrap: x = ((x % k) + k) % k; break;
          default:  // reflect: period 2 (k - 1), the edge not repeated
            if (k == 1) {
              x = 0;
            } else {
              const int64_t period = 2 * (k - 1);
              x = ((x % period) + period) % period;
              if (x >= k) x = period - x;
            }
        }
      }
      offset += (x + m.lo[d]) * m.stride[d];
    }
    out[i] = fill ? value : in[offset];
  }
}

void launch_pad(RunContext& rc, const PadMap& map, uint64_t value_bits) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_bits(rc.node, element_size(in.dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    std::memcpy(&value, &value_bits, sizeof(T));
    pad_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(in.as<T>(), out.as<T>(), n, map, value);
  });
}

PadMode pad_mode(const ir::Node& node) {
  const std::string mode = node.attr_string("mode", "constant");
  if (mode == "reflect") return kReflect;
  if (mode == "edge") return kEdge;
  if (mode == "wrap") return kWrap;
  return kConstant;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Pad", "cuda_pad", {1, 2, 3},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype) && ranks_fit(q); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const int64_t rank = int64_t(in.shape.size());
      std::vector<int64_t> axes;
      if (rc.has_input(3)) {
        for (int64_t a : rc.host_input(3, "axes").to_int64_vector()) axes.push_back(a < 0 ? a + rank : a);
      } else {
        for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
      }
      const std::vector<int64_t> pads = rc.host_input(1, "pads").to_int64_vector();
      std::vector<int64_t> begin(size_t(rank), 0), end(size_t(rank), 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        begin[size_t(axes[i])] = pads[i];
        end[size_t(axes[i])] = pads[axes.size() + i];
      }
      PadMap m;
      m.rank = int(rank);
      m.mode = pad_mode(rc.node);
      const Dims strides = contiguous_strides(in.shape);
      for (size_t d = 0; d < size_t(rank); ++d) {
        m.out_dims[d] = rc.output(0).shape[d];
        m.lo[d] = std::max<int64_t>(-begin[d], 0);
        m.kept[d] = in.shape[d] - m.lo[d] - std::max<int64_t>(-end[d], 0);
        m.before[d] = std::max<int64_t>(begin[d], 0);
        m.stride[d] = strides[d];
      }
      uint64_t value_bits = 0;
      if (rc.has_input(2)) {
        const Tensor& v = rc.host_input(2, "constant_value");
        if (v.numel() > 0) std::memcpy(&value_bits, v.raw(), element_size(v.dtype()));
      }
      launch_pad(rc, m, value_bits);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Tile", "cuda_pad", {1},
    [](const NodeQuery& q) { return element_size_ok(q.input(0).dtype) && ranks_fit(q); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      if (in.numel() == 0) return;
      PadMap m;
      m.rank = int(in.shape.size());
      m.mode = kWrap;
      const Dims strides = contiguous_strides(in.shape);
      for (size_t d = 0; d < in.shape.size(); ++d) {
        m.out_dims[d] = rc.output(0).shape[d];
        m.kept[d] = in.shape[d];
        m.stride[d] = strides[d];
      }
      launch_pad(rc, m, 0);
    }});

// ---------------------------------------------------------------------------------------------
// Gather along `axis`. Negative indices count from the end; an index out of range (which the
// CPU backend reports as an error) cannot be reported from the GPU and gives zeros.

template <typename T, typename I>
__global__ void gather_kernel(const T* __restrict__ data, const I* __restrict__ indices,
                              T* __restrict__ out, int64_t n, int64_t count, int64_t inner,
                              int64_t dim) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t within = i % inner;
    const int64_t j = (i / inner) % count;
    const int64_t o = i / (inner * count);
    int64_t k = int64_t(indices[j]);
    if (k < 0) k += dim;
    out[i] = (k >= 0 && k < dim) ? data[(o * dim + k) * inner + within] : T(0);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Gather", "cuda_gather", {},
    [](const NodeQuery& q) {
      const DataType it = q.input(1).dtype;
      return element_size_ok(q.input(0).dtype) && (it == DataType::kInt32 || it == DataType::kInt64);
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const int64_t rank = int64_t(data.shape.size());
      int64_t axis = rc.node.attr_int("axis", 0);
      if (axis < 0) axis += rank;
      int64_t inner = 1;
      for (int64_t d = axis + 1; d < rank; ++d) inner *= data.shape[size_t(d)];
      const int64_t count = indices.numel();
      const int64_t dim = data.shape[size_t(axis)];
      dispatch_bits(rc.node, element_size(data.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        if (indices.dtype == DataType::kInt64) {
          gather_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(
              data.as<T>(), indices.as<int64_t>(), out.as<T>(), n, count, inner, dim);
        } else {
          gather_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(
              data.as<T>(), indices.as<int32_t>(), out.as<T>(), n, count, inner, dim);
        }
      });
    }});

// ---------------------------------------------------------------------------------------------
// GatherND: the output is [batch, tuples, slice] with each tuple of k indices picking a slice of
// data's dims batch_dims .. batch_dims+k-1 in its batch. Negative indices count from the end;
// one out of range (an error on the CPU) gives zeros.

constexpr int kMaxGatherNdIndex = 8;

struct GatherNdGeometry {
  int k = 0;
  int64_t dims[kMaxGatherNdIndex] = {};
  int64_t strides[kMaxGatherNdIndex] = {};  // of those dims in data, in elements
  int64_t batch_stride = 0;                 // elements of data per batch entry
  int64_t tuples = 0;                       // per batch entry
  int64_t slice = 0;                        // elements per gathered slice
};

template <typename T>
__global__ void gather_nd_kernel(const T* __restrict__ data, const int64_t* __restrict__ indices,
                                 T* __restrict__ out, int64_t n, GatherNdGeometry g) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t within = i % g.slice;
    const int64_t tuple = i / g.slice;  // batch * tuples + j
    const int64_t batch = tuple / g.tuples;
    const int64_t* index = indices + tuple * g.k;
    int64_t offset = batch * g.batch_stride + within;
    bool inside = true;
    for (int t = 0; t < g.k; ++t) {
      int64_t v = index[t];
      if (v < 0) v += g.dims[t];
      inside = inside && v >= 0 && v < g.dims[t];
      offset += v * g.strides[t];
    }
    out[i] = inside ? data[offset] : T(0);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "GatherND", "cuda_gather_nd", {},
    [](const NodeQuery& q) {
      const TensorInfo& indices = q.input(1);
      return element_size_ok(q.input(0).dtype) && indices.dtype == DataType::kInt64 &&
             !indices.shape.empty() && indices.shape.back() <= kMaxGatherNdIndex;
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const int64_t b = rc.node.attr_int("batch_dims", 0);
      GatherNdGeometry g;
      g.k = int(indices.shape.back());
      const Dims strides = contiguous_strides(data.shape);
      for (int t = 0; t < g.k; ++t) {
        g.dims[t] = data.shape[size_t(b + t)];
        g.strides[t] = strides[size_t(b + t)];
      }
      g.batch_stride = b > 0 ? strides[size_t(b - 1)] : volume(data.shape);
      g.slice = 1;
      for (size_t d = size_t(b + g.k); d < data.shape.size(); ++d) g.slice *= data.shape[d];
      int64_t batches = 1;
      for (int64_t d = 0; d < b; ++d) batches *= data.shape[size_t(d)];
      g.tuples = g.slice == 0 || batches == 0 ? 1 : n / (g.slice * batches);
      dispatch_bits(rc.node, element_size(data.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        gather_nd_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(data.as<T>(), indices.as<int64_t>(),
                                                                 out.as<T>(), n, g);
      });
    }});

}  // namespace
}  // namespace kiln::cuda
