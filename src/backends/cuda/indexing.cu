// Indexing kernels beside Gather/GatherND (data_movement.cu): GatherElements, ScatterElements
// and ScatterND (every reduction), MaxUnpool and OneHot. Elements move as raw words, so every
// dtype works where nothing is computed; scatter reductions compute in the element's type
// (float16/bfloat16 in float32, rounded once per update, as the reference).
//
// Index errors: the CPU reference rejects an index outside [-dim, dim) with an error naming the
// node. A kernel cannot raise one, and must not fault, so on the GPU such an index is skipped:
// a gather reads zeros for it, a scatter drops that update (MaxUnpool likewise drops values
// whose index lies outside the unpooled tensor).
//
// Duplicate indices: reductions add/mul/max/min combine every update atomically, so the result
// is the reference's up to the order of floating-point operations. With reduction "none" the
// reference keeps the last update in index order; on the GPU an arbitrary one of the
// duplicates wins (ONNX leaves that case undefined).
#include <cstring>

#include "backends/cuda/data_movement.cuh"
#include "ops/max_unpool.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ bool resolve_index(int64_t& index, int64_t dim) {
  if (index < 0) index += dim;
  return index >= 0 && index < dim;
}

// ---------------------------------------------------------------------------------------------
// Scatter reductions

enum Reduction : int { kNone, kAdd, kMul, kMax, kMin };

Reduction read_reduction(const ir::Node& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "add") return kAdd;
  if (r == "mul") return kMul;
  if (r == "max") return kMax;
  if (r == "min") return kMin;
  KILN_CHECK(r == "none", ErrorCode::kInvalidModel, node.describe(), ": reduction '", r,
             "' is not one of none, add, mul, max, min");
  return kNone;
}

// Booleans are stored as one byte; they reduce as the reference does: add and max are "or",
// mul and min are "and".
struct BoolByte {
  uint8_t v;
};

template <typename V>
__device__ __forceinline__ V combine_values(V a, V b, Reduction r) {
  switch (r) {
    case kAdd:
      return V(a + b);
    case kMul:
      return V(a * b);
    case kMax:
      return a < b ? b : a;  // std::max: the first unless the second is larger
    case kMin:
      return b < a ? b : a;  // std::min
    default:
      return b;
  }
}

template <typename T>
__device__ __forceinline__ T combine(T a, T b, Reduction r) {
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
    return from_float<T>(combine_values(to_float(a), to_float(b), r));
  } else if constexpr (std::is_same_v<T, BoolByte>) {
    const bool is_or = r == kAdd || r == kMax;
    return BoolByte{uint8_t(is_or ? (a.v || b.v) : (a.v && b.v))};
  } else {
    return combine_values(a, b, r);
  }
}

template <typename To, typename From>
__device__ __forceinline__ To bit_cast_device(From v) {
  static_assert(sizeof(To) == sizeof(From));
  To out;
  memcpy(&out, &v, sizeof(To));
  return out;
}

// *address = combine(*address, value) atomically, by compare-and-swap on the element (2, 4 or
// 8 bytes) or on the aligned 32-bit word holding it (1 byte).
template <typename T>
__device__ void atomic_combine(T* address, T value, Reduction r) {
  if constexpr (sizeof(T) == 1) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(address);
    auto* word = reinterpret_cast<unsigned int*>(at & ~uintptr_t(3));
    const unsigned shift = unsigned(at & 3) * 8;
    unsigned int old = *word, assumed;
    do {
      assumed = old;
      const T current = bit_cast_device<T>(uint8_t((assumed >> shift) & 0xffu));
      const unsigned byte = bit_cast_device<uint8_t>(combine(current, value, r));
      old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (byte << shift));
    } while (old != assumed);
  } else {
    using U = std::conditional_t<
        sizeof(T) == 2, unsigned short int,
        std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long int>>;
    U* word = reinterpret_cast<U*>(address);
    U old = *word, assumed;
    do {
      assumed = old;
      const U next = bit_cast_device<U>(combine(bit_cast_device<T>(assumed), value, r));
      old = atomicCAS(word, assumed, next);
    } while (old != assumed);
  }
}

template <typename T>
__device__ __forceinline__ void apply_update(T* address, T value, Reduction r) {
  if (r == kNone) {
    *address = value;
  } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                       std::is_same_v<T, int32_t> || std::is_same_v<T, uint32_t>) {
    if (r == kAdd) {
      atomicAdd(address, value);
    } else {
      atomic_combine(address, value, r);
    }
  } else {
    atomic_combine(address, value, r);
  }
}

