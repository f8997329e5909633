// The elementwise family's shared machinery (elementwise.cu: binary ops, Pow, Where;
// binary_integer.cu: their integer and bool instantiations; unary_math.cu: unary math and
// activations; cast.cu: Cast, CastLike, BitCast).
//
// Semantics follow the CPU reference (src/ops) element for element: float16/bfloat16/float8 are
// storage types computed in float32, float64 in double, integers in their own type with
// two's-complement wrapping, bool as a 0/1 byte. Where the CPU reports an error the GPU cannot
// (integer division or modulo by zero, 0 to a negative integer power) the result is 0.
//
// Speed: every op is memory-bound, so the kernels are built around the memory accesses.
//  - Unary maps read and write 16 bytes per thread when both pointers allow it (a scalar tail
//    after the last whole vector).
//  - Binary ops whose operands are each a "block" of the output (same shape, a trailing bias,
//    a per-channel bias, a scalar: see BlockOperand) run a 32-bit kernel that finds an operand's
//    element with two multiply-high divisions, and reads 16-byte vectors (or one element shared
//    by the whole vector) where sizes and alignment allow. Other broadcasts take a strided path:
//    32-bit (FastDivmod) offsets below 2^31 elements, vectorized along a contiguous or broadcast
//    innermost dim; 64-bit beyond.
//  - The op is a functor type; the ops that dominate models (Add, Mul, Relu, Gelu, ...) are
//    instantiated with the op fixed at compile time, the rest share one kernel per dtype that
//    switches on the op at run time (a uniform branch), which keeps compile time in check.
#pragma once

#include <type_traits>

#include "backends/cuda/cuda_common.cuh"
#include "backends/cuda/data_movement.cuh"
#include "ops/elementwise_common.h"

namespace kiln::cuda {

namespace ew = ops::elementwise;  // dtype sets (TypeSet) shared with the CPU reference

// ---------------------------------------------------------------------------------------------
// float8 storage. Conversions are bit-exact with src/core/half.h: decoding is exact; encoding
// rounds to nearest even, e4m3 saturates beyond 448 (or gives NaN from 464 on without
// `saturate`), e5m2 rounds through float16 as the CPU does.

struct float8e4m3 {
  uint8_t bits;
};
struct float8e5m2 {
  uint8_t bits;
};

__device__ __forceinline__ float decode_e4m3(uint8_t v) {
  const uint32_t exp = (v >> 3) & 0xf, mant = v & 0x7;
  if (exp == 0xf && mant == 0x7) return __int_as_float(0x7fc00000);
  const float mag = exp == 0 ? float(mant) * 0.001953125f  // mant * 2^-9
                             : __uint_as_float((exp + 120) << 23 | mant << 20);
  return (v & 0x80) ? -mag : mag;
}

__device__ __forceinline__ float decode_e5m2(uint8_t v) {
  return __half2float(__ushort_as_half(uint16_t(uint16_t(v) << 8)));
}

__device__ __forceinline__ uint8_t encode_e4m3(float f, bool saturate) {
  if (isnan(f)) return 0x7f;
  const uint8_t sign = signbit(f) ? 0x80 : 0;
  const float a = fabsf(f);
  if (a > 448.0f) return sign | ((saturate || a < 464.0f) ? 0x7e : 0x7f);
  if (a < 0.015625f) return sign | uint8_t(rintf(a * 512.0f));  // subnormal: steps of 2^-9
  // Normal: keep 3 mantissa bits, rounding half to even, and rebias the exponent (127 -> 7).
  const uint32_t bits = __float_as_uint(a);
  const uint32_t rounded = (bits + 0x7ffff + ((bits >> 20) & 1)) >> 20;
  return sign | uint8_t(rounded - (120 << 3));
}

__device__ __forceinline__ uint8_t encode_e5m2(float f, bool saturate) {
  if (isnan(f)) return 0x7f;
  const uint8_t sign = signbit(f) ? 0x80 : 0;
  const float a = fabsf(f);
  if (a >= 61440.0f) return sign | (saturate ? 0x7b : 0x7c);  // infinities too
  const uint16_t h = __half_as_ushort(__float2half_rn(a));
  const uint16_t lower = h & 0xff;
  uint16_t keep = h >> 8;
  if (lower > 0x80 || (lower == 0x80 && (keep & 1))) ++keep;
  return sign | uint8_t(keep);
}

// ---------------------------------------------------------------------------------------------
// Element kinds: Elem<T>::Compute is the type T computes in; load/store convert.

template <typename T>
struct Elem {  // float, double, integers (bool is a uint8_t 0/1)
  using Compute = T;
  __device__ static T load(T v) { return v; }
  template <typename C>
  __device__ static T store(C v) {
    return T(v);
  }
};
template <>
struct Elem<half> {
  using Compute = float;
  __device__ static float load(half v) { return __half2float(v); }
  __device__ static half store(float v) { return __float2half_rn(v); }
};
template <>
struct Elem<bfloat16> {
  using Compute = float;
  __device__ static float load(bfloat16 v) { return __bfloat162float(v); }
  __device__ static bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};
template <>
struct Elem<float8e4m3> {
  using Compute = float;
  __device__ static float load(float8e4m3 v) { return decode_e4m3(v.bits); }
  __device__ static float8e4m3 store(float v) { return {encode_e4m3(v, true)}; }
};
template <>
struct Elem<float8e5m2> {
  using Compute = float;
  __device__ static float load(float8e5m2 v) { return decode_e5m2(v.bits); }
  __device__ static float8e5m2 store(float v) { return {encode_e5m2(v, true)}; }
};

template <typename T>
using ComputeOf = typename Elem<T>::Compute;

// A float converted to an integer as Cast does (ew::float_to_integer on the host): truncated,
// NaN gives 0, saturating at the int64 range (uint64's for uint64), then wrapping into T.
template <typename T>
__device__ __forceinline__ T float_to_integer(double v) {
  if (isnan(v)) return T(0);
  v = trunc(v);
  constexpr double kTwo63 = 9223372036854775808.0;
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (v >= 2 * kTwo63) return ~uint64_t(0);
    if (v >= kTwo63) return uint64_t(v);
  }
  if (v >= kTwo63) return T(INT64_MAX);
  if (v < -kTwo63) return T(INT64_MIN);
  return T(int64_t(v));
}

