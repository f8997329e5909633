#include <unordered_map>

#include "backends/cuda/data_movement.cuh"
#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda {

namespace {

// Compute types: float for the float storage types, int64 for integers and bool.
template <typename T>
struct ComputeOf {
  using type = float;
};
template <>
struct ComputeOf<int32_t> {
  using type = int64_t;
};
template <>
struct ComputeOf<int64_t> {
  using type = int64_t;
};
template <>
struct ComputeOf<uint8_t> {  // bool
  using type = int64_t;
};

template <typename T>
__device__ __forceinline__ typename ComputeOf<T>::type load(T v) {
  if constexpr (std::is_same_v<typename ComputeOf<T>::type, float>) {
    return to_float(v);
  } else {
    return int64_t(v);
  }
}

template <typename O, typename C>
__device__ __forceinline__ O store(C v) {
  if constexpr (std::is_same_v<O, float> || std::is_same_v<O, half> || std::is_same_v<O, bfloat16>) {
    return from_float<O>(float(v));
  } else {
    return O(v);  // integers wrap (modular conversion); comparisons give 0 or 1
  }
}

// ---------------------------------------------------------------------------------------------
// Binary ops

enum BinaryOp : int {
  kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kPRelu,
  kEqual, kLess, kGreater, kLessOrEqual, kGreaterOrEqual, kAnd, kOr, kXor,
};

__device__ __forceinline__ float apply_binary(int op, float a, float b) {
  switch (op) {
    case kAdd: return a + b;
    case kSub: return a - b;
    case kMul: return a * b;
    case kDiv: return a / b;
    case kPow: return b == 2.0f ? a * a : (b == 1.0f ? a : powf(a, b));
    case kMax: return isnan(a) ? a : (a > b ? a : b);  // NaN in either propagates
    case kMin: return isnan(a) ? a : (a < b ? a : b);
    case kPRelu: return a < 0.0f ? b * a : a;
    case kEqual: return a == b;
    case kLess: return a < b;
    case kGreater: return a > b;
    case kLessOrEqual: return a <= b;
    case kGreaterOrEqual: return a >= b;
    default: return 0.0f;
  }
}

__device__ __forceinline__ int64_t apply_binary(int op, int64_t a, int64_t b) {
  // Add/Sub/Mul wrap: computed on uint64 (defined behaviour), truncated by the store.
  const uint64_t ua = uint64_t(a), ub = uint64_t(b);
  switch (op) {
    case kAdd: return int64_t(ua + ub);
    case kSub: return int64_t(ua - ub);
    case kMul: return int64_t(ua * ub);
    // Division by zero is an error on the CPU; the GPU cannot report it and gives 0.
    case kDiv: return b == 0 ? 0 : (b == -1 ? int64_t(0 - ua) : a / b);
    case kMax: return a > b ? a : b;
    case kMin: return a < b ? a : b;
    case kEqual: return a == b;
    case kLess: return a < b;
    case kGreater: return a > b;
    case kLessOrEqual: return a <= b;
    case kGreaterOrEqual: return a >= b;
    case kAnd: return (a != 0) && (b != 0);
    case kOr: return (a != 0) || (b != 0);
    case kXor: return (a != 0) != (b != 0);
    default: return 0;
  }
}

template <typename T, typename O>
__global__ void binary_kernel(const T* __restrict__ a, const T* __restrict__ b, O* out, int64_t n,
                              int op, StridedMap<2> map, bool same_shape) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t ia = i, ib = i;
    if (!same_shape) {
      int64_t off[2];
      map.offsets(i, off);
      ia = off[0];
      ib = off[1];
    }
    out[i] = store<O>(apply_binary(op, load(a[ia]), load(b[ib])));
  }
}

bool is_comparison(int op) { return op >= kEqual; }

template <typename Fn>
void dispatch_binary_type(const ir::Node& node, DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32: return fn(Tag<float>{});
    case DataType::kFloat16: return fn(Tag<half>{});
    case DataType::kBFloat16: return fn(Tag<bfloat16>{});
    case DataType::kInt32: return fn(Tag<int32_t>{});
    case DataType::kInt64: return fn(Tag<int64_t>{});
    case DataType::kBool: return fn(Tag<uint8_t>{});
    default: break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": binary CUDA kernel for ", to_string(dtype));
}