// fn(Tag<T>{}) with T the element type a scatter reduction computes in.
template <typename Fn>
void dispatch_scatter(const ir::Node& node, DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      return fn(Tag<float>{});
    case DataType::kFloat64:
      return fn(Tag<double>{});
    case DataType::kFloat16:
      return fn(Tag<half>{});
    case DataType::kBFloat16:
      return fn(Tag<bfloat16>{});
    case DataType::kInt8:
      return fn(Tag<int8_t>{});
    case DataType::kInt16:
      return fn(Tag<int16_t>{});
    case DataType::kInt32:
      return fn(Tag<int32_t>{});
    case DataType::kInt64:
      return fn(Tag<int64_t>{});
    case DataType::kUInt8:
      return fn(Tag<uint8_t>{});
    case DataType::kUInt16:
      return fn(Tag<uint16_t>{});
    case DataType::kUInt32:
      return fn(Tag<uint32_t>{});
    case DataType::kUInt64:
      return fn(Tag<uint64_t>{});
    case DataType::kBool:
      return fn(Tag<BoolByte>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": no CUDA scatter reduction for ", to_string(dtype));
}

bool scatter_supported(DataType dtype, Reduction r) {
  if (r == kNone) return movable_element_size(dtype);
  switch (dtype) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
    case DataType::kUInt64:
    case DataType::kBool:
      return true;
    default:
      return false;
  }
}

// With reduction "none" nothing is computed: move raw words of the element's size.
template <typename Fn>
void dispatch_scatter_or_bits(const ir::Node& node, DataType dtype, Reduction r, Fn&& fn) {
  if (r == kNone) {
    dispatch_bits(node, element_size(dtype), fn);
  } else {
    dispatch_scatter(node, dtype, fn);
  }
}

template <typename Fn>
void dispatch_index(const DeviceTensor& indices, Fn&& fn) {
  if (indices.dtype == DataType::kInt64) return fn(Tag<int64_t>{});
  fn(Tag<int32_t>{});
}

bool is_index_type(DataType t) { return t == DataType::kInt32 || t == DataType::kInt64; }

int64_t node_axis(const ir::Node& node, size_t rank) {
  const int64_t axis = node.attr_int("axis", 0);
  return axis < 0 ? axis + int64_t(rank) : axis;
}

// ---------------------------------------------------------------------------------------------
// GatherElements / ScatterElements: element i of indices (of data's rank) addresses data at
// its own position except along `axis`, where its value is the position.

struct ElementMap {
  int rank = 0;
  int axis = 0;
  int64_t axis_dim = 0;
  int64_t index_dims[kMaxRank] = {};
  int64_t data_strides[kMaxRank] = {};

  // Offset in data of indices' element `flat` holding `index`; false when out of range.
  __device__ __forceinline__ bool offset(int64_t flat, int64_t index, int64_t& at) const {
    at = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = flat % index_dims[d];
      flat /= index_dims[d];
      if (d != axis) at += i * data_strides[d];
    }
    if (!resolve_index(index, axis_dim)) return false;
    at += index * data_strides[axis];
    return true;
  }
};

ElementMap element_map(const ir::Node& node, const Dims& data, const Dims& indices) {
  ElementMap m;
  m.rank = int(indices.size());
  m.axis = int(node_axis(node, data.size()));
  m.axis_dim = data[size_t(m.axis)];
  const Dims strides = contiguous_strides(data);
  for (size_t d = 0; d < indices.size(); ++d) {
    m.index_dims[d] = indices[d];
    m.data_strides[d] = strides[d];
  }
  return m;
}

template <typename T, typename I>
__global__ void gather_elements_kernel(const T* __restrict__ data, const I* __restrict__ indices,
                                       T* __restrict__ out, int64_t n, ElementMap m) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t at;
    out[i] = m.offset(i, int64_t(indices[i]), at) ? data[at] : T{};
  }
}