// ---------------------------------------------------------------------------------------------
// Elements of a dtype chosen at run time (Cast, Pow's exponent), as the CPU's Cast holds them:
// a double for the float types, the integer bits otherwise (int64 for bool and every integer
// type but uint64, which stays unsigned).

struct Wide {
  enum Kind : uint8_t { kFloat, kSigned, kUnsigned };
  Kind kind;
  double f;
  uint64_t bits;

  __device__ float to_float() const {
    return kind == kFloat ? float(f) : kind == kSigned ? float(int64_t(bits)) : float(bits);
  }
  __device__ double to_double() const {
    return kind == kFloat ? f : kind == kSigned ? double(int64_t(bits)) : double(bits);
  }
  template <typename T>
  __device__ T to_integer() const {
    return kind == kFloat ? float_to_integer<T>(f) : T(bits);
  }
  __device__ bool nonzero() const { return kind == kFloat ? f != 0.0 : bits != 0; }
};

__device__ __forceinline__ Wide wide_float(double v) { return {Wide::kFloat, v, 0}; }
__device__ __forceinline__ Wide wide_signed(int64_t v) { return {Wide::kSigned, 0, uint64_t(v)}; }

__device__ inline Wide load_wide(const void* p, int64_t i, DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return wide_float(static_cast<const float*>(p)[i]);
    case DataType::kFloat64:
      return wide_float(static_cast<const double*>(p)[i]);
    case DataType::kFloat16:
      return wide_float(__half2float(static_cast<const half*>(p)[i]));
    case DataType::kBFloat16:
      return wide_float(__bfloat162float(static_cast<const bfloat16*>(p)[i]));
    case DataType::kFloat8E4M3:
      return wide_float(decode_e4m3(static_cast<const uint8_t*>(p)[i]));
    case DataType::kFloat8E5M2:
      return wide_float(decode_e5m2(static_cast<const uint8_t*>(p)[i]));
    case DataType::kBool:
      return wide_signed(static_cast<const uint8_t*>(p)[i] != 0);
    case DataType::kInt8:
      return wide_signed(static_cast<const int8_t*>(p)[i]);
    case DataType::kInt16:
      return wide_signed(static_cast<const int16_t*>(p)[i]);
    case DataType::kInt32:
      return wide_signed(static_cast<const int32_t*>(p)[i]);
    case DataType::kInt64:
      return wide_signed(static_cast<const int64_t*>(p)[i]);
    case DataType::kUInt8:
      return wide_signed(static_cast<const uint8_t*>(p)[i]);
    case DataType::kUInt16:
      return wide_signed(static_cast<const uint16_t*>(p)[i]);
    case DataType::kUInt32:
      return wide_signed(static_cast<const uint32_t*>(p)[i]);
    case DataType::kUInt64:
      return {Wide::kUnsigned, 0, static_cast<const uint64_t*>(p)[i]};
  }
  return wide_signed(0);
}

