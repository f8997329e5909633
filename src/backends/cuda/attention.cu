// Attention (ONNX opset 23-25; src/ops/attention.cpp is the reference) as one fused kernel:
// the [q_seq, kv_seq] scores of a (batch, head) never reach memory. Three kernels:
//
// - attention_flash_kernel (FP16/BF16, the common case; FlashAttention-2 style): one pass over
//   the keys with an online softmax. 4 warps of 16 query rows, Q's fragments in registers, K/V
//   tiles of 64 keys through shared memory by cp.async (each load overlaps the other
//   product), ldmatrix (.trans for V), mma.sync m16n8k16 with FP32 accumulation, key tiles
//   that causality, a window, nonpad_kv_seqlen or the mask's extent rule out skipped, masks
//   read per tile. Needs 16-byte aligned rows and head sizes up to 128 (padded to 64 or 128).
// - attention_mma_kernel (FP16/BF16, the rest: head sizes up to 32, unaligned rows, a softmax
//   in a third type): two passes, the first for each row's maximum. Knowing the maximum before
//   exponentiating lets it round every intermediate the way the reference (the ONNX pattern run
//   in Q's type) materializes it.
// - attention_simt_kernel (FP32, CUDA cores, two passes).
//
// Both FP16/BF16 kernels round as the reference does: Q and K pre-scaled by sqrt(scale) in Q's
// type, the logits, softcapped logits and biased logits in Q's type, the softmax's shifted
// scores, exponentials and sum in softmax_precision's type; results land within an ulp or two
// of the reference (the one-pass kernel exactly as the two-pass one where a row's keys fit one
// tile; see attention_flash_kernel for more tiles).
//
// Supported: head sizes up to 128 (Q/K and V may differ); grouped-query heads, 3-D and 4-D
// layouts, a boolean or additive mask of any broadcast, is_causal, sliding windows,
// nonpad_kv_seqlen, softcap, past_key/past_value (read in place; present_key/present_value are
// written by a copy kernel). qk_matmul_output (all four modes) comes from a simple per-row kernel
// (one thread per query row): it exists for completeness, not speed.
//
// Speed (H100, FP16, kiln exec medians; the unfused chain is cuBLASLt products + softmax):
// BERT-base [32, 12, 128, 64] with a padding mask 45.7 us (unfused 101 us, the two-pass kernel
// alone 173 us); ViT-B/16 [64, 12, 197, 64] 168 us (304); [4, 16, 1024, 64] 211 us (316);
// causal [4, 16, 1024, 128] 375 us (434); GPT-2 batch 1 causal [1, 12, 128, 64] 17.0 us
// (14.1: 24 blocks cannot fill the GPU). Still far from the tensor cores' peak (35-80 TFLOP/s):
// the per-score roundings that mimic the reference cost conversions, and 4-warp blocks with
// two barriers per key tile leave latency exposed; next steps are half2 arithmetic for the
// rounded stages, 128-row blocks for long sequences, and splitting the keys for tiny grids.
#include <cmath>
#include <type_traits>

#include "backends/cuda/cuda_common.cuh"
#include "core/half.h"

namespace kiln::cuda {
namespace {

enum Input : size_t { kQ, kK, kV, kMask, kPastKey, kPastValue, kNonpadKvSeqlen };
enum Output : size_t { kY, kPresentKey, kPresentValue, kQkMatmul };

// The type an intermediate result is rounded to (kNone: float32 or wider, kept as computed).
enum class Rounding : int { kNone, kHalf, kBFloat16 };
enum class MaskKind : int { kNone, kBool, kFloat32, kFloat16, kBFloat16 };

// Element strides of Q/K/V/Y seen as (batch, head, seq, channel), channels contiguous.
struct Strides {
  int64_t batch = 0, head = 0, seq = 0;
};

struct AttentionParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* past_k = nullptr;  // [batch, kv_heads, past_seq, head_size], contiguous
  const void* past_v = nullptr;
  void* y = nullptr;
  Strides q_strides, k_strides, v_strides, y_strides;
  int batch = 0, q_heads = 0, kv_heads = 0, q_seq = 0, kv_seq = 0, past_seq = 0, total_kv = 0;
  int head_size = 0, v_head_size = 0;
  float qk_factor = 1;  // sqrt(scale) in Q's type, multiplying Q and K as they are loaded
  float softcap = 0;
  Rounding t1_round = Rounding::kNone;
  Rounding softmax_round = Rounding::kNone;
  const void* mask = nullptr;
  MaskKind mask_kind = MaskKind::kNone;
  int64_t mask_strides[4] = {};  // over (batch, q_head, query, key); 0 broadcasts
  int mask_len = 0;              // keys at or past the mask's last extent are masked
  bool causal = false;
  int64_t left_window = -1, right_window = -1;
  const int64_t* nonpad = nullptr;  // [batch] on the device, or nullptr
  // 16-byte loads are possible (channels a multiple of 8, rows and pointers aligned).
  bool q_vectorized = false, k_vectorized = false, v_vectorized = false;
};

__device__ __forceinline__ float round_as(Rounding r, float x) {
  if (r == Rounding::kHalf) return __half2float(__float2half_rn(x));
  if (r == Rounding::kBFloat16) return __bfloat162float(__float2bfloat16_rn(x));
  return x;
}

// NaN-propagating maximum (the reference's max over a row is).
__device__ __forceinline__ float nan_max(float a, float b) { return (a > b || isnan(a)) ? a : b; }

// What every score of one (batch, head) needs.
struct HeadContext {
  int b = 0, h = 0, kv_head = 0;
  int64_t offset = 0;        // keys before query 0: the past length, or nonpad - q_seq
  int64_t nonpad_limit = 0;  // keys at or past it are masked
};

__device__ __forceinline__ HeadContext head_context(const AttentionParams& p, int b, int h) {
  HeadContext c;
  c.b = b;
  c.h = h;
  c.kv_head = h / (p.q_heads / p.kv_heads);
  c.nonpad_limit = p.nonpad ? p.nonpad[b] : int64_t(p.total_kv);
  c.offset = (p.past_seq > 0 || !p.nonpad) ? int64_t(p.past_seq) : c.nonpad_limit - p.q_seq;
  return c;
}

// The keys [begin, end) that can matter to query rows [first, last]: the others are masked
// with -inf for every one of those rows by causality, the window, nonpad_kv_seqlen or the
// mask's extent.
__device__ __forceinline__ void key_range(const AttentionParams& p, const HeadContext& c, int first,
                                          int last, int& begin, int& end) {
  int64_t lo = 0, hi = p.total_kv;
  hi = min(hi, max(c.nonpad_limit, int64_t(0)));
  if (p.mask_kind != MaskKind::kNone) hi = min(hi, int64_t(p.mask_len));
  if (p.causal) hi = min(hi, c.offset + last + 1);
  if (p.right_window >= 0) hi = min(hi, c.offset + last + p.right_window + 1);
  if (p.left_window >= 0) lo = max(lo, c.offset + first - p.left_window);
  begin = int(lo);
  end = int(max(hi, lo));
}

__device__ __forceinline__ float mask_value(const AttentionParams& p, const HeadContext& c, int i,
                                            int j) {
  if (j >= p.mask_len) return -INFINITY;
  const int64_t at = c.b * p.mask_strides[0] + c.h * p.mask_strides[1] +
                     int64_t(i) * p.mask_strides[2] + int64_t(j) * p.mask_strides[3];
  switch (p.mask_kind) {
    case MaskKind::kBool:
      return static_cast<const bool*>(p.mask)[at] ? 0.0f : -INFINITY;
    case MaskKind::kFloat32:
      return static_cast<const float*>(p.mask)[at];
    case MaskKind::kFloat16:
      return __half2float(static_cast<const half*>(p.mask)[at]);
    case MaskKind::kBFloat16:
      return __bfloat162float(static_cast<const bfloat16*>(p.mask)[at]);
    default:
      return 0.0f;
  }
}

// The stages of one score as the reference materializes them (each rounded to Q's type).
struct Score {
  float bias, logit, capped, biased;
};

__device__ __forceinline__ Score score_of(const AttentionParams& p, const HeadContext& c, float dot,
                                          int i, int j) {
  float bias = p.mask_kind != MaskKind::kNone ? mask_value(p, c, i, j) : 0.0f;
  const int64_t position = c.offset + i;
  if (p.causal && j > position) bias += -INFINITY;
  const int64_t distance = position - j;  // > 0: the key precedes the query
  if ((p.left_window >= 0 && distance > p.left_window) ||
      (p.right_window >= 0 && -distance > p.right_window)) {
    bias += -INFINITY;
  }
  if (j >= c.nonpad_limit) bias += -INFINITY;
  Score s;
  s.bias = round_as(p.t1_round, bias);
  s.logit = round_as(p.t1_round, dot);
  s.capped = p.softcap > 0 ? round_as(p.t1_round, p.softcap * tanhf(s.logit / p.softcap)) : s.logit;
  s.biased = round_as(p.t1_round, s.capped + s.bias);
  return s;
}

// The softmax's input for query i and key j.
__device__ __forceinline__ float softmax_input(const AttentionParams& p, const HeadContext& c,
                                               float dot, int i, int j) {
  return round_as(p.softmax_round, score_of(p, c, dot, i, j).biased);
}

// exp(x - shift) as the softmax computes it in its type.
__device__ __forceinline__ float softmax_exp(const AttentionParams& p, float x, float shift) {
  return round_as(p.softmax_round, expf(round_as(p.softmax_round, x - shift)));
}

// Rows of one (batch, head) of K or V: rows before `split` come from the past tensor
// (contiguous rows of `past_stride`), the others from the current input (`stride` apart).
template <typename T>
struct Rows {
  const T* past = nullptr;
  int split = 0;
  int64_t past_stride = 0;
  const T* current = nullptr;
  int64_t stride = 0;