template <typename T, typename I>
__global__ void scatter_elements_kernel(T* __restrict__ out, const I* __restrict__ indices,
                                        const T* __restrict__ updates, int64_t n, ElementMap m,
                                        Reduction r) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t at;
    if (m.offset(i, int64_t(indices[i]), at)) apply_update(out + at, updates[i], r);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "GatherElements",
    "cuda_gather_elements",
    {},
    [](const NodeQuery& q) {
      return movable_element_size(q.input(0).dtype) && is_index_type(q.input(1).dtype) &&
             ranks_fit(q);
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const ElementMap m = element_map(rc.node, data.shape, indices.shape);
      dispatch_index(indices, [&](auto index_tag) {
        using I = typename decltype(index_tag)::type;
        dispatch_bits(rc.node, element_size(data.dtype), [&](auto tag) {
          using T = typename decltype(tag)::type;
          gather_elements_kernel<T, I><<<grid_for(n), kBlock, 0, rc.stream>>>(
              data.as<T>(), indices.as<I>(), out.as<T>(), n, m);
        });
      });
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "ScatterElements",
    "cuda_scatter_elements",
    {},
    [](const NodeQuery& q) {
      return scatter_supported(q.input(0).dtype, read_reduction(*q.node)) &&
             is_index_type(q.input(1).dtype) && ranks_fit(q);
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& updates = rc.input(2);
      const DeviceTensor& out = rc.output(0);
      copy_device(rc.node, data.data, out.data, out.nbytes(), rc.stream);
      const int64_t n = indices.numel();
      if (n == 0 || out.numel() == 0) return;
      const ElementMap m = element_map(rc.node, data.shape, indices.shape);
      const Reduction r = read_reduction(rc.node);
      dispatch_index(indices, [&](auto index_tag) {
        using I = typename decltype(index_tag)::type;
        dispatch_scatter_or_bits(rc.node, data.dtype, r, [&](auto tag) {
          using T = typename decltype(tag)::type;
          scatter_elements_kernel<T, I><<<grid_for(n), kBlock, 0, rc.stream>>>(
              out.as<T>(), indices.as<I>(), updates.as<T>(), n, m, r);
        });
      });
    }});

// ---------------------------------------------------------------------------------------------
// ScatterND: tuple t of k indices addresses a slice of data (dims k.. onward); update element
// i belongs to tuple i / slice.

struct NdMap {
  int k = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t slice = 1;
};

template <typename T>
__global__ void scatter_nd_kernel(T* __restrict__ out, const int64_t* __restrict__ indices,
                                  const T* __restrict__ updates, int64_t n, NdMap m, Reduction r) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t tuple = i / m.slice;
    int64_t at = i % m.slice;
    bool inside = true;
    for (int j = 0; j < m.k; ++j) {
      int64_t index = indices[tuple * m.k + j];
      inside = inside && resolve_index(index, m.dims[j]);
      at += index * m.strides[j];
    }
    if (inside) apply_update(out + at, updates[i], r);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "ScatterND",
    "cuda_scatter_nd",
    {},
    [](const NodeQuery& q) {
      const TensorInfo& indices = q.input(1);
      return scatter_supported(q.input(0).dtype, read_reduction(*q.node)) &&
             indices.dtype == DataType::kInt64 && !indices.shape.empty() &&
             indices.shape.back() <= kMaxRank;
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& updates = rc.input(2);
      const DeviceTensor& out = rc.output(0);
      copy_device(rc.node, data.data, out.data, out.nbytes(), rc.stream);
      const int64_t n = updates.numel();
      if (n == 0 || out.numel() == 0) return;
      NdMap m;
      m.k = int(indices.shape.back());
      const Dims strides = contiguous_strides(data.shape);
      for (int j = 0; j < m.k; ++j) {
        m.dims[j] = data.shape[size_t(j)];
        m.strides[j] = strides[size_t(j)];
      }
      for (size_t d = size_t(m.k); d < data.shape.size(); ++d) m.slice *= data.shape[d];
      const Reduction r = read_reduction(rc.node);
      dispatch_scatter_or_bits(rc.node, data.dtype, r, [&](auto tag) {
        using T = typename decltype(tag)::type;
        scatter_nd_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
            out.as<T>(), indices.as<int64_t>(), updates.as<T>(), n, m, r);
      });
    }});

// ---------------------------------------------------------------------------------------------
// MaxUnpool: the output is zero but for each X value, placed at the flat index I names in the
// unpooled tensor (the default output shape). With a larger output_shape the unpooled tensor
// sits at the output's origin (the reference's reading): an index maps through the unpooled
// multi-index to the output's strides.

