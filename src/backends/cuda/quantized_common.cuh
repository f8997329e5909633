// Shared by the quantized CUDA families (quantize.cu, quantized_matmul.cu, quantized_conv.cu):
// element access for the 8-bit quantized types, the requantization arithmetic of
// src/ops/quantized_common.h done bit for bit on the GPU, and a tiled integer GEMM whose
// operand loads and output stores are functors (so that matmul and implicit-GEMM convolution
// share it).
//
// Bit-exactness with the CPU reference: every float operation that the CPU does as a separate
// multiply and add is written with __fmul_rn / __dmul_rn / __dadd_rn here, which nvcc never
// contracts into a fused multiply-add (that would round once instead of twice).
#pragma once

#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda::quant {

// ---------------------------------------------------------------------------------------------
// The 1-byte operand types of the quantized matmul / convolution ops, chosen at run time (a
// uniform branch per load is cheaper than one kernel per type combination).

enum class QType : uint8_t { kS8, kU8, kE4M3, kE5M2 };

inline bool qtype_of(DataType t, QType& q) {
  switch (t) {
    case DataType::kInt8:
      q = QType::kS8;
      return true;
    case DataType::kUInt8:
      q = QType::kU8;
      return true;
    case DataType::kFloat8E4M3:
      q = QType::kE4M3;
      return true;
    case DataType::kFloat8E5M2:
      q = QType::kE5M2;
      return true;
    default:
      return false;
  }
}