  __device__ __forceinline__ const T* row(int r) const {
    return r < split ? past + int64_t(r) * past_stride : current + int64_t(r - split) * stride;
  }
};

template <typename T>
__device__ __forceinline__ Rows<T> key_rows(const AttentionParams& p, const HeadContext& c) {
  Rows<T> r;
  r.split = p.past_seq;
  r.past_stride = p.head_size;
  if (p.past_k) {
    r.past = static_cast<const T*>(p.past_k) +
             (int64_t(c.b) * p.kv_heads + c.kv_head) * p.past_seq * p.head_size;
  }
  r.current = static_cast<const T*>(p.k) + c.b * p.k_strides.batch + c.kv_head * p.k_strides.head;
  r.stride = p.k_strides.seq;
  return r;
}

template <typename T>
__device__ __forceinline__ Rows<T> value_rows(const AttentionParams& p, const HeadContext& c) {
  Rows<T> r;
  r.split = p.past_seq;
  r.past_stride = p.v_head_size;
  if (p.past_v) {
    r.past = static_cast<const T*>(p.past_v) +
             (int64_t(c.b) * p.kv_heads + c.kv_head) * p.past_seq * p.v_head_size;
  }
  r.current = static_cast<const T*>(p.v) + c.b * p.v_strides.batch + c.kv_head * p.v_strides.head;
  r.stride = p.v_strides.seq;
  return r;
}

template <typename T>
__device__ __forceinline__ Rows<T> query_rows(const AttentionParams& p, const HeadContext& c) {
  Rows<T> r;
  r.current = static_cast<const T*>(p.q) + c.b * p.q_strides.batch + c.h * p.q_strides.head;
  r.stride = p.q_strides.seq;
  return r;
}

// ---------------------------------------------------------------------------------------------
// FP16/BF16: tensor cores.

constexpr int kMmaWarps = 4;
constexpr int kMmaThreads = 32 * kMmaWarps;
constexpr int kMmaBlockM = 16 * kMmaWarps;  // query rows per block
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t load_pair(const uint16_t* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  if constexpr (std::is_same_v<T, half>) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// `x` rounded to T (a compile-time Rounding).
template <typename T>
__device__ __forceinline__ float round_to_t(float x) {
  return to_float(from_float<T>(x));
}

// c += a (16x16, row-major fragments) * b (16x8, column-major fragments), FP32 accumulation.
template <typename T>
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                            uint32_t b1) {
  if constexpr (std::is_same_v<T, half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Copies rows [first, first + valid) of `src` into a shared tile of kRows rows of kDim
// channels (kDim + 8 apart, so that fragment reads hit distinct banks), multiplied by
// `factor` (rounded back to T); channels past `cols` and rows past `valid` are zero. Every
// thread issues all its loads before storing any, so that their latencies overlap.
template <typename T, int kDim, int kRows>
__device__ __forceinline__ void load_tile(uint16_t* tile, int valid, int cols, bool vectorized,
                                          float factor, const Rows<T>& src, int first) {
  constexpr int kChunks = kDim / 8;
  constexpr int kStride = kDim + 8;
  constexpr int kPerThread = kRows * kChunks / kMmaThreads;
  static_assert(kRows * kChunks % kMmaThreads == 0, "tile chunks must divide among the threads");
  union Chunk {
    uint4 bits;
    T values[8];
  };
  Chunk chunks[kPerThread];
#pragma unroll
  for (int it = 0; it < kPerThread; ++it) {
    const int idx = int(threadIdx.x) + it * kMmaThreads;
    const int r = idx / kChunks;
    const int c = (idx % kChunks) * 8;
    if (r < valid && vectorized && c + 8 <= cols) {
      chunks[it].bits = *reinterpret_cast<const uint4*>(src.row(first + r) + c);
    } else {
      const T* line = r < valid ? src.row(first + r) : nullptr;
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        chunks[it].values[e] = line && c + e < cols ? line[c + e] : from_float<T>(0.0f);
      }
    }
  }
#pragma unroll
  for (int it = 0; it < kPerThread; ++it) {
    const int idx = int(threadIdx.x) + it * kMmaThreads;
    if (factor != 1.0f) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        chunks[it].values[e] = from_float<T>(to_float(chunks[it].values[e]) * factor);
      }
    }
    *reinterpret_cast<uint4*>(tile + (idx / kChunks) * kStride + (idx % kChunks) * 8) =
        chunks[it].bits;
  }
}

// The additive bias (mask, causality, window, nonpad_kv_seqlen; rounded to T) of query rows
// [i0, i0 + kMmaBlockM) and keys [j0, j0 + kBlockN) into a shared tile, computed once per
// tile by the whole block with coalesced mask reads instead of per score.
template <typename T, int kBlockN>
__device__ __forceinline__ void fill_bias(const AttentionParams& p, const HeadContext& c,
                                          float* tile, int i0, int j0) {
  constexpr int kStride = kBlockN + 4;
  constexpr int kPerThread = kMmaBlockM * kBlockN / kMmaThreads;
  constexpr int kGroup = 8;  // mask loads in flight at once (more would cost registers)
  static_assert(kPerThread % kGroup == 0, "bias entries must divide into groups");
  const int64_t base = c.b * p.mask_strides[0] + c.h * p.mask_strides[1];
#pragma unroll 1
  for (int first = 0; first < kPerThread; first += kGroup) {
    float mask[kGroup];
#pragma unroll
    for (int it = 0; it < kGroup; ++it) {
      const int idx = int(threadIdx.x) + (first + it) * kMmaThreads;
      const int i = min(i0 + idx / kBlockN, p.q_seq - 1), j = j0 + idx % kBlockN;
      const int64_t at = base + int64_t(i) * p.mask_strides[2] + int64_t(j) * p.mask_strides[3];
      if (p.mask_kind == MaskKind::kNone) {
        mask[it] = 0.0f;
      } else if (j >= p.mask_len) {
        mask[it] = -INFINITY;
      } else if (p.mask_kind == MaskKind::kFloat16) {
        mask[it] = __half2float(static_cast<const half*>(p.mask)[at]);
      } else if (p.mask_kind == MaskKind::kBFloat16) {
        mask[it] = __bfloat162float(static_cast<const bfloat16*>(p.mask)[at]);
      } else if (p.mask_kind == MaskKind::kFloat32) {
        mask[it] = static_cast<const float*>(p.mask)[at];
      } else {
        mask[it] = static_cast<const bool*>(p.mask)[at] ? 0.0f : -INFINITY;
      }
    }
#pragma unroll
    for (int it = 0; it < kGroup; ++it) {
      const int idx = int(threadIdx.x) + (first + it) * kMmaThreads;
      const int r = idx / kBlockN, col = idx % kBlockN;
      const int i = min(i0 + r, p.q_seq - 1), j = j0 + col;
      float bias = mask[it];
      const int64_t position = c.offset + i;
      if (p.causal && j > position) bias += -INFINITY;
      const int64_t distance = position - j;
      if ((p.left_window >= 0 && distance > p.left_window) ||
          (p.right_window >= 0 && -distance > p.right_window)) {
        bias += -INFINITY;
      }
      if (j >= c.nonpad_limit) bias += -INFINITY;
      tile[r * kStride + col] = round_to_t<T>(bias);
    }
  }
}