// out = op(a, b) with a, b broadcast to out's shape.
void launch_binary(const ir::Node& node, int op, const DeviceTensor& a, const DeviceTensor& b,
                   const DeviceTensor& out, cudaStream_t stream) {
  const int64_t n = out.numel();
  if (n == 0) return;
  const bool same = a.shape == out.shape && b.shape == out.shape;
  StridedMap<2> map;
  if (!same) {
    map = make_strided_map<2>(node, out.shape, {broadcast_strides_to(a.shape, out.shape),
                                                broadcast_strides_to(b.shape, out.shape)});
  }
  dispatch_binary_type(node, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (is_comparison(op)) {
      binary_kernel<T, uint8_t><<<grid_for(n), kBlock, 0, stream>>>(
          a.as<T>(), b.as<T>(), out.as<uint8_t>(), n, op, map, same);
    } else {
      binary_kernel<T, T><<<grid_for(n), kBlock, 0, stream>>>(a.as<T>(), b.as<T>(), out.as<T>(), n,
                                                              op, map, same);
    }
  });
}

bool is_float_or_int(DataType t) {
  return is_float16_or_32(t) || t == DataType::kInt32 || t == DataType::kInt64;
}

// Registers op `name` computing `op`, for inputs of the types `accepts` allows. Variadic ops
// (Max, Min, Sum) fold their inputs left to right into the output.
void register_binary(const char* name, int op, bool (*accepts)(DataType)) {
  CudaKernelRegistry::instance().add(CudaKernel{
      name, "cuda_binary_broadcast", {},
      [accepts](const NodeQuery& q) {
        if (q.inputs.size() < 2 || !ranks_fit(q)) return false;
        for (const TensorInfo& t : q.inputs) {
          if (!t.present || t.dtype != q.input(0).dtype) return false;
        }
        return accepts(q.input(0).dtype);
      },
      [op](RunContext& rc) {
        launch_binary(rc.node, op, rc.input(0), rc.input(1), rc.output(0), rc.stream);
        for (size_t i = 2; i < rc.inputs.size(); ++i) {
          launch_binary(rc.node, op, rc.output(0), rc.input(i), rc.output(0), rc.stream);
        }
      }});
}

bool float_types(DataType t) { return is_float16_or_32(t); }
bool numeric_types(DataType t) { return is_float_or_int(t); }
bool numeric_or_bool(DataType t) { return is_float_or_int(t) || t == DataType::kBool; }
bool bool_type(DataType t) { return t == DataType::kBool; }

const bool binary_registered = [] {
  register_binary("Add", kAdd, numeric_types);
  register_binary("Sub", kSub, numeric_types);
  register_binary("Mul", kMul, numeric_types);
  register_binary("Div", kDiv, numeric_types);
  register_binary("Pow", kPow, float_types);
  register_binary("Max", kMax, numeric_types);
  register_binary("Min", kMin, numeric_types);
  register_binary("Sum", kAdd, float_types);
  register_binary("PRelu", kPRelu, float_types);
  register_binary("Equal", kEqual, numeric_or_bool);
  register_binary("Less", kLess, numeric_types);
  register_binary("Greater", kGreater, numeric_types);
  register_binary("LessOrEqual", kLessOrEqual, numeric_types);
  register_binary("GreaterOrEqual", kGreaterOrEqual, numeric_types);
  register_binary("And", kAnd, bool_type);
  register_binary("Or", kOr, bool_type);
  register_binary("Xor", kXor, bool_type);
  return true;
}();

// ---------------------------------------------------------------------------------------------
// Unary ops