inline bool is_int8_type(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// An integer type's value (int8/uint8), as int32.
__device__ __forceinline__ int32_t load_int8(const uint8_t* p, int64_t i, QType t) {
  return t == QType::kS8 ? int32_t(int8_t(p[i])) : int32_t(p[i]);
}

// Any of the four types' value, as double (exact).
__device__ __forceinline__ double load_q_double(const uint8_t* p, int64_t i, QType t) {
  switch (t) {
    case QType::kS8:
      return double(int8_t(p[i]));
    case QType::kU8:
      return double(p[i]);
    case QType::kE4M3:
      return double(decode_e4m3(p[i]));
    case QType::kE5M2:
      return double(decode_e5m2(p[i]));
  }
  return 0.0;
}

// A scale of type float32, float16 or bfloat16, as float32 (exact).
__device__ __forceinline__ float load_scale(const void* p, int64_t i, DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return __half2float(static_cast<const half*>(p)[i]);
    case DataType::kBFloat16:
      return __bfloat162float(static_cast<const bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

// float32 `v` rounded to float16 / bfloat16 (any other type leaves it as is).
__device__ __forceinline__ float round_to(DataType t, float v) {
  switch (t) {
    case DataType::kFloat16:
      return __half2float(__float2half_rn(v));
    case DataType::kBFloat16:
      return __bfloat162float(__float2bfloat16_rn(v));
    default:
      return v;
  }
}

// in_scale * weight_scale / out_scale, rounded in the scales' type after each step
// (quantized::requantize_multiplier).
__device__ __forceinline__ double requantize_multiplier(DataType scale_type, float in_scale,
                                                        float weight_scale, float out_scale) {
  const float product = round_to(scale_type, __fmul_rn(in_scale, weight_scale));
  return double(round_to(scale_type, __fdiv_rn(product, out_scale)));
}

// quantized::store_quantized: int8/uint8 round half to even and saturate (NaN gives 0), float8
// rounds with saturation. `t` is the output's type.
__device__ __forceinline__ void store_quantized(uint8_t* y, int64_t i, QType t, double value) {
  switch (t) {
    case QType::kS8:
    case QType::kU8: {
      const double lo = t == QType::kS8 ? -128.0 : 0.0;
      const double hi = t == QType::kS8 ? 127.0 : 255.0;
      const double q = isnan(value) ? 0.0 : fmin(fmax(rint(value), lo), hi);
      y[i] = t == QType::kS8 ? uint8_t(int8_t(q)) : uint8_t(q);
      return;
    }
    case QType::kE4M3:
      y[i] = encode_e4m3(float(value), true);
      return;
    case QType::kE5M2:
      y[i] = encode_e5m2(float(value), true);
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Tiled GEMM: out[batch][m][n] = sum_k A(batch, m, k) * B(batch, k, n).
//
// LoadA / LoadB have `at(batch)` returning a view with operator()(row, k) / (k, col) that
// gives the operand's element (zero point already subtracted) as Elem; Store has `at(batch)`
// returning a view with operator()(row, col, Sum). Products of Elem are exact in Sum's range for
// the callers (int32 values of at most 255 * 255 in magnitude, or float8 values in double);
// Sum is uint32_t (the int32 wrap that MatMulInteger/ConvInteger allow), int64_t (exact), or
// double, where the sum runs in increasing k as on the CPU.

inline constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kGemmThreads = 256;

template <typename Sum, typename Elem>
__device__ __forceinline__ Sum multiply_add(Sum acc, Elem a, Elem b) {
  if constexpr (std::is_same_v<Sum, double>) {
    return __dadd_rn(acc, __dmul_rn(a, b));
  } else {
    return acc + Sum(a * b);  // uint32_t wraps; int64_t is exact
  }
}

template <typename Elem, typename Sum, typename LoadA, typename LoadB, typename Store>
__global__ void __launch_bounds__(kGemmThreads)
    tiled_gemm(int64_t batches, int64_t m, int64_t n, int64_t k, LoadA load_a, LoadB load_b,
               Store store) {
  // A tile transposed ([k][m], one padding column against bank conflicts), B tile as is.
  __shared__ Elem a_tile[kTileK][kTileM + 1];
  __shared__ Elem b_tile[kTileK][kTileN];
  const int tid = int(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int64_t row0 = int64_t(blockIdx.y) * kTileM;
  const int64_t col0 = int64_t(blockIdx.x) * kTileN;
  for (int64_t batch = blockIdx.z; batch < batches; batch += gridDim.z) {
    const auto a_view = load_a.at(batch);
    const auto b_view = load_b.at(batch);
    Sum acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = Sum(0);
    }
    for (int64_t k0 = 0; k0 < k; k0 += kTileK) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int idx = tid + i * kGemmThreads;
        // A: consecutive threads along k (A rows are k-contiguous).
        const int ar = idx / kTileK, ac = idx % kTileK;
        const int64_t arow = row0 + ar, ak = k0 + ac;
        a_tile[ac][ar] = arow < m && ak < k ? a_view(arow, ak) : Elem(0);
        // B: consecutive threads along n.
        const int br = idx / kTileN, bc = idx % kTileN;
        const int64_t bk = k0 + br, bcol = col0 + bc;
        b_tile[br][bc] = bk < k && bcol < n ? b_view(bk, bcol) : Elem(0);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        Elem a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = a_tile[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = b_tile[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = multiply_add(acc[i][j], a[i], b[j]);
        }
      }
      __syncthreads();
    }
    const auto out = store.at(batch);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = row0 + ty + 16 * i;
      if (row >= m) continue;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int64_t col = col0 + tx + 16 * j;
        if (col < n) out(row, col, acc[i][j]);
      }
    }
  }
}

// Launches tiled_gemm over `batches` products of [m, k] by [k, n]; throws naming the node when
// m is beyond the grid's reach.
template <typename Elem, typename Sum, typename LoadA, typename LoadB, typename Store>
void launch_tiled_gemm(const ir::Node& node, int64_t batches, int64_t m, int64_t n, int64_t k,
                       const LoadA& load_a, const LoadB& load_b, const Store& store,
                       cudaStream_t stream) {
  if (batches == 0 || m == 0 || n == 0) return;
  const int64_t grid_m = (m + kTileM - 1) / kTileM;
  const int64_t grid_n = (n + kTileN - 1) / kTileN;
  KILN_CHECK(grid_m <= 65535 && grid_n <= int64_t(INT32_MAX), ErrorCode::kUnsupported,
             node.describe(), ": a quantized product of ", m, " x ", n,
             " outputs per matrix is beyond the CUDA kernel's grid");
  const dim3 grid(unsigned(grid_n), unsigned(grid_m), unsigned(batches < 65535 ? batches : 65535));
  tiled_gemm<Elem, Sum><<<grid, kGemmThreads, 0, stream>>>(batches, m, n, k, load_a, load_b, store);
}

}  // namespace kiln::cuda::quant