// Scores of this warp's 16 query rows (A fragments `qa`) against the kBlockN keys of the tile.
template <int kDim, int kBlockN, typename T>
__device__ __forceinline__ void tile_scores(const uint32_t (&qa)[kDim / 16][4],
                                            const uint16_t* k_tile, float (&s)[kBlockN / 8][4],
                                            int g, int t) {
  constexpr int kStride = kDim + 8;
#pragma unroll
  for (int nt = 0; nt < kBlockN / 8; ++nt) {
    s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
    const uint16_t* key = k_tile + (nt * 8 + g) * kStride + 2 * t;
#pragma unroll
    for (int kc = 0; kc < kDim / 16; ++kc) {
      mma_16x8x16<T>(s[nt], qa[kc], load_pair(key + kc * 16), load_pair(key + kc * 16 + 8));
    }
  }
}

// The softmax's input from a dot product and its bias, as score_of/softmax_input compute it,
// with the rounding to Q's type known at compile time.
template <typename T>
__device__ __forceinline__ float mma_softmax_input(const AttentionParams& p, float dot,
                                                   float bias) {
  float logit = round_to_t<T>(dot);
  if (p.softcap > 0.0f) logit = round_to_t<T>(p.softcap * tanhf(logit / p.softcap));
  return round_as(p.softmax_round, round_to_t<T>(logit + bias));
}

// Head sizes up to 64 fit 4 blocks per SM in 128 registers a thread; 128 needs more.
template <typename T, int kDim, int kBlockN, bool kBias>
__global__ void __launch_bounds__(kMmaThreads, kDim > 64 ? 2 : 4)
    attention_mma_kernel(const AttentionParams p) {
  constexpr int kStride = kDim + 8;
  constexpr int kBiasStride = kBlockN + 4;
  __shared__ alignas(16) uint16_t q_tile[kMmaBlockM * kStride];
  __shared__ alignas(16) uint16_t k_tile[kBlockN * kStride];
  __shared__ alignas(16) uint16_t v_tile[kBlockN * kStride];
  __shared__ alignas(16) float bias_tile[kBias ? kMmaBlockM * kBiasStride : 2];

  const int i0 = int(blockIdx.x) * kMmaBlockM;
  const HeadContext ctx = head_context(p, int(blockIdx.z), int(blockIdx.y));
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;  // the fragments' row group and column pair
  const int last_row = min(i0 + kMmaBlockM, p.q_seq) - 1;
  int key_begin = 0, key_end = 0;
  key_range(p, ctx, i0, last_row, key_begin, key_end);

  load_tile<T, kDim, kMmaBlockM>(q_tile, last_row - i0 + 1, p.head_size, p.q_vectorized,
                                 p.qk_factor, query_rows<T>(p, ctx), i0);
  __syncthreads();
  uint32_t qa[kDim / 16][4];
  {
    const uint16_t* r0 = q_tile + (warp * 16 + g) * kStride + 2 * t;
    const uint16_t* r8 = r0 + 8 * kStride;
#pragma unroll
    for (int kc = 0; kc < kDim / 16; ++kc) {
      qa[kc][0] = load_pair(r0 + kc * 16);
      qa[kc][1] = load_pair(r8 + kc * 16);
      qa[kc][2] = load_pair(r0 + kc * 16 + 8);
      qa[kc][3] = load_pair(r8 + kc * 16 + 8);
    }
  }
  const int row0 = i0 + warp * 16 + g, row8 = row0 + 8;
  // This thread's bias entries: rows (warp * 16 + g) and (+ 8), columns 2 t, 2 t + 1 of each
  // 8-key group.
  const float* bias0 = bias_tile + (warp * 16 + g) * kBiasStride + 2 * t;
  const float* bias8 = bias0 + 8 * kBiasStride;
  const Rows<T> keys = key_rows<T>(p, ctx), values = value_rows<T>(p, ctx);

  // The softmax inputs of a tile's scores, in place.
  auto inputs = [&](float(&s)[kBlockN / 8][4], int j0) {
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = j0 + nt * 8 + 2 * t + (e & 1);
        float bias = 0.0f;
        if constexpr (kBias) bias = (e < 2 ? bias0 : bias8)[nt * 8 + (e & 1)];
        s[nt][e] = j < key_end ? mma_softmax_input<T>(p, s[nt][e], bias) : -INFINITY;
      }
    }
  };

  // Pass 1: each row's maximum (this thread's share, then across the row's four threads).
  float max0 = -INFINITY, max8 = -INFINITY;
  for (int j0 = key_begin; j0 < key_end; j0 += kBlockN) {
    __syncthreads();
    load_tile<T, kDim, kBlockN>(k_tile, min(kBlockN, key_end - j0), p.head_size, p.k_vectorized,
                                p.qk_factor, keys, j0);
    if constexpr (kBias) fill_bias<T, kBlockN>(p, ctx, bias_tile, i0, j0);
    __syncthreads();
    float s[kBlockN / 8][4];
    tile_scores<kDim, kBlockN, T>(qa, k_tile, s, g, t);
    inputs(s, j0);
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
      max0 = nan_max(max0, nan_max(s[nt][0], s[nt][1]));
      max8 = nan_max(max8, nan_max(s[nt][2], s[nt][3]));
    }
  }
#pragma unroll
  for (int o = 1; o < 4; o <<= 1) {
    max0 = nan_max(max0, __shfl_xor_sync(0xffffffffu, max0, o));
    max8 = nan_max(max8, __shfl_xor_sync(0xffffffffu, max8, o));
  }
  // A row masked everywhere has maximum -inf: its exponentials are all 0, and so is its output.
  const float shift0 = max0 == -INFINITY ? 0.0f : max0;
  const float shift8 = max8 == -INFINITY ? 0.0f : max8;

  // Pass 2: exponentials, their sums and exp @ V.
  float acc[kDim / 8][4];
#pragma unroll
  for (int dt = 0; dt < kDim / 8; ++dt) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
  float sum0 = 0.0f, sum8 = 0.0f;
  for (int j0 = key_begin; j0 < key_end; j0 += kBlockN) {
    const int valid = min(kBlockN, key_end - j0);
    __syncthreads();
    load_tile<T, kDim, kBlockN>(k_tile, valid, p.head_size, p.k_vectorized, p.qk_factor, keys, j0);
    load_tile<T, kDim, kBlockN>(v_tile, valid, p.v_head_size, p.v_vectorized, 1.0f, values, j0);
    if constexpr (kBias) fill_bias<T, kBlockN>(p, ctx, bias_tile, i0, j0);
    __syncthreads();
    float s[kBlockN / 8][4];
    tile_scores<kDim, kBlockN, T>(qa, k_tile, s, g, t);
    inputs(s, j0);
#pragma unroll
    for (int nt = 0; nt < kBlockN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        // exp(x - shift) rounded as the softmax's type would; x = -inf (masked) gives 0.
        const float shifted = round_as(p.softmax_round, s[nt][e] - (e < 2 ? shift0 : shift8));
        const float ex = round_as(p.softmax_round, exp2f(shifted * kLog2e));
        s[nt][e] = ex;
        if (e < 2) {
          sum0 += ex;
        } else {
          sum8 += ex;
        }
      }
    }
    // The accumulator layout of two 8-key column tiles is the A layout of one 16-key slice.
#pragma unroll
    for (int kc = 0; kc < kBlockN / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack_pair<T>(s[2 * kc][0], s[2 * kc][1]);
      pa[1] = pack_pair<T>(s[2 * kc][2], s[2 * kc][3]);
      pa[2] = pack_pair<T>(s[2 * kc + 1][0], s[2 * kc + 1][1]);
      pa[3] = pack_pair<T>(s[2 * kc + 1][2], s[2 * kc + 1][3]);
      const uint16_t* v_rows = v_tile + (kc * 16 + 2 * t) * kStride + g;
#pragma unroll
      for (int dt = 0; dt < kDim / 8; ++dt) {
        const uint16_t* col = v_rows + dt * 8;
        const uint32_t b0 = uint32_t(col[0]) | (uint32_t(col[kStride]) << 16);
        const uint32_t b1 = uint32_t(col[8 * kStride]) | (uint32_t(col[9 * kStride]) << 16);
        mma_16x8x16<T>(acc[dt], pa, b0, b1);
      }
    }
  }