struct UnpoolMap {
  int rank = 0;
  bool same_shape = true;
  int64_t unpooled_size = 0;
  int64_t unpooled_strides[kMaxRank] = {};
  int64_t out_strides[kMaxRank] = {};
};

template <typename T>
__global__ void max_unpool_kernel(const T* __restrict__ x, const int64_t* __restrict__ indices,
                                  T* __restrict__ out, int64_t n, UnpoolMap m) {
  KILN_GRID_STRIDE_LOOP(e, n) {
    const int64_t index = indices[e];
    if (index < 0 || index >= m.unpooled_size) continue;
    int64_t target = index;
    if (!m.same_shape) {
      int64_t rest = index;
      target = 0;
      for (int d = 0; d < m.rank; ++d) {
        target += rest / m.unpooled_strides[d] * m.out_strides[d];
        rest %= m.unpooled_strides[d];
      }
    }
    out[target] = x[e];
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "MaxUnpool",
    "cuda_max_unpool",
    {2},
    [](const NodeQuery& q) {
      return movable_element_size(q.input(0).dtype) && q.input(1).dtype == DataType::kInt64 &&
             ranks_fit(q);
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      if (out.nbytes() == 0) return;
      check_cuda(cudaMemsetAsync(out.data, 0, out.nbytes(), rc.stream), rc.node,
                 "clearing the output");
      const int64_t n = x.numel();
      if (n == 0) return;
      // The unpooled shape from the attributes (the reference's).
      const Dims unpooled = ops::max_unpool_default_shape(rc.node, x.shape);
      UnpoolMap m;
      m.rank = int(unpooled.size());
      m.unpooled_size = volume(unpooled);
      m.same_shape = unpooled == out.shape;
      const Dims unpooled_strides = contiguous_strides(unpooled);
      const Dims out_strides = contiguous_strides(out.shape);
      for (size_t d = 0; d < unpooled.size(); ++d) {
        m.unpooled_strides[d] = unpooled_strides[d];
        m.out_strides[d] = out_strides[d];
      }
      dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        max_unpool_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.input(1).as<int64_t>(), out.as<T>(), n, m);
      });
    }});

// ---------------------------------------------------------------------------------------------
// OneHot: out[outer, d, inner] = values[1] where indices[outer, inner] (negative counting from
// the end of depth) equals d, else values[0]. depth is read on the host (it sets the shape).

template <typename T, typename I>
__global__ void one_hot_kernel(const I* __restrict__ indices, const T* __restrict__ values,
                               T* __restrict__ out, int64_t n, int64_t depth, int64_t inner) {
  const T off = values[0], on = values[1];
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t pos = i % inner;
    const int64_t d = (i / inner) % depth;
    const int64_t outer = i / (inner * depth);
    int64_t index = int64_t(indices[outer * inner + pos]);
    if (index < 0) index += depth;
    out[i] = index == d ? on : off;
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "OneHot",
    "cuda_one_hot",
    {1},
    [](const NodeQuery& q) {
      const DataType t = q.input(0).dtype;
      const bool index_ok = t == DataType::kInt32 || t == DataType::kInt64 ||
                            t == DataType::kFloat32 || t == DataType::kFloat64;
      return index_ok && movable_element_size(q.input(2).dtype);
    },
    [](RunContext& rc) {
      const DeviceTensor& indices = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const int64_t depth = rc.host_input(1, "depth").as_int64(0);
      const int64_t rank = int64_t(indices.shape.size());
      int64_t axis = rc.node.attr_int("axis", -1);
      if (axis < 0) axis += rank + 1;
      int64_t inner = 1;
      for (int64_t d = axis; d < rank; ++d) inner *= indices.shape[size_t(d)];
      auto launch = [&](auto index_tag) {
        using I = typename decltype(index_tag)::type;
        dispatch_bits(rc.node, element_size(out.dtype), [&](auto tag) {
          using T = typename decltype(tag)::type;
          one_hot_kernel<T, I><<<grid_for(n), kBlock, 0, rc.stream>>>(
              indices.as<I>(), rc.input(2).as<T>(), out.as<T>(), n, depth, inner);
        });
      };
      switch (indices.dtype) {
        case DataType::kInt32:
          return launch(Tag<int32_t>{});
        case DataType::kInt64:
          return launch(Tag<int64_t>{});
        case DataType::kFloat32:
          return launch(Tag<float>{});
        default:
          return launch(Tag<double>{});
      }
    }});

}  // namespace
}  // namespace kiln::cuda