__device__ __forceinline__ float softplus(float x) {
  return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

__device__ __forceinline__ float hard_sigmoid(float x, float alpha, float beta) {
  const float v = alpha * x + beta;
  return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

__device__ __forceinline__ float apply_unary(UnaryOp op, float x, const UnaryParams& p) {
  switch (op) {
    case UnaryOp::kRelu: return x < 0.0f ? 0.0f : x;
    case UnaryOp::kSigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::kTanh: return tanhf(x);
    case UnaryOp::kErf: return erff(x);
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kLog: return logf(x);
    case UnaryOp::kSqrt: return sqrtf(x);
    case UnaryOp::kReciprocal: return 1.0f / x;
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kSign: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case UnaryOp::kFloor: return floorf(x);
    case UnaryOp::kCeil: return ceilf(x);
    case UnaryOp::kRound: return rintf(x);  // half to even
    case UnaryOp::kSin: return sinf(x);
    case UnaryOp::kCos: return cosf(x);
    case UnaryOp::kGelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case UnaryOp::kGeluTanh: {
      const float k = 0.79788456080286536f;  // sqrt(2 / pi)
      return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    case UnaryOp::kLeakyRelu: return x < 0.0f ? p.alpha * x : x;
    case UnaryOp::kElu: return x < 0.0f ? p.alpha * expm1f(x) : x;
    case UnaryOp::kSelu: return x > 0.0f ? p.gamma * x : p.gamma * (p.alpha * expm1f(x));
    case UnaryOp::kHardSigmoid: return hard_sigmoid(x, p.alpha, p.beta);
    case UnaryOp::kHardSwish: return x * hard_sigmoid(x, 1.0f / 6.0f, 0.5f);
    case UnaryOp::kSoftplus: return softplus(x);
    case UnaryOp::kSoftsign: return x / (1.0f + fabsf(x));
    case UnaryOp::kMish: return x * tanhf(softplus(x));
    case UnaryOp::kClip:  // NaN passes through both comparisons
      if (p.has_min && x < p.alpha) x = p.alpha;
      if (p.has_max && x > p.beta) x = p.beta;
      return x;
    case UnaryOp::kThresholdedRelu: return x > p.alpha ? x : 0.0f;
    default: return x;
  }
}

__device__ __forceinline__ int64_t apply_unary(UnaryOp op, int64_t x, const UnaryParams&) {
  switch (op) {
    case UnaryOp::kRelu: return x < 0 ? 0 : x;
    case UnaryOp::kNeg: return int64_t(0 - uint64_t(x));
    case UnaryOp::kAbs: return x < 0 ? int64_t(0 - uint64_t(x)) : x;
    case UnaryOp::kSign: return x > 0 ? 1 : (x < 0 ? -1 : 0);
    case UnaryOp::kNot: return x == 0;
    default: return x;
  }
}

template <typename T>
__global__ void unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, UnaryOp op,
                             UnaryParams params) {
  KILN_GRID_STRIDE_LOOP(i, n) { y[i] = store<T>(apply_unary(op, load(x[i]), params)); }
}

}  // namespace

void launch_unary(const ir::Node& node, UnaryOp op, const UnaryParams& params, DataType dtype,
                  const void* x, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  dispatch_binary_type(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(x),
                                                        static_cast<T*>(y), n, op, params);
  });
}

namespace {

bool int_unary(UnaryOp op) {
  return op == UnaryOp::kRelu || op == UnaryOp::kNeg || op == UnaryOp::kAbs ||
         op == UnaryOp::kSign;
}

// The activation's parameters from the node's attributes (defaults of the newest ONNX spec).
UnaryParams read_params(const RunContext& rc, UnaryOp op) {
  const ir::Node& node = rc.node;
  UnaryParams p;
  switch (op) {
    case UnaryOp::kLeakyRelu: p.alpha = float(node.attr_float("alpha", 0.01)); break;
    case UnaryOp::kElu: p.alpha = float(node.attr_float("alpha", 1.0)); break;
    case UnaryOp::kThresholdedRelu: p.alpha = float(node.attr_float("alpha", 1.0)); break;
    case UnaryOp::kSelu:
      p.alpha = float(node.attr_float("alpha", 1.67326319217681884765625));
      p.gamma = float(node.attr_float("gamma", 1.05070102214813232421875));
      break;
    case UnaryOp::kHardSigmoid:
      p.alpha = float(node.attr_float("alpha", 0.2));
      p.beta = float(node.attr_float("beta", 0.5));
      break;
    case UnaryOp::kClip:
      p.has_min = rc.has_input(1);
      p.has_max = rc.has_input(2);
      if (p.has_min) p.alpha = float(rc.host_input(1, "min").as_double(0));
      if (p.has_max) p.beta = float(rc.host_input(2, "max").as_double(0));
      break;
    default: break;
  }
  return p;
}

void register_unary(const char* name, UnaryOp op, std::vector<size_t> host_inputs = {}) {
  CudaKernelRegistry::instance().add(CudaKernel{
      name, "cuda_unary", std::move(host_inputs),
      [op](const NodeQuery& q) {
        const DataType t = q.input(0).dtype;
        if (op == UnaryOp::kNot) return t == DataType::kBool;
        if (is_float16_or_32(t)) return true;
        return int_unary(op) && (t == DataType::kInt32 || t == DataType::kInt64);
      },
      [op](RunContext& rc) {
        launch_unary(rc.node, op, read_params(rc, op), rc.input(0).dtype, rc.input(0).data,
                     rc.output(0).data, rc.output(0).numel(), rc.stream);
      }});
}

const bool unary_registered = [] {
  register_unary("Relu", UnaryOp::kRelu);
  register_unary("Sigmoid", UnaryOp::kSigmoid);
  register_unary("Tanh", UnaryOp::kTanh);
  register_unary("Erf", UnaryOp::kErf);
  register_unary("Exp", UnaryOp::kExp);
  register_unary("Log", UnaryOp::kLog);
  register_unary("Sqrt", UnaryOp::kSqrt);
  register_unary("Reciprocal", UnaryOp::kReciprocal);
  register_unary("Neg", UnaryOp::kNeg);
  register_unary("Abs", UnaryOp::kAbs);
  register_unary("Sign", UnaryOp::kSign);
  register_unary("Floor", UnaryOp::kFloor);
  register_unary("Ceil", UnaryOp::kCeil);
  register_unary("Round", UnaryOp::kRound);
  register_unary("Sin", UnaryOp::kSin);
  register_unary("Cos", UnaryOp::kCos);
  register_unary("LeakyRelu", UnaryOp::kLeakyRelu);
  register_unary("Elu", UnaryOp::kElu);
  register_unary("Selu", UnaryOp::kSelu);
  register_unary("HardSigmoid", UnaryOp::kHardSigmoid);
  register_unary("HardSwish", UnaryOp::kHardSwish);
  register_unary("Softplus", UnaryOp::kSoftplus);
  register_unary("Softsign", UnaryOp::kSoftsign);
  register_unary("Mish", UnaryOp::kMish);
  register_unary("ThresholdedRelu", UnaryOp::kThresholdedRelu);
  register_unary("Not", UnaryOp::kNot);
  return true;
}();

// IsNaN, IsInf: a float's class as a bool (IsInf's detect_positive/detect_negative choose the
// signs it reports).
template <typename T>
__global__ void float_class_kernel(const T* __restrict__ x, bool* __restrict__ y, int64_t n,
                                   bool nan, bool positive_inf, bool negative_inf) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const float v = to_float(x[i]);
    y[i] = nan ? isnan(v) : (isinf(v) && ((v > 0.0f && positive_inf) || (v < 0.0f && negative_inf)));
  }
}