#pragma unroll
  for (int o = 1; o < 4; o <<= 1) {
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, o);
    sum8 += __shfl_xor_sync(0xffffffffu, sum8, o);
  }
  float total0 = round_as(p.softmax_round, sum0), total8 = round_as(p.softmax_round, sum8);
  if (total0 == 0.0f) total0 = 1.0f;  // a fully masked row: its accumulators are 0 too
  if (total8 == 0.0f) total8 = 1.0f;
  const float inv0 = 1.0f / total0, inv8 = 1.0f / total8;

  T* y = static_cast<T*>(p.y) + ctx.b * p.y_strides.batch + ctx.h * p.y_strides.head;
#pragma unroll
  for (int dt = 0; dt < kDim / 8; ++dt) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = e < 2 ? row0 : row8;
      const int col = dt * 8 + 2 * t + (e & 1);
      if (row < p.q_seq && col < p.v_head_size) {
        y[int64_t(row) * p.y_strides.seq + col] = from_float<T>(acc[dt][e] * (e < 2 ? inv0 : inv8));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// FP16/BF16, one pass (FlashAttention-2 style): the common case, much faster than the exact
// two-pass kernel above. A block of 4 warps owns 64 query rows (16 a warp) of one
// (batch, head); Q's fragments stay in registers; key and value tiles of kFlashBlockN rows
// arrive through shared memory by cp.async (the next key tile loads while P @ V runs, the
// value tile while Q K^T runs); ldmatrix reads the fragments (.trans for V). The softmax is
// online: each row keeps a running maximum and sum in FP32, and the accumulators are rescaled
// when the maximum grows. Each score is still rounded as the reference rounds it (Q and K
// pre-scaled in T, the logit, the biased logit, the shifted score and its exponential), so
// where all of a row's keys fit one tile (every conformance case) the result is the two-pass
// kernel's; with more tiles, only the exponentials of earlier tiles differ, by the rounding of
// exp(x - m_old) instead of exp(x - m_new) (about one T ulp on a probability).
//
// Needs 16-byte aligned rows (head sizes a multiple of 8, padded to kDim = 64 or 128) and a
// softmax_precision of T or float32; the two-pass kernel takes the rest.

constexpr int kFlashWarps = 4;
constexpr int kFlashThreads = 32 * kFlashWarps;
constexpr int kFlashBlockM = 16 * kFlashWarps;
constexpr int kFlashBlockN = 64;

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; zero-filled when !valid (nothing is read then).
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}

// Issues the loads of rows [first, first + valid) of `src` (channels [0, cols), cols a multiple
// of 8) into a tile of kRows x kDim (rows kDim + 8 apart); the rest of the tile is zero.
template <typename T, int kDim, int kRows>
__device__ __forceinline__ void async_tile(uint16_t* tile, const Rows<T>& src, int first, int valid,
                                           int cols) {
  constexpr int kChunks = kDim / 8;
  static_assert(kRows * kChunks % kFlashThreads == 0, "tile chunks must divide among threads");
#pragma unroll
  for (int it = 0; it < kRows * kChunks / kFlashThreads; ++it) {
    const int idx = int(threadIdx.x) + it * kFlashThreads;
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const bool ok = r < valid && c < cols;
    cp_async_16(tile + r * (kDim + 8) + c, ok ? src.row(first + r) + c : src.current, ok);
  }
}

// Multiplies the chunks this thread loaded with async_tile by `factor`, rounding to T (the
// reference's K * sqrt(scale)); the thread's own cp.async writes are visible to it after the
// wait, the other threads see the result after the next barrier.
template <typename T, int kDim, int kRows>
__device__ __forceinline__ void scale_own_chunks(uint16_t* tile, float factor) {
  constexpr int kChunks = kDim / 8;
  union Chunk {
    uint4 bits;
    T values[8];
  };
#pragma unroll
  for (int it = 0; it < kRows * kChunks / kFlashThreads; ++it) {
    const int idx = int(threadIdx.x) + it * kFlashThreads;
    uint4* at = reinterpret_cast<uint4*>(tile + (idx / kChunks) * (kDim + 8) + (idx % kChunks) * 8);
    Chunk chunk;
    chunk.bits = *at;
#pragma unroll
    for (int e = 0; e < 8; ++e) chunk.values[e] = from_float<T>(to_float(chunk.values[e]) * factor);
    *at = chunk.bits;
  }
}

// A packed pair of T multiplied by `factor`, each rounded to T.
template <typename T>
__device__ __forceinline__ uint32_t scale_pair(uint32_t bits, float factor) {
  union {
    uint32_t u;
    T v[2];
  } pair;
  pair.u = bits;
  return pack_pair<T>(to_float(pair.v[0]) * factor, to_float(pair.v[1]) * factor);
}

// The additive bias of query row `i` and key `j` (mask, causality, window; nonpad_kv_seqlen and
// the mask's extent are in key_end), as fill_bias computes it, before rounding.
__device__ __forceinline__ float flash_bias(const AttentionParams& p, const HeadContext& c,
                                            int64_t mask_row, int i, int j) {
  float bias = 0.0f;
  if (p.mask_kind != MaskKind::kNone) {
    const int64_t at = mask_row + int64_t(j) * p.mask_strides[3];
    switch (p.mask_kind) {
      case MaskKind::kFloat16:
        bias = __half2float(static_cast<const half*>(p.mask)[at]);
        break;
      case MaskKind::kBFloat16:
        bias = __bfloat162float(static_cast<const bfloat16*>(p.mask)[at]);
        break;
      case MaskKind::kFloat32:
        bias = static_cast<const float*>(p.mask)[at];
        break;
      default:
        bias = static_cast<const bool*>(p.mask)[at] ? 0.0f : -INFINITY;
        break;
    }
  }
  const int64_t position = c.offset + i;
  if (p.causal && j > position) bias += -INFINITY;
  const int64_t distance = position - j;
  if ((p.left_window >= 0 && distance > p.left_window) ||
      (p.right_window >= 0 && -distance > p.right_window)) {
    bias += -INFINITY;
  }
  return bias;
}

