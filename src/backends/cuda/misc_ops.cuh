// Helpers shared by the CUDA kernels of TopK, NonMaxSuppression, Unique, Einsum, Det and
// TfIdfVectorizer: a grow-only device scratch buffer kept in the node's per-context state, and
// order-preserving integer keys for every sortable element type (so that radix sorts and
// composite (key, index) items compare values exactly as the CPU backend does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// ---------------------------------------------------------------------------------------------
// Scratch memory

// One device buffer, grown when a run needs more. Growing frees the old buffer: cudaFree
// waits for the device, so work still reading it has finished.
struct DeviceScratch {
  void* data = nullptr;
  size_t capacity = 0;
  DeviceScratch() = default;
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch() {
    if (data) cudaFree(data);
  }
  std::byte* get(const ir::Node& node, size_t bytes) {
    if (capacity < bytes) {
      if (data) cudaFree(data);
      data = nullptr;
      capacity = 0;
      check_cuda(cudaMalloc(&data, bytes), node, "allocating scratch memory");
      capacity = bytes;
    }
    return static_cast<std::byte*>(data);
  }
};

// Offsets of several arrays in one scratch buffer, each aligned to 256 bytes.
class ScratchLayout {
 public:
  size_t add(size_t bytes) {
    const size_t at = total_;
    total_ += (bytes + 255) / 256 * 256;
    return at;
  }
  size_t total() const { return total_ < 256 ? 256 : total_; }

 private:
  size_t total_ = 0;
};

// The kernel's per-node, per-context state of type S (created on first use).
template <typename S>
S& node_state(RunContext& rc) {
  KILN_CHECK(rc.state != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": no per-node state for the CUDA kernel");
  if (!*rc.state) *rc.state = std::make_shared<S>();
  return *std::static_pointer_cast<S>(*rc.state);
}

// ---------------------------------------------------------------------------------------------
// Order-preserving keys: key(a) < key(b) exactly when a < b as the CPU backend orders values,
// with every NaN equal to every other and above all numbers, and -0.0 equal to +0.0. Types of
// up to 4 bytes get 32-bit keys, 8-byte types 64-bit keys.

template <typename T>
struct KeyOf {
  using type = uint32_t;
};
template <>
struct KeyOf<double> {
  using type = uint64_t;
};
template <>
struct KeyOf<int64_t> {
  using type = uint64_t;
};
template <>
struct KeyOf<uint64_t> {
  using type = uint64_t;
};

__device__ __forceinline__ uint32_t float_key(float v) {
  if (isnan(v)) return 0xFFFFFFFFu;
  if (v == 0.0f) v = 0.0f;  // -0.0 ties with +0.0
  const uint32_t bits = __float_as_uint(v);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ uint64_t double_key(double v) {
  if (isnan(v)) return ~0ull;
  if (v == 0.0) v = 0.0;
  const uint64_t bits = uint64_t(__double_as_longlong(v));
  return (bits & 0x8000000000000000ull) ? ~bits : (bits | 0x8000000000000000ull);
}

template <typename T>
__device__ __forceinline__ typename KeyOf<T>::type order_key(T v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, half> ||
                std::is_same_v<T, bfloat16>) {
    return float_key(to_float(v));
  } else if constexpr (std::is_same_v<T, double>) {
    return double_key(v);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return uint64_t(v) ^ 0x8000000000000000ull;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return v;
  } else if constexpr (std::is_signed_v<T>) {
    return uint32_t(int32_t(v)) ^ 0x80000000u;
  } else {
    return uint32_t(v);
  }
}

// Host dispatch over the element types that have keys: fn(Tag<T>{}) with T the device storage
// type (bool as uint8_t). Returns false for a type without keys (float8).
template <typename Fn>
bool dispatch_keyed(DataType dtype, Fn&& fn) {
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
    case DataType::kInt8:
      fn(Tag<int8_t>{});
      return true;
    case DataType::kUInt8:
      fn(Tag<uint8_t>{});
      return true;
    case DataType::kBool:
      fn(Tag<uint8_t>{});
      return true;
    case DataType::kInt16:
      fn(Tag<int16_t>{});
      return true;
    case DataType::kUInt16:
      fn(Tag<uint16_t>{});
      return true;
    case DataType::kInt32:
      fn(Tag<int32_t>{});
      return true;
    case DataType::kUInt32:
      fn(Tag<uint32_t>{});
      return true;
    case DataType::kInt64:
      fn(Tag<int64_t>{});
      return true;
    case DataType::kUInt64:
      fn(Tag<uint64_t>{});
      return true;
    default:
      return false;
  }
}

inline bool has_order_key(DataType dtype) {
  return dtype != DataType::kFloat8E4M3 && dtype != DataType::kFloat8E5M2;
}

}  // namespace kiln::cuda
