// Building blocks of the row-wise kernels (softmax, layer and RMS normalization): a row of n
// contiguous elements is read once into registers, reduced across a warp (short rows) or a
// block (long rows), and written once. Loads and stores are 16-byte vectors when the row
// length and the pointers allow it, else coalesced scalars (lane l reads l, l + 32, ...).
// Statistics are float32 whatever the element type.
#pragma once

#include <initializer_list>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// Elements in one 16-byte vector.
template <typename T>
inline constexpr int kVecOf = int(16 / sizeof(T));

// Each thread keeps at most this many float32 values of its row in registers.
inline constexpr int kRowRegisterBudget = 32;
// Threads of a row kernel's block: 4 rows of one warp each, or one long row (512 threads leave
// each 128 registers, room for the row's 32 values without spilling).
inline constexpr int kWarpRowsPerBlock = 4;
inline constexpr int kMaxRowBlock = 512;

// Loads N contiguous elements (N = 1, or one 16-byte vector) as float32.
template <typename T, int N>
__device__ __forceinline__ void load_floats(const T* p, float (&out)[N]) {
  if constexpr (N == 1) {
    out[0] = to_float(*p);
  } else {
    static_assert(N * sizeof(T) == 16, "a vector is 16 bytes");
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    T values[N];
    memcpy(values, &raw, 16);
#pragma unroll
    for (int k = 0; k < N; ++k) out[k] = to_float(values[k]);
  }
}

template <typename T, int N>
__device__ __forceinline__ void store_floats(T* p, const float (&in)[N]) {
  if constexpr (N == 1) {
    *p = from_float<T>(in[0]);
  } else {
    T values[N];
#pragma unroll
    for (int k = 0; k < N; ++k) values[k] = from_float<T>(in[k]);
    uint4 raw;
    memcpy(&raw, values, 16);
    *reinterpret_cast<uint4*>(p) = raw;
  }
}

// max that lets a NaN through (either operand), as the CPU reference's comparisons do.
struct NanMax {
  __device__ __forceinline__ float operator()(float a, float b) const {
    return (a > b || isnan(a)) ? a : b;
  }
};
struct FloatSum {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};

template <typename Op>
__device__ __forceinline__ float warp_all_reduce(float v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

inline bool aligned_16(const void* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// How a row of n elements is spread over threads: kVec elements per access, kItems accesses
// per thread; `threads` threads per row (32: one warp; more: one block).
struct RowPlan {
  bool vectorized = false;
  // Power of two, 0 when the row does not fit in registers; a block row's is always
  // kRowRegisterBudget / kVec.
  int items = 0;
  int threads = 32;
};

inline int64_t next_power_of_two(int64_t v) {
  int64_t p = 1;
  while (p < v) p *= 2;
  return p;
}

// The plan for rows of n elements of `element_bytes` bytes: vectorized when n is a multiple of
// the vector width and each of `pointers` is 16-byte aligned (then every row start is); one
// warp per row while the row fits in a warp's registers, else the fewest threads (128 to
// kMaxRowBlock) of one block that hold it; items = 0 when not even kMaxRowBlock threads do.
inline RowPlan plan_rows(int64_t n, size_t element_bytes,
                         std::initializer_list<const void*> pointers) {
  RowPlan plan;
  const int64_t vec = int64_t(16 / element_bytes);
  plan.vectorized = n % vec == 0;
  for (const void* p : pointers) plan.vectorized = plan.vectorized && aligned_16(p);
  const int64_t width = plan.vectorized ? vec : 1;
  const int64_t accesses = (n + width - 1) / width;
  const int64_t max_items = kRowRegisterBudget / width;
  if (accesses <= 32 * max_items) {
    plan.threads = 32;
    plan.items = int(next_power_of_two((accesses + 31) / 32));
    return plan;
  }
  plan.threads = 128;
  while (plan.threads * max_items < accesses && plan.threads < kMaxRowBlock) plan.threads *= 2;
  // A block row always takes the full budget (the surplus is masked off), which keeps the
  // number of kernel instantiations down.
  if (plan.threads * max_items >= accesses) plan.items = int(max_items);
  return plan;
}

// Calls fn(std::integral_constant<int, K>) for K the power of two equal to `items`
// (1 <= items <= kMax).
template <int kMax, typename Fn>
void dispatch_items(const ir::Node& node, int items, Fn&& fn) {
  switch (items) {
    case 1:
      return fn(std::integral_constant<int, 1>{});
    case 2:
      if constexpr (kMax >= 2) return fn(std::integral_constant<int, 2>{});
      break;
    case 4:
      if constexpr (kMax >= 4) return fn(std::integral_constant<int, 4>{});
      break;
    case 8:
      if constexpr (kMax >= 8) return fn(std::integral_constant<int, 8>{});
      break;
    case 16:
      if constexpr (kMax >= 16) return fn(std::integral_constant<int, 16>{});
      break;
    case 32:
      if constexpr (kMax >= 32) return fn(std::integral_constant<int, 32>{});
      break;
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": no row kernel for ", items, " items per thread");
}

// Calls fn(Tag<T>, integral_constant<kVec>, integral_constant<kItems>) for the plan's shape.
template <typename T, typename Fn>
void dispatch_row_plan(const ir::Node& node, const RowPlan& plan, Fn&& fn) {
  if (plan.vectorized) {
    dispatch_items<kRowRegisterBudget / kVecOf<T>>(
        node, plan.items, [&](auto items) { fn(std::integral_constant<int, kVecOf<T>>{}, items); });
  } else {
    dispatch_items<kRowRegisterBudget>(
        node, plan.items, [&](auto items) { fn(std::integral_constant<int, 1>{}, items); });
  }
}

}  // namespace kiln::cuda