// kRound: the softmax rounds to T (softmax_precision T), else it runs in float32.
template <typename T, int kDim, bool kRound>
__global__ void __launch_bounds__(kFlashThreads, kDim > 64 ? 2 : 4)
    attention_flash_kernel(const AttentionParams p) {
  constexpr int kStride = kDim + 8;
  constexpr int kN = kFlashBlockN;
  extern __shared__ __align__(16) uint16_t flash_smem[];
  uint16_t* q_tile = flash_smem;  // later the output staging tile
  uint16_t* k_tile = q_tile + kFlashBlockM * kStride;
  uint16_t* v_tile = k_tile + kN * kStride;

  const int i0 = int(blockIdx.x) * kFlashBlockM;
  const HeadContext ctx = head_context(p, int(blockIdx.z), int(blockIdx.y));
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int last_row = min(i0 + kFlashBlockM, p.q_seq) - 1;
  int key_begin = 0, key_end = 0;
  key_range(p, ctx, i0, last_row, key_begin, key_end);
  const int tiles = (key_end - key_begin + kN - 1) / kN;
  const Rows<T> keys = key_rows<T>(p, ctx), values = value_rows<T>(p, ctx);

  async_tile<T, kDim, kFlashBlockM>(q_tile, query_rows<T>(p, ctx), i0, last_row - i0 + 1,
                                    p.head_size);
  if (tiles > 0) {
    async_tile<T, kDim, kN>(k_tile, keys, key_begin, min(kN, key_end - key_begin), p.head_size);
  }
  cp_async_commit();
  cp_async_wait_all();
  if (tiles > 0 && p.qk_factor != 1.0f) scale_own_chunks<T, kDim, kN>(k_tile, p.qk_factor);
  __syncthreads();

  // Q's A fragments (16 rows of this warp), times sqrt(scale) rounded to T.
  uint32_t qa[kDim / 16][4];
#pragma unroll
  for (int kc = 0; kc < kDim / 16; ++kc) {
    const int r = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8, c = kc * 16 + (lane / 16) * 8;
    ldmatrix_x4(qa[kc], q_tile + r * kStride + c);
    if (p.qk_factor != 1.0f) {
#pragma unroll
      for (int e = 0; e < 4; ++e) qa[kc][e] = scale_pair<T>(qa[kc][e], p.qk_factor);
    }
  }

  const int row0 = i0 + warp * 16 + g, row8 = row0 + 8;
  // Mask offsets of this thread's two rows (rows past the end read the last row's).
  int64_t mask_row0 = 0, mask_row8 = 0;
  if (p.mask_kind != MaskKind::kNone) {
    const int64_t base = ctx.b * p.mask_strides[0] + ctx.h * p.mask_strides[1];
    mask_row0 = base + int64_t(min(row0, p.q_seq - 1)) * p.mask_strides[2];
    mask_row8 = base + int64_t(min(row8, p.q_seq - 1)) * p.mask_strides[2];
  }
  const bool windowed = p.left_window >= 0 || p.right_window >= 0;

  float acc[kDim / 8][4];
#pragma unroll
  for (int dt = 0; dt < kDim / 8; ++dt) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.0f;
  float max0 = -INFINITY, max8 = -INFINITY, sum0 = 0.0f, sum8 = 0.0f;
  auto round_softmax = [](float x) { return kRound ? round_to_t<T>(x) : x; };

  for (int tile = 0; tile < tiles; ++tile) {
    const int j0 = key_begin + tile * kN;
    const int valid = min(kN, key_end - j0);
    // The value tile loads while the scores are computed.
    async_tile<T, kDim, kN>(v_tile, values, j0, valid, p.v_head_size);
    cp_async_commit();

    float s[kN / 8][4];
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
    for (int kc = 0; kc < kDim / 16; ++kc) {
#pragma unroll
      for (int np = 0; np < kN / 16; ++np) {
        uint32_t b[4];
        const int key = np * 16 + (lane % 8) + (lane / 16) * 8;
        ldmatrix_x4(b, k_tile + key * kStride + kc * 16 + ((lane / 8) % 2) * 8);
        mma_16x8x16<T>(s[2 * np], qa[kc], b[0], b[1]);
        mma_16x8x16<T>(s[2 * np + 1], qa[kc], b[2], b[3]);
      }
    }

    // Softmax inputs, rounded as the reference rounds them; keys past key_end are -inf.
    const bool elementwise = p.mask_kind != MaskKind::kNone || windowed ||
                             (p.causal && int64_t(j0) + kN - 1 > ctx.offset + i0 + warp * 16);
    const bool ragged = j0 + kN > key_end;
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = j0 + nt * 8 + 2 * t + (e & 1);
        float logit = round_to_t<T>(s[nt][e]);
        if (p.softcap > 0.0f) logit = round_to_t<T>(p.softcap * tanhf(logit / p.softcap));
        // Keys past key_end are not read at all: the mask may end there (memcheck found the
        // read one byte past a boolean mask).
        const bool past_end = ragged && j >= key_end;
        float bias = 0.0f;
        if (elementwise && !past_end) {
          bias = round_to_t<T>(flash_bias(p, ctx, e < 2 ? mask_row0 : mask_row8,
                                          min(e < 2 ? row0 : row8, p.q_seq - 1), j));
        }
        s[nt][e] = past_end ? -INFINITY : round_softmax(round_to_t<T>(logit + bias));
      }
    }

    // Online softmax: new maxima, rescaled accumulators and sums, exponentials.
    float tile_max0 = -INFINITY, tile_max8 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt) {
      tile_max0 = nan_max(tile_max0, nan_max(s[nt][0], s[nt][1]));
      tile_max8 = nan_max(tile_max8, nan_max(s[nt][2], s[nt][3]));
    }
#pragma unroll
    for (int o = 1; o < 4; o <<= 1) {
      tile_max0 = nan_max(tile_max0, __shfl_xor_sync(0xffffffffu, tile_max0, o));
      tile_max8 = nan_max(tile_max8, __shfl_xor_sync(0xffffffffu, tile_max8, o));
    }
    const float new0 = nan_max(max0, tile_max0), new8 = nan_max(max8, tile_max8);
    // A row masked so far shifts by 0 (its exponentials are 0, and so are its partial sums).
    const float shift0 = new0 == -INFINITY ? 0.0f : new0;
    const float shift8 = new8 == -INFINITY ? 0.0f : new8;
    if (tile > 0) {
      // Sums and accumulators of rows masked so far are 0 and stay so.
      const float f0 = max0 == -INFINITY ? 0.0f
                       : new0 == max0    ? 1.0f
                                         : exp2f((max0 - shift0) * kLog2e);
      const float f8 = max8 == -INFINITY ? 0.0f
                       : new8 == max8    ? 1.0f
                                         : exp2f((max8 - shift8) * kLog2e);
      sum0 *= f0;
      sum8 *= f8;
#pragma unroll
      for (int dt = 0; dt < kDim / 8; ++dt) {
        acc[dt][0] *= f0;
        acc[dt][1] *= f0;
        acc[dt][2] *= f8;
        acc[dt][3] *= f8;
      }
    }
    max0 = new0;
    max8 = new8;
#pragma unroll
    for (int nt = 0; nt < kN / 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float shifted = round_softmax(s[nt][e] - (e < 2 ? shift0 : shift8));
        const float ex = round_softmax(exp2f(shifted * kLog2e));
        s[nt][e] = ex;
        if (e < 2) {
          sum0 += ex;
        } else {
          sum8 += ex;
        }
      }
    }

    cp_async_wait_all();  // this thread's part of the value tile
    __syncthreads();      // everyone's part, and every warp is done with the key tile
    if (tile + 1 < tiles) {
      async_tile<T, kDim, kN>(k_tile, keys, j0 + kN, min(kN, key_end - j0 - kN), p.head_size);
      cp_async_commit();
    }

    // acc += P V: the score accumulators of two 8-key tiles are the A fragment of 16 keys.
#pragma unroll
    for (int kc = 0; kc < kN / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack_pair<T>(s[2 * kc][0], s[2 * kc][1]);
      pa[1] = pack_pair<T>(s[2 * kc][2], s[2 * kc][3]);
      pa[2] = pack_pair<T>(s[2 * kc + 1][0], s[2 * kc + 1][1]);
      pa[3] = pack_pair<T>(s[2 * kc + 1][2], s[2 * kc + 1][3]);
      const int key = kc * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
#pragma unroll
      for (int dp = 0; dp < kDim / 16; ++dp) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v_tile + key * kStride + dp * 16 + (lane / 16) * 8);
        mma_16x8x16<T>(acc[2 * dp], pa, b[0], b[1]);
        mma_16x8x16<T>(acc[2 * dp + 1], pa, b[2], b[3]);
      }
    }

    cp_async_wait_all();  // the next key tile
    if (tile + 1 < tiles && p.qk_factor != 1.0f) {
      scale_own_chunks<T, kDim, kN>(k_tile, p.qk_factor);
    }
    __syncthreads();  // the next key tile is complete, and every warp is done with the values
  }

#pragma unroll
  for (int o = 1; o < 4; o <<= 1) {
    sum0 += __shfl_xor_sync(0xffffffffu, sum0, o);
    sum8 += __shfl_xor_sync(0xffffffffu, sum8, o);
  }
  float total0 = round_softmax(sum0), total8 = round_softmax(sum8);
  if (total0 == 0.0f) total0 = 1.0f;  // a fully masked row: its accumulators are 0 too
  if (total8 == 0.0f) total8 = 1.0f;
  const float inv0 = 1.0f / total0, inv8 = 1.0f / total8;

  // Through this warp's 16 rows of the (no longer needed) Q tile, for 16-byte stores.
  uint16_t* stage = q_tile + warp * 16 * kStride;