// ---------------------------------------------------------------------------------------------
// Host-side dispatch over dtypes: fn(Tag<T>{}) with T the device storage type.

template <typename Fn>
void dispatch_float_types(const ir::Node& node, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32:
      return fn(Tag<float>{});
    case DataType::kFloat16:
      return fn(Tag<half>{});
    case DataType::kBFloat16:
      return fn(Tag<bfloat16>{});
    case DataType::kFloat64:
      return fn(Tag<double>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": elementwise CUDA kernel for ", to_string(t));
}

// The integer types, and bool as its 0/1 byte.
template <typename Fn>
void dispatch_integer_types(const ir::Node& node, DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kInt8:
      return fn(Tag<int8_t>{});
    case DataType::kInt16:
      return fn(Tag<int16_t>{});
    case DataType::kInt32:
      return fn(Tag<int32_t>{});
    case DataType::kInt64:
      return fn(Tag<int64_t>{});
    case DataType::kUInt8:
    case DataType::kBool:
      return fn(Tag<uint8_t>{});
    case DataType::kUInt16:
      return fn(Tag<uint16_t>{});
    case DataType::kUInt32:
      return fn(Tag<uint32_t>{});
    case DataType::kUInt64:
      return fn(Tag<uint64_t>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": elementwise CUDA kernel for ", to_string(t));
}

inline bool is_float_type(DataType t) { return ew::type_in(t, ew::kFloatTypes); }

// ---------------------------------------------------------------------------------------------
// Vectors of 16 bytes (or less, for the narrower side of a conversion).

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Elements per thread: 16 bytes of the wider of the two element types.
template <typename In, typename Out>
constexpr int vector_width() {
  return int(16 / (sizeof(In) > sizeof(Out) ? sizeof(In) : sizeof(Out)));
}

