// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear, bit for bit as the CPU
// reference (src/ops/quantize.cpp): per-tensor, per-axis and blocked scales and zero points,
// int8/uint8/int16/uint16 and the sub-byte int4/uint4/int2/uint2 (round half to even,
// saturating; held one element per byte, as kiln holds them), float8 e4m3fn/e5m2 and their
// fnuz forms (honouring `saturate`) and float4 e2m1, the division precision of the `precision`
// attribute or the scale's type.
//
// Quantize/Dequantize sit in the hot path of every QDQ model, so they are built to run at memory
// bandwidth: each thread converts a vector of kVec elements with one (or two) 16-byte loads and
// one store, and works out the scale / zero point element once per vector wherever the layout
// allows (per tensor; per axis over whole vectors of one channel; blocked with whole vectors
// inside one block or one contiguous run of parameters). Other layouts, and tensors whose
// addresses do not allow vectors, go element by element in the same kernel.
#include "backends/cuda/quantized_common.cuh"
#include "core/narrow_types.h"

namespace kiln::cuda {
namespace {

using quant::round_to;

inline constexpr int kVec = 8;

// How the parameter (scale / zero point) index moves across one aligned vector of kVec
// elements: the same for all, one step per element, or anything (worked out per element).
enum class ParamMode { kConstant, kContiguous, kGeneral };

// quantize.cpp's QuantLayout: which parameter element applies to x's element i.
struct ParamLayout {
  int granularity = 0;  // 0 per tensor, 1 per axis, 2 blocked
  int64_t axis_extent = 1, inner = 1, scale_extent = 1, block = 1;