#pragma unroll
  for (int dt = 0; dt < kDim / 8; ++dt) {
    const int c = dt * 8 + 2 * t;
    *reinterpret_cast<uint32_t*>(stage + g * kStride + c) =
        pack_pair<T>(acc[dt][0] * inv0, acc[dt][1] * inv0);
    *reinterpret_cast<uint32_t*>(stage + (g + 8) * kStride + c) =
        pack_pair<T>(acc[dt][2] * inv8, acc[dt][3] * inv8);
  }
  __syncwarp();
  T* y = static_cast<T*>(p.y) + ctx.b * p.y_strides.batch + ctx.h * p.y_strides.head;
  constexpr int kChunks = kDim / 8;
#pragma unroll
  for (int it = 0; it < 16 * kChunks / 32; ++it) {
    const int idx = lane + it * 32;
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int row = i0 + warp * 16 + r;
    if (row < p.q_seq && c < p.v_head_size) {
      *reinterpret_cast<uint4*>(y + int64_t(row) * p.y_strides.seq + c) =
          *reinterpret_cast<const uint4*>(stage + r * kStride + c);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// FP32: CUDA cores. 128 threads; thread (tr, tc) owns query rows 4 tr .. 4 tr + 3, keys tc and
// tc + 16 of each tile, and output channels tc, tc + 16, ...

constexpr int kSimtThreads = 128;
constexpr int kSimtBlockM = 32;
constexpr int kSimtBlockN = 32;

template <int kDim>
__global__ void __launch_bounds__(kSimtThreads) attention_simt_kernel(const AttentionParams p) {
  constexpr int kQStride = kSimtBlockM + 4;  // Q transposed, rows float4-aligned
  constexpr int kKStride = kSimtBlockN + 1;  // K transposed, padded against bank conflicts
  constexpr int kPStride = kSimtBlockN + 1;
  constexpr int kKvFloats =
      kDim * kKStride > kSimtBlockN * kDim ? kDim * kKStride : kSimtBlockN * kDim;
  __shared__ alignas(16) float q_tile[kDim * kQStride];  // [channel][row]
  __shared__ float kv_tile[kKvFloats];              // K as [channel][key], then V [key][channel]
  __shared__ float p_tile[kSimtBlockM * kPStride];  // exponentials [row][key]

  const int i0 = int(blockIdx.x) * kSimtBlockM;
  const HeadContext ctx = head_context(p, int(blockIdx.z), int(blockIdx.y));
  const int tr = int(threadIdx.x) / 16, tc = int(threadIdx.x) % 16;
  const int last_row = min(i0 + kSimtBlockM, p.q_seq) - 1;
  int key_begin = 0, key_end = 0;
  key_range(p, ctx, i0, last_row, key_begin, key_end);
  const Rows<float> queries = query_rows<float>(p, ctx);
  int score_row[4];  // rows past the end score as the last row (never stored; no stray reads)
  for (int a = 0; a < 4; ++a) score_row[a] = min(i0 + 4 * tr + a, p.q_seq - 1);
  const Rows<float> keys = key_rows<float>(p, ctx), values = value_rows<float>(p, ctx);

  for (int idx = int(threadIdx.x); idx < kSimtBlockM * kDim; idx += kSimtThreads) {
    const int r = idx / kDim, d = idx % kDim;
    q_tile[d * kQStride + r] =
        i0 + r <= last_row && d < p.head_size ? queries.row(i0 + r)[d] * p.qk_factor : 0.0f;
  }
  // Loads keys [j0, j0 + valid) transposed into kv_tile.
  auto load_keys = [&](int j0, int valid) {
    for (int idx = int(threadIdx.x); idx < kSimtBlockN * kDim; idx += kSimtThreads) {
      const int r = idx / kDim, d = idx % kDim;
      kv_tile[d * kKStride + r] =
          r < valid && d < p.head_size ? keys.row(j0 + r)[d] * p.qk_factor : 0.0f;
    }
  };
  auto scores = [&](float(&s)[4][2]) {
#pragma unroll
    for (int a = 0; a < 4; ++a) s[a][0] = s[a][1] = 0.0f;
#pragma unroll 8
    for (int d = 0; d < kDim; ++d) {
      const float4 qv = *reinterpret_cast<const float4*>(&q_tile[d * kQStride + 4 * tr]);
      const float k0 = kv_tile[d * kKStride + tc], k1 = kv_tile[d * kKStride + tc + 16];
      s[0][0] += qv.x * k0;
      s[0][1] += qv.x * k1;
      s[1][0] += qv.y * k0;
      s[1][1] += qv.y * k1;
      s[2][0] += qv.z * k0;
      s[2][1] += qv.z * k1;
      s[3][0] += qv.w * k0;
      s[3][1] += qv.w * k1;
    }
  };

  // Pass 1: row maxima.
  float row_max[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  for (int j0 = key_begin; j0 < key_end; j0 += kSimtBlockN) {
    __syncthreads();
    load_keys(j0, min(kSimtBlockN, key_end - j0));
    __syncthreads();
    float s[4][2];
    scores(s);
#pragma unroll
    for (int a = 0; a < 4; ++a) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int j = j0 + tc + 16 * c;
        if (j < key_end)
          row_max[a] = nan_max(row_max[a], softmax_input(p, ctx, s[a][c], score_row[a], j));
      }
    }
  }
  float shift[4];
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    for (int o = 1; o < 16; o <<= 1) {
      row_max[a] = nan_max(row_max[a], __shfl_xor_sync(0xffffffffu, row_max[a], o));
    }
    shift[a] = row_max[a] == -INFINITY ? 0.0f : row_max[a];
  }

  // Pass 2: exponentials, sums and exp @ V.
  constexpr int kCols = kDim / 16;
  float acc[4][kCols];
#pragma unroll
  for (int a = 0; a < 4; ++a) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[a][c] = 0.0f;
  }
  float row_sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j0 = key_begin; j0 < key_end; j0 += kSimtBlockN) {
    const int valid = min(kSimtBlockN, key_end - j0);
    __syncthreads();
    load_keys(j0, valid);
    __syncthreads();
    float s[4][2];
    scores(s);
#pragma unroll
    for (int a = 0; a < 4; ++a) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int j = j0 + tc + 16 * c;
        float ex = 0.0f;
        if (j < key_end)
          ex = softmax_exp(p, softmax_input(p, ctx, s[a][c], score_row[a], j), shift[a]);
        row_sum[a] += ex;
        p_tile[(4 * tr + a) * kPStride + tc + 16 * c] = ex;
      }
    }
    __syncthreads();
    for (int idx = int(threadIdx.x); idx < kSimtBlockN * kDim; idx += kSimtThreads) {
      const int r = idx / kDim, d = idx % kDim;
      kv_tile[r * kDim + d] = r < valid && d < p.v_head_size ? values.row(j0 + r)[d] : 0.0f;
    }
    __syncthreads();
    for (int j = 0; j < kSimtBlockN; ++j) {
      float v[kCols];
#pragma unroll
      for (int c = 0; c < kCols; ++c) v[c] = kv_tile[j * kDim + tc + 16 * c];
#pragma unroll
      for (int a = 0; a < 4; ++a) {
        const float e = p_tile[(4 * tr + a) * kPStride + j];
#pragma unroll
        for (int c = 0; c < kCols; ++c) acc[a][c] += e * v[c];
      }
    }
  }
  float* y = static_cast<float*>(p.y) + ctx.b * p.y_strides.batch + ctx.h * p.y_strides.head;