inline bool aligned_to(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Calls on_static(std::integral_constant<Op, k>{}) for the k among kHot equal to `op` (a kernel
// with the op fixed at compile time), else on_dynamic() (the kernel that switches at run time).
template <auto... kHot, typename Op, typename StaticFn, typename DynamicFn>
void dispatch_hot_op(Op op, StaticFn&& on_static, DynamicFn&& on_dynamic) {
  const bool hit = ((op == kHot && (on_static(std::integral_constant<Op, kHot>{}), true)) || ...);
  if (!hit) on_dynamic();
}

// Functors may hold device pointers to scalars (Clip's bounds): resolve() reads them once per
// thread, before the loop. The default is the functor itself.
template <typename Fn>
__device__ __forceinline__ Fn resolve(const Fn& fn) {
  return fn;
}

// ---------------------------------------------------------------------------------------------
// Unary maps: y[i] = Out(fn(load(x[i]))).

template <typename In, typename Out, typename Fn>
__global__ void map_kernel(const In* x, Out* y, int64_t n, bool vectorized, Fn fn_in) {
  constexpr int V = vector_width<In, Out>();
  const Fn fn = resolve(fn_in);
  const int64_t tid = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = int64_t(blockDim.x) * gridDim.x;
  int64_t done = 0;
  if (vectorized) {
    const int64_t vectors = n / V;
    for (int64_t v = tid; v < vectors; v += stride) {
      const Pack<In, V> in = reinterpret_cast<const Pack<In, V>*>(x)[v];
      Pack<Out, V> out;
#pragma unroll
      for (int k = 0; k < V; ++k) out.v[k] = Elem<Out>::store(fn(Elem<In>::load(in.v[k])));
      reinterpret_cast<Pack<Out, V>*>(y)[v] = out;
    }
    done = vectors * V;
  }
  for (int64_t i = done + tid; i < n; i += stride) {
    y[i] = Elem<Out>::store(fn(Elem<In>::load(x[i])));
  }
}

template <typename In, typename Out, typename Fn>
void launch_map(const In* x, Out* y, int64_t n, Fn fn, cudaStream_t stream) {
  if (n <= 0) return;
  constexpr int V = vector_width<In, Out>();
  const bool vectorized = n >= V && aligned_to(x, V * sizeof(In)) && aligned_to(y, V * sizeof(Out));
  map_kernel<In, Out, Fn>
      <<<grid_for(vectorized ? (n + V - 1) / V : n), kBlock, 0, stream>>>(x, y, n, vectorized, fn);
}

// ---------------------------------------------------------------------------------------------
// Binary maps: out[i] = Out(fn(load(a[.]), load(b[.]))) with numpy broadcasting.

// An operand whose non-broadcast dims are one run of consecutive (merged) output dims: output
// element i reads operand element (i / div) % mod. Same shape: div 1, mod n; a trailing bias of
// length L: div 1, mod L; an NCHW per-channel bias: div H*W, mod C; a scalar: mod 1.
struct BlockOperand {
  FastDivmod div;
  FastDivmod mod;
  // In vectorized launches: the V elements of an aligned vector share one operand element
  // (a scalar, or div a multiple of V); otherwise they are V consecutive, aligned elements
  // (div 1 and mod a multiple of V).
  bool splat = false;

  __device__ __forceinline__ uint32_t offset(uint32_t i) const {
    uint32_t r;
    mod.divmod(div.div(i), r);
    return r;
  }
};

struct BinaryPlan {
  bool block = false;       // both operands are blocks and n fits FastDivmod: the 32-bit kernel
  bool vectorized = false;  // ... reading vectors of `vector_width` elements
  BlockOperand a, b;
  StridedMap<2> map;  // the generic path otherwise
  // Other broadcasts of fewer than 2^31 elements ([N,H,S,S] + [N,1,1,S], as attention masks
  // are): 32-bit strided offsets, and vectors of `vector_width` output elements when the
  // innermost dim splits into whole vectors that each operand reads contiguously (stride 1,
  // aligned) or as one element (stride 0, `splat`).
  std::optional<FastStridedMap<2>> fast;
  bool fast_vectorized = false;
  bool splat_a = false, splat_b = false;
};

// Chooses the path for out = f(a, b) (a and b of one dtype, out of its own) in vectors of
// `vector_width` elements (defined in elementwise.cu).
BinaryPlan plan_binary(const ir::Node& node, const DeviceTensor& a, const DeviceTensor& b,
                       const DeviceTensor& out, int vector_width);

template <int V, typename A>
__device__ __forceinline__ void load_operand(const A* p, const BlockOperand& o, uint32_t i,
                                             ComputeOf<A> (&x)[V]) {
  const uint32_t off = o.offset(i);
  if (o.splat) {
    const ComputeOf<A> v = Elem<A>::load(p[off]);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = v;
  } else {
    const Pack<A, V> pack = *reinterpret_cast<const Pack<A, V>*>(p + off);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = Elem<A>::load(pack.v[k]);
  }
}

// `out` may be `a` (variadic ops fold into their output): each thread reads its elements
// before writing them, so no pointer is __restrict__.
template <typename A, typename Out, typename Fn>
__global__ void binary_block_kernel(const A* a, const A* b, Out* out, uint32_t n, BlockOperand oa,
                                    BlockOperand ob, bool vectorized, Fn fn) {
  constexpr int V = vector_width<A, Out>();
  const uint32_t tid = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t stride = blockDim.x * gridDim.x;
  uint32_t done = 0;
  if (vectorized) {
    const uint32_t vectors = n / V;
    for (uint32_t v = tid; v < vectors; v += stride) {
      ComputeOf<A> xa[V], xb[V];
      load_operand<V>(a, oa, v * V, xa);
      load_operand<V>(b, ob, v * V, xb);
      Pack<Out, V> r;
#pragma unroll
      for (int k = 0; k < V; ++k) r.v[k] = Elem<Out>::store(fn(xa[k], xb[k]));
      reinterpret_cast<Pack<Out, V>*>(out)[v] = r;
    }
    done = vectors * V;
  }
  for (uint32_t i = done + tid; i < n; i += stride) {
    out[i] = Elem<Out>::store(fn(Elem<A>::load(a[oa.offset(i)]), Elem<A>::load(b[ob.offset(i)])));
  }
}

template <typename A, typename Out, typename Fn>
__global__ void binary_strided_kernel(const A* a, const A* b, Out* out, int64_t n,
                                      StridedMap<2> map, Fn fn) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t off[2];
    map.offsets(i, off);
    out[i] = Elem<Out>::store(fn(Elem<A>::load(a[off[0]]), Elem<A>::load(b[off[1]])));
  }
}

