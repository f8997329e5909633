// Helpers shared by the CUDA kernel families: element types (float16/bfloat16 storage with
// float32 math), flat-index to offset mapping for broadcasting and strided views, launch
// geometry and dtype dispatch on the host.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda {

// ---------------------------------------------------------------------------------------------
// Element access: every float type computes in float32.

using half = __half;
using bfloat16 = __nv_bfloat16;

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return float(v);
}
template <>
__device__ __forceinline__ float to_float<half>(half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_float<bfloat16>(bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v) {
  return T(v);
}
template <>
__device__ __forceinline__ half from_float<half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ bfloat16 from_float<bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// An element widened to the type A a kernel computes in (float or double; an integer type for
// kernels that also sum integers): float16 and bfloat16 through float, anything else by
// conversion (float32 to double is exact).
template <typename A, typename T>
__device__ __forceinline__ A widen_to(T v) {
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
    return A(to_float(v));
  } else {
    return A(v);
  }
}

// A value of type A stored as element type T, rounded once (float16/bfloat16 through float;
// integers truncate, as Tensor::cast).
template <typename T, typename A>
__device__ __forceinline__ T narrow_to(A v) {
  if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
    return from_float<T>(float(v));
  } else {
    return T(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Index mapping. A tensor is read through (dims, strides): the flat row-major index of an
// element of `dims` maps to sum(index[d] * strides[d]) (strides in elements; 0 broadcasts,
// negative steps backwards). Host code merges dims first, so most launches see rank 1 or 2.

inline constexpr int kMaxRank = 8;

template <int N>
struct StridedMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[N][kMaxRank] = {};

  // Offsets of element `flat` in each of the N tensors.
  __device__ __forceinline__ void offsets(int64_t flat, int64_t (&out)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t extent = dims[d];
      const int64_t i = flat % extent;
      flat /= extent;
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] += i * strides[k][d];
    }
  }
};

// Builds a StridedMap for `shape` read through per-tensor `strides` (each of shape.size()):
// drops extent-1 dims and merges neighbours that are contiguous in every tensor. Throws
// naming the node when the merged rank still exceeds kMaxRank.
template <int N>
StridedMap<N> make_strided_map(const ir::Node& node, const Dims& shape,
                               const std::array<Dims, N>& strides) {
  StridedMap<N> m;
  // Walk from the innermost dim outwards, merging where possible.
  std::vector<int64_t> dims;
  std::vector<std::array<int64_t, N>> st;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    std::array<int64_t, N> s{};
    for (int k = 0; k < N; ++k) s[size_t(k)] = strides[size_t(k)][d];
    if (!dims.empty()) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) {
        if (s[size_t(k)] != st.back()[size_t(k)] * dims.back()) mergeable = false;
      }
      if (mergeable) {
        dims.back() *= shape[d];
        continue;
      }
    }
    dims.push_back(shape[d]);
    st.push_back(s);
  }
  KILN_CHECK(dims.size() <= size_t(kMaxRank), ErrorCode::kUnsupported, node.describe(),
             ": the CUDA kernels handle up to ", kMaxRank, " non-mergeable dims, got shape ",
             to_string(shape));
  m.rank = int(dims.size());
  for (int d = 0; d < m.rank; ++d) {
    const size_t src = dims.size() - 1 - size_t(d);  // back to outermost-first
    m.dims[d] = dims[src];
    for (int k = 0; k < N; ++k) m.strides[k][d] = st[src][size_t(k)];
  }
  return m;
}

// Strides (elements) for reading a tensor of `shape` broadcast to `out` (right-aligned, 0
// where the tensor's extent is 1).
Dims broadcast_strides_to(const Dims& shape, const Dims& out);

// ---------------------------------------------------------------------------------------------
// Launch geometry: grid-stride loops over n elements.

inline constexpr int kBlock = 256;

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  return unsigned(blocks < 65536 * 8 ? (blocks < 1 ? 1 : blocks) : 65536 * 8);
}

#define KILN_GRID_STRIDE_LOOP(i, n)                                         \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)

// Combines one value per thread of the block with `op` (associative); every thread gets the
// result. `scratch` is shared memory for 32 values; blockDim.x is a multiple of 32.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int warp = int(threadIdx.x) / 32;
  const int lane = int(threadIdx.x) % 32;
  const int warps = int(blockDim.x) / 32;
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < warps; ++w) v = op(v, scratch[w]);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Host-side dtype dispatch: fn(Tag<T>{}) with T the device storage type.

template <typename T>
struct Tag {
  using type = T;
};

bool is_float16_or_32(DataType t);  // float32, float16, bfloat16

template <typename Fn>
void dispatch_float(const ir::Node& node, DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      return fn(Tag<float>{});
    case DataType::kFloat16:
      return fn(Tag<half>{});
    case DataType::kBFloat16:
      return fn(Tag<bfloat16>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": CUDA kernel launched for unsupported dtype ",
       to_string(dtype));
}

// Same, with float64 too (kernels that compute in double); false for other types.
template <typename Fn>
bool dispatch_float_or_double(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      fn(Tag<float>{});
      return true;
    case DataType::kFloat16:
      fn(Tag<half>{});
      return true;
    case DataType::kBFloat16:
      fn(Tag<bfloat16>{});
      return true;
    case DataType::kFloat64:
      fn(Tag<double>{});
      return true;
    default:
      return false;
  }
}

// Same, over an element size: fn(Tag<uint8_t / uint16_t / uint32_t / uint64_t>{}) for kernels
// that only move elements.
template <typename Fn>
void dispatch_bits(const ir::Node& node, size_t bytes, Fn&& fn) {
  switch (bytes) {
    case 1:
      return fn(Tag<uint8_t>{});
    case 2:
      return fn(Tag<uint16_t>{});
    case 4:
      return fn(Tag<uint32_t>{});
    case 8:
      return fn(Tag<uint64_t>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": no CUDA copy for elements of ", bytes, " bytes");
}

// Every input and output rank is at most kMaxRank (a common capability condition); the answer
// names the first tensor that has more.
KernelSupport ranks_fit(const NodeQuery& q);

}  // namespace kiln::cuda