#pragma unroll
  for (int a = 0; a < 4; ++a) {
    for (int o = 1; o < 16; o <<= 1) row_sum[a] += __shfl_xor_sync(0xffffffffu, row_sum[a], o);
    const float total = row_sum[a] == 0.0f ? 1.0f : row_sum[a];
    const int row = i0 + 4 * tr + a;
    if (row >= p.q_seq) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int col = tc + 16 * c;
      if (col < p.v_head_size) y[int64_t(row) * p.y_strides.seq + col] = acc[a][c] / total;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// qk_matmul_output: one thread per query row, every stage as the reference computes it.

template <typename T>
__global__ void attention_qk_output_kernel(const AttentionParams p, T* out, int mode) {
  const int64_t rows = int64_t(p.batch) * p.q_heads * p.q_seq;
  KILN_GRID_STRIDE_LOOP(r, rows) {
    const int i = int(r % p.q_seq);
    const int h = int((r / p.q_seq) % p.q_heads);
    const int b = int(r / (int64_t(p.q_seq) * p.q_heads));
    const HeadContext ctx = head_context(p, b, h);
    const T* q = query_rows<T>(p, ctx).row(i);
    const Rows<T> keys = key_rows<T>(p, ctx);
    auto dot = [&](int j) {
      const T* k = keys.row(j);
      float sum = 0.0f;
      for (int d = 0; d < p.head_size; ++d) {
        const float qd = round_as(p.t1_round, to_float(q[d]) * p.qk_factor);
        const float kd = round_as(p.t1_round, to_float(k[d]) * p.qk_factor);
        sum += qd * kd;
      }
      return sum;
    };
    T* line = out + r * p.total_kv;
    if (mode < 3) {
      for (int j = 0; j < p.total_kv; ++j) {
        const Score s = score_of(p, ctx, dot(j), i, j);
        line[j] = from_float<T>(mode == 0 ? s.logit : mode == 1 ? s.capped : s.biased);
      }
      continue;
    }
    float row_max = -INFINITY;
    bool all_masked = true;
    for (int j = 0; j < p.total_kv; ++j) {
      const Score s = score_of(p, ctx, dot(j), i, j);
      row_max = nan_max(row_max, round_as(p.softmax_round, s.biased));
      if (!(s.bias == -INFINITY)) all_masked = false;
    }
    const float shift = row_max == -INFINITY ? 0.0f : row_max;
    float sum = 0.0f;
    for (int j = 0; j < p.total_kv; ++j)
      sum += softmax_exp(p, softmax_input(p, ctx, dot(j), i, j), shift);
    sum = round_as(p.softmax_round, sum);
    if (sum == 0.0f) sum = 1.0f;
    for (int j = 0; j < p.total_kv; ++j) {
      const float e = softmax_exp(p, softmax_input(p, ctx, dot(j), i, j), shift);
      line[j] = from_float<T>(all_masked ? 0.0f : round_as(p.softmax_round, e / sum));
    }
  }
}

// present = past ++ current along the sequence, as (batch, kv_heads, total, size).
template <typename E>
__global__ void attention_present_kernel(const E* past, const E* current, E* present, int heads,
                                         int past_seq, int total, int size, Strides cur,
                                         int64_t n) {
  KILN_GRID_STRIDE_LOOP(idx, n) {
    const int d = int(idx % size);
    int64_t rest = idx / size;
    const int s = int(rest % total);
    rest /= total;
    const int h = int(rest % heads);
    const int64_t b = rest / heads;
    present[idx] =
        s < past_seq ? past[((b * heads + h) * past_seq + s) * size + d]
                     : current[b * cur.batch + h * cur.head + int64_t(s - past_seq) * cur.seq + d];
  }
}

// ---------------------------------------------------------------------------------------------
// Host side

struct Geometry {
  bool input_3d = false;
  int64_t batch = 0, q_heads = 0, kv_heads = 0, q_seq = 0, kv_seq = 0, past_seq = 0;
  int64_t head_size = 0, v_head_size = 0;
};

// The extents (the shapes were checked by shape inference; here only read). nullopt where the
// query lacks what a 3-D layout needs.
std::optional<Geometry> geometry_of(const ir::Node& node, const Dims& q, const Dims& k,
                                    const Dims& v, const Dims* past_key) {
  Geometry g;
  if (q.size() != k.size() || q.size() != v.size()) return std::nullopt;
  if (q.size() == 3) {
    g.input_3d = true;
    if (!node.has_attr("q_num_heads") || !node.has_attr("kv_num_heads")) return std::nullopt;
    g.q_heads = node.attr_int("q_num_heads");
    g.kv_heads = node.attr_int("kv_num_heads");
    if (g.q_heads <= 0 || g.kv_heads <= 0) return std::nullopt;
    g.q_seq = q[1];
    g.kv_seq = k[1];
    g.head_size = q[2] / g.q_heads;
    g.v_head_size = v[2] / g.kv_heads;
  } else if (q.size() == 4) {
    g.q_heads = q[1];
    g.kv_heads = k[1];
    g.q_seq = q[2];
    g.kv_seq = k[2];
    g.head_size = q[3];
    g.v_head_size = v[3];
  } else {
    return std::nullopt;
  }
  g.batch = q[0];
  if (g.kv_heads <= 0 || g.q_heads % g.kv_heads != 0) return std::nullopt;
  if (past_key && past_key->size() == 4) g.past_seq = (*past_key)[2];
  return g;
}

Strides strides_of(const Geometry& g, int64_t heads, int64_t seq, int64_t size) {
  if (g.input_3d) return {seq * heads * size, size, heads * size};
  return {heads * seq * size, seq * size, size};
}

Rounding rounding_of(DataType t) {
  if (t == DataType::kFloat16) return Rounding::kHalf;
  if (t == DataType::kBFloat16) return Rounding::kBFloat16;
  return Rounding::kNone;
}

float round_on_host(DataType t, float v) {
  if (t == DataType::kFloat16) return fp16_to_float(float_to_fp16(v));
  if (t == DataType::kBFloat16) return bf16_to_float(float_to_bf16(v));
  return v;
}

int padded_head_dim(int64_t size) {
  if (size <= 32) return 32;
  if (size <= 64) return 64;
  if (size <= 128) return 128;
  return 0;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

bool vectorizable(const void* data, const Strides& s, int64_t size, size_t element_bytes) {
  const int64_t lanes = int64_t(16 / element_bytes);
  return aligned16(data) && size % lanes == 0 && s.batch % lanes == 0 && s.head % lanes == 0 &&
         s.seq % lanes == 0;
}

template <typename T, int kDim, int kBlockN>
void launch_mma(const AttentionParams& p, cudaStream_t stream) {
  const dim3 grid(unsigned((p.q_seq + kMmaBlockM - 1) / kMmaBlockM), unsigned(p.q_heads),
                  unsigned(p.batch));
  // Without a mask, causality, window or nonpad_kv_seqlen there is no bias tile to build.
  const bool bias = p.mask_kind != MaskKind::kNone || p.causal || p.left_window >= 0 ||
                    p.right_window >= 0 || p.nonpad != nullptr;
  if (bias) {
    attention_mma_kernel<T, kDim, kBlockN, true><<<grid, kMmaThreads, 0, stream>>>(p);
  } else {
    attention_mma_kernel<T, kDim, kBlockN, false><<<grid, kMmaThreads, 0, stream>>>(p);
  }
}

template <typename T, int kDim, bool kRound>
void launch_flash(const AttentionParams& p, cudaStream_t stream) {
  constexpr int kSmemBytes = (kFlashBlockM + 2 * kFlashBlockN) * (kDim + 8) * sizeof(uint16_t);
  // Head size 128 needs more than the default 48 KiB of dynamic shared memory (a failure here
  // shows at the launch check).
  static const cudaError_t configured =
      cudaFuncSetAttribute(attention_flash_kernel<T, kDim, kRound>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
  (void)configured;
  const dim3 grid(unsigned((p.q_seq + kFlashBlockM - 1) / kFlashBlockM), unsigned(p.q_heads),
                  unsigned(p.batch));
  attention_flash_kernel<T, kDim, kRound><<<grid, kFlashThreads, kSmemBytes, stream>>>(p);
}

// Whether the one-pass kernel runs the node: FP16/BF16 with 16-byte aligned rows, head sizes
// padding to 64 or 128, and the softmax in T or float32.
bool flash_eligible(const AttentionParams& p, DataType dtype, int dim, bool y_vectorized) {
  return (dtype == DataType::kFloat16 || dtype == DataType::kBFloat16) &&
         (dim == 64 || dim == 128) && p.q_vectorized && p.k_vectorized && p.v_vectorized &&
         y_vectorized && (p.softmax_round == p.t1_round || p.softmax_round == Rounding::kNone);
}

template <int kDim>
void launch_simt(const AttentionParams& p, cudaStream_t stream) {
  const dim3 grid(unsigned((p.q_seq + kSimtBlockM - 1) / kSimtBlockM), unsigned(p.q_heads),
                  unsigned(p.batch));
  attention_simt_kernel<kDim><<<grid, kSimtThreads, 0, stream>>>(p);
}

void launch_attention(const ir::Node& node, DataType dtype, const AttentionParams& p, int dim,
                      bool y_vectorized, cudaStream_t stream) {
  if (flash_eligible(p, dtype, dim, y_vectorized)) {
    const bool round = p.softmax_round != Rounding::kNone;
    dispatch_float(node, dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, float>) {
        if (dim == 64) {
          return round ? launch_flash<T, 64, true>(p, stream)
                       : launch_flash<T, 64, false>(p, stream);
        }
        return round ? launch_flash<T, 128, true>(p, stream)
                     : launch_flash<T, 128, false>(p, stream);
      }
    });
    return;
  }
  if (dtype == DataType::kFloat32) {
    if (dim == 32) return launch_simt<32>(p, stream);
    if (dim == 64) return launch_simt<64>(p, stream);
    return launch_simt<128>(p, stream);
  }
  dispatch_float(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, float>) {
      if (dim == 32) return launch_mma<T, 32, 64>(p, stream);
      if (dim == 64) return launch_mma<T, 64, 64>(p, stream);
      return launch_mma<T, 128, 32>(p, stream);
    }
  });
}