template <int V, typename A>
__device__ __forceinline__ void load_strided(const A* p, uint32_t off, bool splat,
                                             ComputeOf<A> (&x)[V]) {
  if (splat) {
    const ComputeOf<A> v = Elem<A>::load(p[off]);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = v;
  } else {
    const Pack<A, V> pack = *reinterpret_cast<const Pack<A, V>*>(p + off);
#pragma unroll
    for (int k = 0; k < V; ++k) x[k] = Elem<A>::load(pack.v[k]);
  }
}

template <typename A, typename Out, typename Fn>
__global__ void binary_fast_strided_kernel(const A* a, const A* b, Out* out, uint32_t n,
                                           FastStridedMap<2> map, bool vectorized, bool splat_a,
                                           bool splat_b, Fn fn) {
  constexpr int V = vector_width<A, Out>();
  const uint32_t tid = blockIdx.x * blockDim.x + threadIdx.x;
  const uint32_t stride = blockDim.x * gridDim.x;
  if (vectorized) {  // n is a multiple of V
    for (uint32_t v = tid; v < n / V; v += stride) {
      uint32_t off[2];
      map.offsets(v * V, off);
      ComputeOf<A> xa[V], xb[V];
      load_strided<V>(a, off[0], splat_a, xa);
      load_strided<V>(b, off[1], splat_b, xb);
      Pack<Out, V> r;
#pragma unroll
      for (int k = 0; k < V; ++k) r.v[k] = Elem<Out>::store(fn(xa[k], xb[k]));
      reinterpret_cast<Pack<Out, V>*>(out)[v] = r;
    }
    return;
  }
  for (uint32_t i = tid; i < n; i += stride) {
    uint32_t off[2];
    map.offsets(i, off);
    out[i] = Elem<Out>::store(fn(Elem<A>::load(a[off[0]]), Elem<A>::load(b[off[1]])));
  }
}

template <typename A, typename Out, typename Fn>
void launch_binary_map(const ir::Node& node, const DeviceTensor& a, const DeviceTensor& b,
                       const DeviceTensor& out, Fn fn, cudaStream_t stream) {
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr int V = vector_width<A, Out>();
  const BinaryPlan p = plan_binary(node, a, b, out, V);
  if (p.block) {
    const int64_t threads = p.vectorized ? (n + V - 1) / V : n;
    binary_block_kernel<A, Out, Fn><<<grid_for(threads), kBlock, 0, stream>>>(
        a.as<A>(), b.as<A>(), out.as<Out>(), uint32_t(n), p.a, p.b, p.vectorized, fn);
  } else if (p.fast) {
    const int64_t threads = p.fast_vectorized ? n / V : n;
    binary_fast_strided_kernel<A, Out, Fn><<<grid_for(threads), kBlock, 0, stream>>>(
        a.as<A>(), b.as<A>(), out.as<Out>(), uint32_t(n), *p.fast, p.fast_vectorized, p.splat_a,
        p.splat_b, fn);
  } else {
    binary_strided_kernel<A, Out, Fn>
        <<<grid_for(n), kBlock, 0, stream>>>(a.as<A>(), b.as<A>(), out.as<Out>(), n, p.map, fn);
  }
}

// ---------------------------------------------------------------------------------------------
// Binary op semantics (ew's CPU lambdas, transcribed).

enum class BinaryOp : uint8_t {
  // Results of the operands' type.
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMax,
  kMin,
  kPRelu,
  kModFloor,
  kModTrunc,
  kSwiGLU,
  kBitAnd,
  kBitOr,
  kBitXor,
  kShiftLeft,
  kShiftRight,
  // Predicates: bool results.
  kEqual,
  kLess,
  kGreater,
  kLessOrEqual,
  kGreaterOrEqual,
  kAnd,
  kOr,
  kXor,
};