void run_float_class(RunContext& rc) {
  const int64_t n = rc.output(0).numel();
  if (n == 0) return;
  const bool nan = rc.node.op == "IsNaN";
  const bool positive = rc.node.attr_int("detect_positive", 1) != 0;
  const bool negative = rc.node.attr_int("detect_negative", 1) != 0;
  dispatch_float(rc.node, rc.input(0).dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    float_class_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(rc.input(0).as<T>(), rc.output(0).as<bool>(),
                                                              n, nan, positive, negative);
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "IsNaN", "cuda_float_class", {}, [](const NodeQuery& q) { return is_float16_or_32(q.input(0).dtype); },
    run_float_class});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "IsInf", "cuda_float_class", {}, [](const NodeQuery& q) { return is_float16_or_32(q.input(0).dtype); },
    run_float_class});

// Gelu: the approximation is an attribute.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Gelu", "cuda_unary", {}, [](const NodeQuery& q) { return is_float16_or_32(q.input(0).dtype); },
    [](RunContext& rc) {
      const UnaryOp op = rc.node.attr_string("approximate", "none") == "tanh" ? UnaryOp::kGeluTanh
                                                                             : UnaryOp::kGelu;
      launch_unary(rc.node, op, {}, rc.input(0).dtype, rc.input(0).data, rc.output(0).data,
                   rc.output(0).numel(), rc.stream);
    }});

// Clip: the bounds are scalars read on the host (they are constants in every exported model).
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Clip", "cuda_unary", {1, 2},
    [](const NodeQuery& q) { return is_float16_or_32(q.input(0).dtype); },
    [](RunContext& rc) {
      launch_unary(rc.node, UnaryOp::kClip, read_params(rc, UnaryOp::kClip), rc.input(0).dtype,
                   rc.input(0).data, rc.output(0).data, rc.output(0).numel(), rc.stream);
    }});

// ---------------------------------------------------------------------------------------------
// Where: elements are only moved, so X and Y are handled by element size.

template <typename T>
__global__ void where_kernel(const uint8_t* __restrict__ c, const T* __restrict__ x,
                             const T* __restrict__ y, T* __restrict__ out, int64_t n,
                             StridedMap<3> map) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t off[3];
    map.offsets(i, off);
    out[i] = c[off[0]] ? x[off[1]] : y[off[2]];
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Where", "cuda_where_broadcast", {},
    [](const NodeQuery& q) {
      const size_t b = element_size(q.input(1).dtype);
      return ranks_fit(q) && (b == 1 || b == 2 || b == 4 || b == 8);
    },
    [](RunContext& rc) {
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const StridedMap<3> map = make_strided_map<3>(
          rc.node, out.shape,
          {broadcast_strides_to(rc.input(0).shape, out.shape),
           broadcast_strides_to(rc.input(1).shape, out.shape),
           broadcast_strides_to(rc.input(2).shape, out.shape)});
      dispatch_bits(rc.node, element_size(out.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        where_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
            rc.input(0).as<uint8_t>(), rc.input(1).as<T>(), rc.input(2).as<T>(), out.as<T>(), n, map);
      });
    }});