void run_attention(RunContext& rc) {
  const ir::Node& node = rc.node;
  const DeviceTensor& q = rc.input(kQ);
  const DeviceTensor& k = rc.input(kK);
  const DeviceTensor& v = rc.input(kV);
  const bool has_past = rc.has_input(kPastKey) && rc.has_input(kPastValue);
  const std::optional<Geometry> geometry =
      geometry_of(node, q.shape, k.shape, v.shape, has_past ? &rc.input(kPastKey).shape : nullptr);
  KILN_CHECK(geometry.has_value(), ErrorCode::kInvalidModel, node.describe(),
             ": Q, K and V shapes the CUDA attention kernel cannot read");
  const Geometry& g = *geometry;
  const size_t bytes = element_size(q.dtype);

  AttentionParams p;
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.past_k = has_past ? rc.input(kPastKey).data : nullptr;
  p.past_v = has_past ? rc.input(kPastValue).data : nullptr;
  p.y = rc.output(kY).data;
  p.batch = int(g.batch);
  p.q_heads = int(g.q_heads);
  p.kv_heads = int(g.kv_heads);
  p.q_seq = int(g.q_seq);
  p.kv_seq = int(g.kv_seq);
  p.past_seq = int(g.past_seq);
  p.total_kv = int(g.past_seq + g.kv_seq);
  p.head_size = int(g.head_size);
  p.v_head_size = int(g.v_head_size);
  p.q_strides = strides_of(g, g.q_heads, g.q_seq, g.head_size);
  p.k_strides = strides_of(g, g.kv_heads, g.kv_seq, g.head_size);
  p.v_strides = strides_of(g, g.kv_heads, g.kv_seq, g.v_head_size);
  p.y_strides = strides_of(g, g.q_heads, g.q_seq, g.v_head_size);
  const double scale =
      node.has_attr("scale") ? node.attr_float("scale") : 1.0 / std::sqrt(double(g.head_size));
  p.qk_factor = round_on_host(q.dtype, float(std::sqrt(scale)));
  p.softcap = float(node.attr_float("softcap", 0.0));
  p.t1_round = rounding_of(q.dtype);
  p.softmax_round = node.has_attr("softmax_precision")
                        ? rounding_of(DataType(node.attr_int("softmax_precision")))
                        : p.t1_round;
  if (rc.has_input(kMask)) {
    const DeviceTensor& mask = rc.input(kMask);
    p.mask = mask.data;
    switch (mask.dtype) {
      case DataType::kBool:
        p.mask_kind = MaskKind::kBool;
        break;
      case DataType::kFloat16:
        p.mask_kind = MaskKind::kFloat16;
        break;
      case DataType::kBFloat16:
        p.mask_kind = MaskKind::kBFloat16;
        break;
      default:
        p.mask_kind = MaskKind::kFloat32;
        break;
    }
    p.mask_len = int(mask.shape.back());
    const Dims target = {g.batch, g.q_heads, g.q_seq, mask.shape.back()};
    const Dims strides = broadcast_strides_to(mask.shape, target);
    for (size_t d = 0; d < 4; ++d) p.mask_strides[d] = strides[d];
  }
  p.causal = node.attr_int("is_causal", 0) == 1;
  p.left_window = node.attr_int("left_window_size", -1);
  p.right_window = node.attr_int("right_window_size", -1);
  if (rc.has_input(kNonpadKvSeqlen)) p.nonpad = rc.input(kNonpadKvSeqlen).as<const int64_t>();
  const bool past_aligned = !has_past || (aligned16(p.past_k) && aligned16(p.past_v));
  p.q_vectorized = vectorizable(p.q, p.q_strides, g.head_size, bytes);
  p.k_vectorized = past_aligned && vectorizable(p.k, p.k_strides, g.head_size, bytes);
  p.v_vectorized = past_aligned && vectorizable(p.v, p.v_strides, g.v_head_size, bytes);

  // present_key / present_value.
  for (size_t out : {kPresentKey, kPresentValue}) {
    if (!(out < rc.outputs.size() && rc.outputs[out].present) || rc.output(out).numel() == 0)
      continue;
    const bool is_key = out == kPresentKey;
    const DeviceTensor& current = is_key ? k : v;
    const int64_t size = is_key ? g.head_size : g.v_head_size;
    const Strides cur = is_key ? p.k_strides : p.v_strides;
    const void* past = is_key ? p.past_k : p.past_v;
    const int64_t n = rc.output(out).numel();
    dispatch_bits(node, bytes, [&](auto tag) {
      using E = typename decltype(tag)::type;
      attention_present_kernel<E><<<grid_for(n), kBlock, 0, rc.stream>>>(
          static_cast<const E*>(past), static_cast<const E*>(current.data),
          static_cast<E*>(rc.output(out).data), int(g.kv_heads), int(g.past_seq), p.total_kv,
          int(size), cur, n);
    });
  }

  if (rc.output(kY).numel() > 0) {
    const bool y_vectorized = vectorizable(p.y, p.y_strides, g.v_head_size, bytes);
    launch_attention(node, q.dtype, p, padded_head_dim(std::max(g.head_size, g.v_head_size)),
                     y_vectorized, rc.stream);
  }
  if (kQkMatmul < rc.outputs.size() && rc.outputs[kQkMatmul].present &&
      rc.output(kQkMatmul).numel() > 0) {
    const int mode = int(node.attr_int("qk_matmul_output_mode", 0));
    const int64_t rows = g.batch * g.q_heads * g.q_seq;
    dispatch_float(node, q.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      attention_qk_output_kernel<T><<<grid_for(rows), kBlock, 0, rc.stream>>>(
          p, static_cast<T*>(rc.output(kQkMatmul).data), mode);
    });
  }
  check_cuda(cudaGetLastError(), node, "launching the attention kernels");
}

bool attention_supported(const NodeQuery& q) {
  if (!q.has_input(kQ) || !q.has_input(kK) || !q.has_input(kV) || !ranks_fit(q)) return false;
  const DataType t = q.input(kQ).dtype;
  if (!is_float16_or_32(t)) return false;
  for (size_t i : {kK, kV, kPastKey, kPastValue}) {
    if (q.has_input(i) && q.input(i).dtype != t) return false;
  }
  if (q.has_input(kPastKey) != q.has_input(kPastValue)) return false;
  for (size_t i = 0; i < q.outputs.size(); ++i) {
    if (q.has_output(i) && q.outputs[i].dtype != t) return false;
  }
  if (q.has_input(kMask)) {
    const TensorInfo& m = q.input(kMask);
    if (m.dtype != DataType::kBool && !is_float16_or_32(m.dtype)) return false;
    if (m.shape.empty() || m.shape.size() > 4) return false;
  }
  if (q.has_input(kNonpadKvSeqlen) && q.input(kNonpadKvSeqlen).dtype != DataType::kInt64) {
    return false;
  }
  const Dims* past = q.has_input(kPastKey) ? &q.input(kPastKey).shape : nullptr;
  const std::optional<Geometry> g =
      geometry_of(*q.node, q.input(kQ).shape, q.input(kK).shape, q.input(kV).shape, past);
  if (!g || padded_head_dim(std::max(g->head_size, g->v_head_size)) == 0) return false;
  // int indices inside the kernels.
  const int64_t limit = int64_t(1) << 30;
  return g->q_seq < limit && g->kv_seq + g->past_seq < limit && g->batch < 65536 &&
         g->q_heads < 65536;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Attention", "cuda_flash_attention", {}, attention_supported, run_attention});

}  // namespace
}  // namespace kiln::cuda