inline bool is_predicate(BinaryOp op) { return op >= BinaryOp::kEqual; }

// x * sigmoid(alpha * x) without overflow in either branch (Swish, SwiGLU).
template <typename C>
__device__ __forceinline__ C swish(C x, C alpha) {
  const C z = alpha * x;
  const C e = exp(-fabs(z));
  const C sigmoid = z >= C(0) ? C(1) / (C(1) + e) : e / (C(1) + e);
  return x * sigmoid;
}

template <typename C>
__device__ __forceinline__ bool is_negative(C x) {
  if constexpr (std::is_unsigned_v<C>) {
    return false;
  } else {
    return x < C(0);
  }
}

template <typename C>
__device__ __forceinline__ C wrap_mul(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    return C(uint64_t(a) * uint64_t(b));
  } else {
    return a * b;
  }
}

template <typename C>
__device__ __forceinline__ C integer_arith(BinaryOp op, C a, C b) {
  constexpr bool kSigned = std::is_signed_v<C>;
  constexpr uint64_t kBits = sizeof(C) * 8;
  // A shift amount is in range when 0 <= b < width; otherwise only the sign fill remains.
  const bool shift_in_range = !is_negative(b) && uint64_t(b) < kBits;
  switch (op) {
    case BinaryOp::kAdd:
      return C(uint64_t(a) + uint64_t(b));
    case BinaryOp::kSub:
      return C(uint64_t(a) - uint64_t(b));
    case BinaryOp::kMul:
      return wrap_mul(a, b);
    case BinaryOp::kDiv:
      if (b == 0) return 0;
      if (kSigned && b == C(-1)) return C(uint64_t(0) - uint64_t(a));  // INT_MIN / -1 wraps
      return C(a / b);
    case BinaryOp::kMax:
      return a > b ? a : b;
    case BinaryOp::kMin:
      return a < b ? a : b;
    case BinaryOp::kPRelu:
      return is_negative(a) ? wrap_mul(b, a) : a;
    case BinaryOp::kModFloor:
    case BinaryOp::kModTrunc: {
      if (b == 0 || (kSigned && b == C(-1))) return 0;
      C r = C(a % b);
      if (op == BinaryOp::kModFloor && r != 0 && (is_negative(r) != is_negative(b))) r = C(r + b);
      return r;
    }
    case BinaryOp::kBitAnd:
      return C(a & b);
    case BinaryOp::kBitOr:
      return C(a | b);
    case BinaryOp::kBitXor:
      return C(a ^ b);
    case BinaryOp::kShiftLeft:
      return shift_in_range ? C(uint64_t(a) << unsigned(b)) : C(0);
    case BinaryOp::kShiftRight:
      if (shift_in_range) return C(a >> unsigned(b));
      return is_negative(a) ? C(-1) : C(0);
    default:
      return 0;
  }
}

template <typename C>
__device__ __forceinline__ C float_arith(BinaryOp op, C a, C b, double alpha) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kMax:
      return isnan(a) ? a : (a > b ? a : b);  // NaN in either propagates
    case BinaryOp::kMin:
      return isnan(a) ? a : (a < b ? a : b);
    case BinaryOp::kPRelu:
      return a < C(0) ? b * a : a;
    case BinaryOp::kModTrunc:
      return fmod(a, b);
    case BinaryOp::kModFloor: {  // the sign of the divisor; fmod's NaN cases stay NaN
      C r = fmod(a, b);
      if (r != C(0) && ((r < C(0)) != (b < C(0)))) r += b;
      if (r == C(0)) r = copysign(C(0), b);
      return r;
    }
    case BinaryOp::kSwiGLU:
      return swish(a, C(alpha)) * b;
    default:
      return C(0);
  }
}

template <typename C>
__device__ __forceinline__ bool apply_predicate(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kLessOrEqual:
      return a <= b;
    case BinaryOp::kGreaterOrEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return a != C(0) && b != C(0);
    case BinaryOp::kOr:
      return a != C(0) || b != C(0);
    case BinaryOp::kXor:
      return (a != C(0)) != (b != C(0));
    default:
      return false;
  }
}