  __device__ __forceinline__ int64_t index(int64_t i) const {
    if (granularity == 0) return 0;
    const int64_t along = (i / inner) % axis_extent;
    if (granularity == 1) return along;
    const int64_t outer = i / (inner * axis_extent);
    return (outer * scale_extent + along / block) * inner + i % inner;
  }
};

// The layout from the shapes (inference has validated them), and the vector mode it allows.
ParamLayout resolve_layout(const ir::Node& node, const Dims& x, const Dims& scale) {
  ParamLayout layout;
  const int64_t block_size = node.attr_int("block_size", 0);
  if (volume(scale) == 1 && (scale.size() <= 1 || block_size == 0)) return layout;
  const int64_t rank = int64_t(x.size());
  const int64_t axis = ops::normalize_axis(node, node.attr_int("axis", 1), rank);
  layout.axis_extent = x[size_t(axis)];
  for (int64_t d = axis + 1; d < rank; ++d) layout.inner *= x[size_t(d)];
  if (block_size == 0) {
    layout.granularity = 1;
    return layout;
  }
  layout.granularity = 2;
  layout.scale_extent = scale[size_t(axis)];
  layout.block = block_size;
  return layout;
}

ParamMode param_mode(const ParamLayout& l) {
  switch (l.granularity) {
    case 0:
      return ParamMode::kConstant;
    case 1:
      if (l.inner % kVec == 0) return ParamMode::kConstant;
      if (l.inner == 1 && l.axis_extent % kVec == 0) return ParamMode::kContiguous;
      return ParamMode::kGeneral;
    default:
      if (l.inner % kVec == 0) return ParamMode::kContiguous;
      if (l.inner == 1 && l.block % kVec == 0 && l.axis_extent % kVec == 0) {
        return ParamMode::kConstant;
      }
      return ParamMode::kGeneral;
  }
}

template <ParamMode kMode>
__device__ __forceinline__ int64_t param_of(const ParamLayout& l, int64_t first_param,
                                            int64_t first, int j) {
  if constexpr (kMode == ParamMode::kConstant) return first_param;
  if constexpr (kMode == ParamMode::kContiguous) return first_param + j;
  return l.index(first + j);
}

template <typename T, int kCount>
struct alignas(sizeof(T) * kCount) Vector {
  T v[kCount];
};

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Input elements as float32 (float types, exact) or int32 (kept exact for double math).
template <typename T>
__device__ __forceinline__ double value_as_double(T v) {
  if constexpr (std::is_same_v<T, int32_t>) return double(v);
  return double(to_float(v));
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear

struct QuantizeArgs {
  const void* scale;
  const void* zero_point;  // nullptr: 0
  void* y;
  int64_t n;
  ParamLayout layout;
  DataType scale_type, precision, out_type;
  bool saturate;
};

// x / scale in `precision` (quantize.cpp's divide_in); float64 returns the double quotient in
// `wide`, the float types the float one in `narrow`.
template <typename T>
__device__ __forceinline__ void divide(const QuantizeArgs& a, T x, float scale_f, double scale_d,
                                       float& narrow, double& wide) {
  switch (a.precision) {
    case DataType::kFloat32:
      narrow = __fdiv_rn(float(value_as_double(x)), scale_f);
      return;
    case DataType::kFloat16:
    case DataType::kBFloat16:
      narrow = round_to(a.precision, __fdiv_rn(round_to(a.precision, float(value_as_double(x))),
                                               round_to(a.precision, scale_f)));
      return;
    default:
      wide = __ddiv_rn(value_as_double(x), scale_d);
      return;
  }
}

__device__ __forceinline__ double load_param_double(const void* p, int64_t i, DataType t) {
  if (t == DataType::kInt32) return double(static_cast<const int32_t*>(p)[i]);
  return double(quant::load_scale(p, i, t));
}

// Rounds half to even, adds the zero point, clamps to [lo, hi]; NaN gives the zero point.
template <typename F>
__device__ __forceinline__ int32_t saturate_integer(F quotient, int32_t zero_point, int32_t lo,
                                                    int32_t hi) {
  int32_t r = 0;
  if (!isnan(quotient)) {
    // Clamped first, so that huge and infinite quotients convert well defined.
    const F clamped = quotient < F(-1e9) ? F(-1e9) : quotient > F(1e9) ? F(1e9) : quotient;
    r = int32_t(rint(clamped));
  }
  r += zero_point;
  return r < lo ? lo : r > hi ? hi : r;
}

__device__ __forceinline__ int32_t zero_point_int(const void* p, int64_t i, DataType t) {
  const uint8_t byte = static_cast<const uint8_t*>(p)[i];
  switch (t) {
    case DataType::kInt8:
      return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8:
      return byte;
    case DataType::kInt4:
      return int4_value(byte);
    case DataType::kUInt4:
      return uint4_value(byte);
    case DataType::kInt2:
      return int2_value(byte);
    case DataType::kUInt2:
      return uint2_value(byte);
    case DataType::kInt16:
      return static_cast<const int16_t*>(p)[i];
    default:
      return static_cast<const uint16_t*>(p)[i];
  }
}

// The fnuz float8s and float4 e2m1 decoded (exact in float32).
__device__ __forceinline__ float decode_narrow_float(uint8_t code, DataType t) {
  switch (t) {
    case DataType::kFloat8E4M3FNUZ:
      return fp8e4m3fnuz_to_float(code);
    case DataType::kFloat8E5M2FNUZ:
      return fp8e5m2fnuz_to_float(code);
    default:
      return fp4e2m1_to_float(code);
  }
}

// One element quantized to the output type, as its bits (1 or 2 bytes).
template <typename T>
__device__ __forceinline__ uint16_t quantize_one(const QuantizeArgs& a, T x, int64_t p) {
  float narrow = 0.0f;
  double wide = 0.0;
  const bool in_double = a.precision == DataType::kFloat64;
  float scale_f = 0.0f;
  double scale_d = 0.0;
  if (in_double) {
    scale_d = load_param_double(a.scale, p, a.scale_type);
  } else {
    scale_f = float(load_param_double(a.scale, p, a.scale_type));
  }
  divide(a, x, scale_f, scale_d, narrow, wide);
  switch (a.out_type) {
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2: {
      const bool e4m3 = a.out_type == DataType::kFloat8E4M3;
      float zp = 0.0f;
      if (a.zero_point) {
        const uint8_t bits = static_cast<const uint8_t*>(a.zero_point)[p];
        zp = e4m3 ? decode_e4m3(bits) : decode_e5m2(bits);
      }
      // float32 addition is the double sum rounded once to float32 (no double rounding: 53
      // bits hold twice float32's 24 and two more).
      const float v = in_double ? float(__dadd_rn(wide, double(zp))) : __fadd_rn(narrow, zp);
      return e4m3 ? encode_e4m3(v, a.saturate) : encode_e5m2(v, a.saturate);
    }
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat4E2M1: {
      // As the CPU: the quotient plus the zero point in double, rounded once by the encoder.
      const float zp = a.zero_point ? decode_narrow_float(
                                          static_cast<const uint8_t*>(a.zero_point)[p], a.out_type)
                                    : 0.0f;
      const double v = __dadd_rn(in_double ? wide : double(narrow), double(zp));
      if (a.out_type == DataType::kFloat8E4M3FNUZ) return float_to_fp8e4m3fnuz(v, a.saturate);
      if (a.out_type == DataType::kFloat8E5M2FNUZ) return float_to_fp8e5m2fnuz(v, a.saturate);
      return float_to_fp4e2m1(v);
    }
    default: {
      int32_t lo = 0, hi = 255;
      uint16_t mask = 0xffff;  // the stored bits: the low 8 or 16 (one byte per sub-byte code)
      switch (a.out_type) {
        case DataType::kInt8:
          lo = -128;
          hi = 127;
          break;
        case DataType::kInt16:
          lo = -32768;
          hi = 32767;
          break;
        case DataType::kUInt16:
          hi = 65535;
          break;
        case DataType::kInt4:
          lo = -8;
          hi = 7;
          mask = 0xf;
          break;
        case DataType::kUInt4:
          hi = 15;
          mask = 0xf;
          break;
        case DataType::kInt2:
          lo = -2;
          hi = 1;
          mask = 0x3;
          break;
        case DataType::kUInt2:
          hi = 3;
          mask = 0x3;
          break;
        default:
          break;
      }
      const int32_t zp = a.zero_point ? zero_point_int(a.zero_point, p, a.out_type) : 0;
      const int32_t q =
          in_double ? saturate_integer(wide, zp, lo, hi) : saturate_integer(narrow, zp, lo, hi);
      return uint16_t(q) & mask;
    }
  }
}

template <typename T, typename Out, ParamMode kMode>
__global__ void quantize_kernel(const T* __restrict__ x, QuantizeArgs a, bool vectorized) {
  Out* y = static_cast<Out*>(a.y);
  if (vectorized) {
    const int64_t vectors = a.n / kVec;
    KILN_GRID_STRIDE_LOOP(v, vectors) {
      const int64_t first = v * kVec;
      const Vector<T, kVec> in = reinterpret_cast<const Vector<T, kVec>*>(x)[v];
      const int64_t first_param = kMode == ParamMode::kGeneral ? 0 : a.layout.index(first);
      Vector<Out, kVec> out;
      // Not unrolled: quantize_one inlines every output type's and precision's branch, and
      // unrolling it kVec times in every instantiation takes nvcc many minutes.
#pragma unroll 1
      for (int j = 0; j < kVec; ++j) {
        out.v[j] = Out(quantize_one(a, in.v[j], param_of<kMode>(a.layout, first_param, first, j)));
      }
      reinterpret_cast<Vector<Out, kVec>*>(y)[v] = out;
    }
    // The tail after the last whole vector.
    const int64_t tail = vectors * kVec;
    KILN_GRID_STRIDE_LOOP(t, a.n - tail) {
      const int64_t i = tail + t;
      y[i] = Out(quantize_one(a, x[i], a.layout.index(i)));
    }
    return;
  }
  KILN_GRID_STRIDE_LOOP(i, a.n) { y[i] = Out(quantize_one(a, x[i], a.layout.index(i))); }
}

template <typename Fn>
void dispatch_mode(ParamMode mode, Fn&& fn) {
  switch (mode) {
    case ParamMode::kConstant:
      return fn(std::integral_constant<ParamMode, ParamMode::kConstant>{});
    case ParamMode::kContiguous:
      return fn(std::integral_constant<ParamMode, ParamMode::kContiguous>{});
    case ParamMode::kGeneral:
      return fn(std::integral_constant<ParamMode, ParamMode::kGeneral>{});
  }
}

unsigned vector_grid(int64_t n, bool vectorized) {
  return grid_for(vectorized ? (n + kVec - 1) / kVec : n);
}

bool is_quantize_input(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16 ||
         t == DataType::kInt32;
}

bool is_quantized_output(DataType t) {
  switch (t) {
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat4E2M1:
      return true;
    default:
      return false;
  }
}

DataType division_precision(const ir::Node& node, DataType scale_type) {
  if (node.has_attr("precision")) return DataType(node.attr_int("precision"));
  return scale_type == DataType::kInt32 ? DataType::kFloat64 : scale_type;
}

bool quantize_supported(const NodeQuery& q) {
  if (!q.has_output(0) || !is_quantize_input(q.input(0).dtype) ||
      !is_quantize_input(q.input(1).dtype) || !is_quantized_output(q.outputs[0].dtype)) {
    return false;
  }
  if (q.has_input(2) && q.input(2).dtype != q.outputs[0].dtype) return false;
  const DataType precision = division_precision(*q.node, q.input(1).dtype);
  return precision == DataType::kFloat32 || precision == DataType::kFloat16 ||
         precision == DataType::kBFloat16 || precision == DataType::kFloat64;
}

void run_quantize(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& scale = rc.input(1);
  const DeviceTensor& y = rc.output(0);
  const int64_t n = x.numel();
  if (n == 0) return;
  QuantizeArgs a{};
  a.scale = scale.data;
  a.zero_point = rc.has_input(2) ? rc.input(2).data : nullptr;
  a.y = y.data;
  a.n = n;
  a.layout = resolve_layout(rc.node, x.shape, scale.shape);
  a.scale_type = scale.dtype;
  a.precision = division_precision(rc.node, scale.dtype);
  a.out_type = y.dtype;
  a.saturate = rc.node.attr_int("saturate", 1) != 0;
  const size_t out_bytes = element_size(y.dtype);
  auto launch = [&](auto x_tag) {
    using T = typename decltype(x_tag)::type;
    const bool vectorized =
        n >= kVec && aligned(x.data, sizeof(T) * kVec) && aligned(y.data, out_bytes * kVec);
    dispatch_mode(vectorized ? param_mode(a.layout) : ParamMode::kGeneral, [&](auto mode) {
      const unsigned grid = vector_grid(n, vectorized);
      if (out_bytes == 1) {
        quantize_kernel<T, uint8_t, decltype(mode)::value>
            <<<grid, kBlock, 0, rc.stream>>>(x.as<T>(), a, vectorized);
      } else {
        quantize_kernel<T, uint16_t, decltype(mode)::value>
            <<<grid, kBlock, 0, rc.stream>>>(x.as<T>(), a, vectorized);
      }
    });
  };
  switch (x.dtype) {
    case DataType::kFloat32:
      return launch(Tag<float>{});
    case DataType::kFloat16:
      return launch(Tag<half>{});
    case DataType::kBFloat16:
      return launch(Tag<bfloat16>{});
    case DataType::kInt32:
      return launch(Tag<int32_t>{});
    default:
      fail(ErrorCode::kInternal, rc.node.describe(), ": QuantizeLinear kernel for ",
           to_string(x.dtype));
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "QuantizeLinear", "cuda_quantize_linear", {}, quantize_supported, run_quantize});

// ---------------------------------------------------------------------------------------------
// DequantizeLinear: y = (x - zero_point) * scale, subtracted exactly, multiplied in float32,
// rounded once to the output type.

struct DequantizeArgs {
  const void* scale;
  const void* zero_point;  // nullptr: 0
  void* y;
  int64_t n;
  ParamLayout layout;
  DataType x_type, scale_type;
};

// (x - zero_point) as float32 from the raw bits of x and of the zero point (of x's type).
template <typename Bits>
__device__ __forceinline__ float centered(Bits x, Bits zp, DataType t) {
  switch (t) {
    case DataType::kInt8:
      return float(int8_t(x)) - float(int8_t(zp));
    case DataType::kUInt8:
      return float(uint8_t(x)) - float(uint8_t(zp));
    case DataType::kInt16:
      return float(int16_t(x)) - float(int16_t(zp));
    case DataType::kUInt16:
      return float(uint16_t(x)) - float(uint16_t(zp));
    // The int64 difference is exact; one rounding to float32, as the CPU's double does.
    case DataType::kInt32:
      return __ll2float_rn(int64_t(int32_t(x)) - int64_t(int32_t(zp)));
    // float32 subtraction of the decoded values rounds as the CPU's double then float does.
    case DataType::kFloat8E4M3:
      return __fsub_rn(decode_e4m3(uint8_t(x)), decode_e4m3(uint8_t(zp)));
    case DataType::kFloat8E5M2:
      return __fsub_rn(decode_e5m2(uint8_t(x)), decode_e5m2(uint8_t(zp)));
    case DataType::kInt4:
      return float(int4_value(uint8_t(x)) - int4_value(uint8_t(zp)));
    case DataType::kUInt4:
      return float(uint4_value(uint8_t(x)) - uint4_value(uint8_t(zp)));
    case DataType::kInt2:
      return float(int2_value(uint8_t(x)) - int2_value(uint8_t(zp)));
    case DataType::kUInt2:
      return float(uint2_value(uint8_t(x)) - uint2_value(uint8_t(zp)));
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat4E2M1:
      return __fsub_rn(decode_narrow_float(uint8_t(x), t), decode_narrow_float(uint8_t(zp), t));
    default:
      return 0.0f;
  }
}

template <typename Bits, typename Out>
__device__ __forceinline__ Out dequantize_one(const DequantizeArgs& a, Bits x, int64_t p) {
  const Bits zp = a.zero_point ? static_cast<const Bits*>(a.zero_point)[p] : Bits(0);
  return from_float<Out>(
      __fmul_rn(centered(x, zp, a.x_type), quant::load_scale(a.scale, p, a.scale_type)));
}

template <typename Bits, typename Out, ParamMode kMode>
__global__ void dequantize_kernel(const Bits* __restrict__ x, DequantizeArgs a, bool vectorized) {
  Out* y = static_cast<Out*>(a.y);
  if (vectorized) {
    const int64_t vectors = a.n / kVec;
    KILN_GRID_STRIDE_LOOP(v, vectors) {
      const int64_t first = v * kVec;
      const Vector<Bits, kVec> in = reinterpret_cast<const Vector<Bits, kVec>*>(x)[v];
      const int64_t first_param = kMode == ParamMode::kGeneral ? 0 : a.layout.index(first);
      Vector<Out, kVec> out;
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        out.v[j] =
            dequantize_one<Bits, Out>(a, in.v[j], param_of<kMode>(a.layout, first_param, first, j));
      }
      reinterpret_cast<Vector<Out, kVec>*>(y)[v] = out;
    }
    const int64_t tail = vectors * kVec;
    KILN_GRID_STRIDE_LOOP(t, a.n - tail) {
      const int64_t i = tail + t;
      y[i] = dequantize_one<Bits, Out>(a, x[i], a.layout.index(i));
    }
    return;
  }
  KILN_GRID_STRIDE_LOOP(i, a.n) { y[i] = dequantize_one<Bits, Out>(a, x[i], a.layout.index(i)); }
}

bool is_dequantize_input(DataType t) { return is_quantized_output(t) || t == DataType::kInt32; }

bool dequantize_supported(const NodeQuery& q) {
  if (!q.has_output(0) || !is_dequantize_input(q.input(0).dtype) ||
      !is_float16_or_32(q.input(1).dtype) || !is_float16_or_32(q.outputs[0].dtype)) {
    return false;
  }
  return !q.has_input(2) || q.input(2).dtype == q.input(0).dtype;
}

void run_dequantize(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& scale = rc.input(1);
  const DeviceTensor& y = rc.output(0);
  const int64_t n = x.numel();
  if (n == 0) return;
  DequantizeArgs a{};
  a.scale = scale.data;
  a.zero_point = rc.has_input(2) ? rc.input(2).data : nullptr;
  a.y = y.data;
  a.n = n;
  a.layout = resolve_layout(rc.node, x.shape, scale.shape);
  a.x_type = x.dtype;
  a.scale_type = scale.dtype;
  dispatch_bits(rc.node, element_size(x.dtype), [&](auto bits_tag) {
    using Bits = typename decltype(bits_tag)::type;
    if constexpr (sizeof(Bits) <= 4) {
      dispatch_float(rc.node, y.dtype, [&](auto out_tag) {
        using Out = typename decltype(out_tag)::type;
        const bool vectorized = n >= kVec && aligned(x.data, sizeof(Bits) * kVec) &&
                                aligned(y.data, sizeof(Out) * kVec);
        dispatch_mode(vectorized ? param_mode(a.layout) : ParamMode::kGeneral, [&](auto mode) {
          dequantize_kernel<Bits, Out, decltype(mode)::value>
              <<<vector_grid(n, vectorized), kBlock, 0, rc.stream>>>(x.as<Bits>(), a, vectorized);
        });
      });
    } else {
      fail(ErrorCode::kInternal, rc.node.describe(), ": DequantizeLinear kernel for ",
           to_string(x.dtype));
    }
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "DequantizeLinear", "cuda_dequantize_linear", {}, dequantize_supported, run_dequantize});

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear: the range of x (extended to include 0, NaN ignored) in two passes
// (per-block partials into the context's workspace, then one block), then the uint8
// quantization with the scale and zero point that the second pass left in the workspace.

inline constexpr int kRangeBlocks = 1024;

struct Range {
  float lo, hi;
};

__global__ void partial_range_kernel(const float* __restrict__ x, int64_t n, Range* partials) {
  __shared__ float scratch[32];
  float lo = 0.0f, hi = 0.0f;
  KILN_GRID_STRIDE_LOOP(i, n) {
    lo = fminf(lo, x[i]);  // fminf/fmaxf skip NaN as std::min/max with a NaN second operand do
    hi = fmaxf(hi, x[i]);
  }
  lo = block_reduce(
      lo, [](float p, float q) { return fminf(p, q); }, scratch);
  hi = block_reduce(
      hi, [](float p, float q) { return fmaxf(p, q); }, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = {lo, hi};
}

// params[0] = scale, params[1] = zero point (as float); also the optional outputs.
__global__ void finish_range_kernel(const Range* partials, int count, float* params,
                                    float* scale_out, uint8_t* zero_point_out) {
  __shared__ float scratch[32];
  float lo = 0.0f, hi = 0.0f;
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) {
    lo = fminf(lo, partials[i].lo);
    hi = fmaxf(hi, partials[i].hi);
  }
  lo = block_reduce(
      lo, [](float p, float q) { return fminf(p, q); }, scratch);
  hi = block_reduce(
      hi, [](float p, float q) { return fmaxf(p, q); }, scratch);
  if (threadIdx.x != 0) return;
  const float scale = __fdiv_rn(hi == lo ? 1.0f : __fsub_rn(hi, lo), 255.0f);
  const float zero_point = rintf(fminf(fmaxf(__fsub_rn(0.0f, __fdiv_rn(lo, scale)), 0.0f), 255.0f));
  params[0] = scale;
  params[1] = zero_point;
  if (scale_out) *scale_out = scale;
  if (zero_point_out) *zero_point_out = uint8_t(zero_point);
}

__global__ void dynamic_quantize_kernel(const float* __restrict__ x, int64_t n, const float* params,
                                        uint8_t* __restrict__ y) {
  const float scale = params[0], zero_point = params[1];
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float q = __fadd_rn(rintf(__fdiv_rn(x[i], scale)), zero_point);
    y[i] = uint8_t(isnan(q) ? zero_point : fminf(fmaxf(q, 0.0f), 255.0f));
  }
}

void run_dynamic_quantize(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const int64_t n = x.numel();
  KILN_CHECK(rc.workspace_bytes >= kRangeBlocks * sizeof(Range) + 256, ErrorCode::kRuntime,
             rc.node.describe(), ": the context's workspace is too small");
  auto* partials = static_cast<Range*>(rc.workspace);
  auto* params =
      reinterpret_cast<float*>(static_cast<char*>(rc.workspace) + kRangeBlocks * sizeof(Range));
  const unsigned blocks = std::min<unsigned>(grid_for(n), kRangeBlocks);
  partial_range_kernel<<<blocks, kBlock, 0, rc.stream>>>(x.as<float>(), n, partials);
  float* scale_out =
      rc.outputs.size() > 1 && rc.outputs[1].present ? rc.outputs[1].as<float>() : nullptr;
  uint8_t* zero_out =
      rc.outputs.size() > 2 && rc.outputs[2].present ? rc.outputs[2].as<uint8_t>() : nullptr;
  finish_range_kernel<<<1, 1024, 0, rc.stream>>>(partials, int(blocks), params, scale_out,
                                                 zero_out);
  if (n > 0) {
    dynamic_quantize_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(x.as<float>(), n, params,
                                                                   rc.output(0).as<uint8_t>());
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "DynamicQuantizeLinear",
    "cuda_dynamic_quantize_linear",
    {},
    [](const NodeQuery& q) {
      if (q.input(0).dtype != DataType::kFloat32 || !q.has_output(0) ||
          q.outputs[0].dtype != DataType::kUInt8) {
        return false;
      }
      return (!q.has_output(1) || q.outputs[1].dtype == DataType::kFloat32) &&
             (!q.has_output(2) || q.outputs[2].dtype == DataType::kUInt8);
    },
    run_dynamic_quantize});

}  // namespace
}  // namespace kiln::cuda