// ---------------------------------------------------------------------------------------------
// Cast. As on the CPU: floats convert through double (float to integer truncates toward zero,
// NaN gives 0, out-of-range values saturate at the int64 range and then wrap), integers keep
// their low bits, anything to bool is "not zero". One kernel with the types as arguments (the
// branches are uniform across a launch) instead of one instantiation per pair.

enum CastType : int { kF32, kF16, kBF16, kI8, kU8, kI16, kI32, kI64, kBool };

bool cast_type_of(DataType t, int* code) {
  switch (t) {
    case DataType::kFloat32: *code = kF32; return true;
    case DataType::kFloat16: *code = kF16; return true;
    case DataType::kBFloat16: *code = kBF16; return true;
    case DataType::kInt8: *code = kI8; return true;
    case DataType::kUInt8: *code = kU8; return true;
    case DataType::kInt16: *code = kI16; return true;
    case DataType::kInt32: *code = kI32; return true;
    case DataType::kInt64: *code = kI64; return true;
    case DataType::kBool: *code = kBool; return true;
    default: return false;
  }
}

__device__ __forceinline__ int64_t float_to_integer(double v) {
  if (isnan(v)) return 0;
  v = trunc(v);
  if (v >= 9223372036854775808.0) return INT64_MAX;
  if (v < -9223372036854775808.0) return INT64_MIN;
  return int64_t(v);
}

__global__ void cast_kernel(const void* __restrict__ in, void* __restrict__ out, int64_t n, int src,
                            int dst) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    bool is_float = true;
    double f = 0;
    int64_t v = 0;
    switch (src) {
      case kF32: f = static_cast<const float*>(in)[i]; break;
      case kF16: f = __half2float(static_cast<const half*>(in)[i]); break;
      case kBF16: f = __bfloat162float(static_cast<const bfloat16*>(in)[i]); break;
      case kI8: is_float = false; v = static_cast<const int8_t*>(in)[i]; break;
      case kU8: is_float = false; v = static_cast<const uint8_t*>(in)[i]; break;
      case kI16: is_float = false; v = static_cast<const int16_t*>(in)[i]; break;
      case kI32: is_float = false; v = static_cast<const int32_t*>(in)[i]; break;
      case kI64: is_float = false; v = static_cast<const int64_t*>(in)[i]; break;
      default: is_float = false; v = static_cast<const uint8_t*>(in)[i] != 0; break;
    }
    const float as_float = is_float ? float(f) : float(v);
    const int64_t as_int = is_float ? float_to_integer(f) : v;
    switch (dst) {
      case kF32: static_cast<float*>(out)[i] = as_float; break;
      case kF16: static_cast<half*>(out)[i] = __float2half_rn(as_float); break;
      case kBF16: static_cast<bfloat16*>(out)[i] = __float2bfloat16_rn(as_float); break;
      case kI8: static_cast<int8_t*>(out)[i] = int8_t(as_int); break;
      case kU8: static_cast<uint8_t*>(out)[i] = uint8_t(as_int); break;
      case kI16: static_cast<int16_t*>(out)[i] = int16_t(as_int); break;
      case kI32: static_cast<int32_t*>(out)[i] = int32_t(as_int); break;
      case kI64: static_cast<int64_t*>(out)[i] = as_int; break;
      default: static_cast<uint8_t*>(out)[i] = is_float ? uint8_t(f != 0.0) : uint8_t(v != 0); break;
    }
  }
}

void run_cast(RunContext& rc) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  if (in.dtype == out.dtype) return copy_device(rc.node, in.data, out.data, out.nbytes(), rc.stream);
  int src = 0, dst = 0;
  cast_type_of(in.dtype, &src);
  cast_type_of(out.dtype, &dst);
  cast_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(in.data, out.data, n, src, dst);
}

bool cast_supported(const NodeQuery& q) {
  int code = 0;
  return cast_type_of(q.input(0).dtype, &code) && cast_type_of(q.outputs.at(0).dtype, &code);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Cast", "cuda_cast", {}, cast_supported, run_cast});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{"CastLike", "cuda_cast", {}, cast_supported, run_cast});

}  // namespace
}  // namespace kiln::cuda