template <typename C>
__device__ __forceinline__ C apply_arith(BinaryOp op, C a, C b, double alpha) {
  if constexpr (std::is_integral_v<C>) {
    return integer_arith(op, a, b);
  } else {
    return float_arith(op, a, b, alpha);
  }
}

// The op fixed at compile time (the switch folds away) or chosen at run time.
template <BinaryOp kOp>
struct StaticArith {
  double alpha = 0;
  template <typename C>
  __device__ C operator()(C a, C b) const {
    return apply_arith(kOp, a, b, alpha);
  }
};

struct DynamicArith {
  BinaryOp op;
  double alpha = 0;
  template <typename C>
  __device__ C operator()(C a, C b) const {
    return apply_arith(op, a, b, alpha);
  }
};

struct DynamicPredicate {
  BinaryOp op;
  template <typename C>
  __device__ bool operator()(C a, C b) const {
    return apply_predicate(op, a, b);
  }
};

// out = op(a, b) for integer and bool operands (binary_integer.cu).
void launch_binary_integer(const ir::Node& node, BinaryOp op, const DeviceTensor& a,
                           const DeviceTensor& b, const DeviceTensor& out, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// Unary op semantics

enum class UnaryOp : uint8_t {
  // Also on integers (and Not on bool).
  kIdentity,
  kRelu,
  kNeg,
  kAbs,
  kSign,
  kNot,
  kBitwiseNot,
  kShrink,
  // Float types only.
  kSigmoid,
  kTanh,
  kErf,
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kFloor,
  kCeil,
  kRound,
  kSin,
  kCos,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kAsinh,
  kAcosh,
  kAtanh,
  kGelu,
  kGeluTanh,
  kLeakyRelu,
  kElu,
  kSelu,
  kCelu,
  kThresholdedRelu,
  kHardSigmoid,
  kHardSwish,
  kSoftplus,
  kSoftsign,
  kMish,
  kSwish,
  kSquare,    // x * x: Pow by a constant 2
  kDivideBy,  // x / alpha: Mean's last step
};

// Attributes of the ops that have them (defaults of the newest ONNX spec), as doubles that
// each compute type converts as the CPU reference does (T(alpha)).
struct UnaryParams {
  double alpha = 0;
  double beta = 0;
  double gamma = 0;
};

template <typename C>
__device__ __forceinline__ C hard_sigmoid(C x, C alpha, C beta) {
  const C v = alpha * x + beta;
  return v < C(0) ? C(0) : (v > C(1) ? C(1) : v);
}

template <typename C>
__device__ __forceinline__ C softplus(C x) {
  return x > C(0) ? x + log1p(exp(-x)) : log1p(exp(x));
}

// Shrink: x + bias below -lambd, x - bias above lambd, 0 between (alpha = lambd, beta = bias).
template <typename W>
__device__ __forceinline__ W shrink(W v, const UnaryParams& p) {
  if (v < W(-p.alpha)) return v + W(p.beta);
  if (v > W(p.alpha)) return v - W(p.beta);
  return W(0);
}

template <typename C>
__device__ __forceinline__ C integer_unary(UnaryOp op, C x, const UnaryParams& p) {
  switch (op) {
    case UnaryOp::kRelu:
      return is_negative(x) ? C(0) : x;
    case UnaryOp::kNeg:
      return C(uint64_t(0) - uint64_t(x));
    case UnaryOp::kAbs:
      return is_negative(x) ? C(uint64_t(0) - uint64_t(x)) : x;
    case UnaryOp::kSign:
      return x > C(0) ? C(1) : (is_negative(x) ? C(-1) : C(0));
    case UnaryOp::kNot:
      return C(x == 0);
    case UnaryOp::kBitwiseNot:
      return C(~x);
    case UnaryOp::kShrink:
      return float_to_integer<C>(shrink(double(x), p));  // as the CPU
    default:
      return x;
  }
}

template <typename C>
__device__ __forceinline__ C float_unary(UnaryOp op, C x, const UnaryParams& p) {
  const C alpha = C(p.alpha);
  switch (op) {
    case UnaryOp::kRelu:
      return x < C(0) ? C(0) : x;
    case UnaryOp::kNeg:
      return -x;
    case UnaryOp::kAbs:
      return fabs(x);
    case UnaryOp::kSign:
      return x > C(0) ? C(1) : (x < C(0) ? C(-1) : (x == C(0) ? C(0) : x));
    case UnaryOp::kShrink:
      return shrink(x, p);
    case UnaryOp::kSigmoid:
      return C(1) / (C(1) + exp(-x));
    case UnaryOp::kTanh:
      return tanh(x);
    case UnaryOp::kErf:
      return erf(x);
    case UnaryOp::kExp:
      return exp(x);
    case UnaryOp::kLog:
      return log(x);
    case UnaryOp::kSqrt:
      return sqrt(x);
    case UnaryOp::kReciprocal:
      return C(1) / x;
    case UnaryOp::kFloor:
      return floor(x);
    case UnaryOp::kCeil:
      return ceil(x);
    case UnaryOp::kRound:
      return rint(x);  // half to even, as the CPU's nearbyint
    case UnaryOp::kSin:
      return sin(x);
    case UnaryOp::kCos:
      return cos(x);
    case UnaryOp::kTan:
      return tan(x);
    case UnaryOp::kAsin:
      return asin(x);
    case UnaryOp::kAcos:
      return acos(x);
    case UnaryOp::kAtan:
      return atan(x);
    case UnaryOp::kSinh:
      return sinh(x);
    case UnaryOp::kCosh:
      return cosh(x);
    case UnaryOp::kAsinh:
      return asinh(x);
    case UnaryOp::kAcosh:
      return acosh(x);
    case UnaryOp::kAtanh:
      return atanh(x);
    case UnaryOp::kGelu:
      return C(0.5) * x * (C(1) + erf(x * C(0.70710678118654752440)));
    case UnaryOp::kGeluTanh: {
      const C k = C(0.79788456080286535588);  // sqrt(2 / pi)
      return C(0.5) * x * (C(1) + tanh(k * (x + C(0.044715) * x * x * x)));
    }
    case UnaryOp::kLeakyRelu:
      return x < C(0) ? alpha * x : x;
    case UnaryOp::kElu:
      return x < C(0) ? alpha * expm1(x) : x;
    case UnaryOp::kSelu:
      return x > C(0) ? C(p.gamma) * x : C(p.gamma) * (alpha * expm1(x));
    case UnaryOp::kCelu: {  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
      const C negative_part = alpha * expm1(x / alpha);
      return (x > C(0) ? x : C(0)) + (negative_part < C(0) ? negative_part : C(0));
    }
    case UnaryOp::kThresholdedRelu:
      return x > alpha ? x : C(0);
    case UnaryOp::kHardSigmoid:
      return hard_sigmoid(x, alpha, C(p.beta));
    case UnaryOp::kHardSwish:
      return x * hard_sigmoid(x, C(1.0 / 6.0), C(0.5));
    case UnaryOp::kSoftplus:
      return softplus(x);
    case UnaryOp::kSoftsign:
      return x / (C(1) + fabs(x));
    case UnaryOp::kMish:
      return x * tanh(softplus(x));
    case UnaryOp::kSwish:
      return swish(x, alpha);
    case UnaryOp::kSquare:
      return x * x;
    case UnaryOp::kDivideBy:
      return x / alpha;
    default:
      return x;
  }
}

template <typename C>
__device__ __forceinline__ C apply_unary(UnaryOp op, C x, const UnaryParams& p) {
  if constexpr (std::is_integral_v<C>) {
    return integer_unary(op, x, p);
  } else {
    return float_unary(op, x, p);
  }
}

template <UnaryOp kOp>
struct StaticUnary {
  UnaryParams params;
  template <typename C>
  __device__ C operator()(C x) const {
    return apply_unary(kOp, x, params);
  }
};

struct DynamicUnary {
  UnaryOp op;
  UnaryParams params;
  template <typename C>
  __device__ C operator()(C x) const {
    return apply_unary(op, x, params);
  }
};

// y = op(x) over n elements of `dtype` (the types the CPU reference accepts for the op).
void launch_unary(const ir::Node& node, UnaryOp op, const UnaryParams& params, DataType dtype,
                  const void* x, void* y, int64_t n, cudaStream_t stream);

}  // namespace kiln::cuda
