// Unary elementwise ops: math functions, activations, Clip, Shrink, Not, BitwiseNot and the
// float classifiers IsNaN / IsInf, over the dtypes the CPU reference accepts for each (the op
// semantics are in elementwise.cuh).
#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda {

namespace {

template <typename T>
void launch_float_unary(UnaryOp op, const UnaryParams& p, const T* x, T* y, int64_t n,
                        cudaStream_t stream) {
  auto dynamic = [&] { launch_map(x, y, n, DynamicUnary{op, p}, stream); };
  if constexpr (std::is_same_v<T, double>) {
    dynamic();  // float64 is never hot on a GPU: the run-time switch only
  } else {
    // The activations and functions of common models get a kernel each with the op fixed at
    // compile time.
    dispatch_hot_op<UnaryOp::kRelu, UnaryOp::kSigmoid, UnaryOp::kTanh, UnaryOp::kErf, UnaryOp::kExp,
                    UnaryOp::kSqrt, UnaryOp::kReciprocal, UnaryOp::kNeg, UnaryOp::kGelu,
                    UnaryOp::kGeluTanh, UnaryOp::kLeakyRelu, UnaryOp::kHardSigmoid,
                    UnaryOp::kHardSwish, UnaryOp::kSwish, UnaryOp::kSquare>(
        op, [&](auto k) { launch_map(x, y, n, StaticUnary<decltype(k)::value>{p}, stream); },
        dynamic);
  }
}

}  // namespace

void launch_unary(const ir::Node& node, UnaryOp op, const UnaryParams& params, DataType dtype,
                  const void* x, void* y, int64_t n, cudaStream_t stream) {
  if (is_float_type(dtype)) {
    return dispatch_float_types(node, dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      launch_float_unary(op, params, static_cast<const T*>(x), static_cast<T*>(y), n, stream);
    });
  }
  dispatch_integer_types(node, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_map(static_cast<const T*>(x), static_cast<T*>(y), n, DynamicUnary{op, params}, stream);
  });
}

namespace {

// ---------------------------------------------------------------------------------------------
// Registration: one table row per op, with the dtypes the CPU reference accepts.

struct UnaryOpDef {
  const char* name;
  UnaryOp op;
  ew::TypeSet types = ew::kFloatTypes;
};

constexpr ew::TypeSet kFloatOrSigned = ew::kFloatTypes | ew::kSignedIntTypes;

constexpr UnaryOpDef kUnaryOps[] = {
    {"Relu", UnaryOp::kRelu, kFloatOrSigned},
    {"Neg", UnaryOp::kNeg, kFloatOrSigned},
    {"Abs", UnaryOp::kAbs, ew::kNumericTypes},
    {"Sign", UnaryOp::kSign, ew::kNumericTypes},
    {"Shrink", UnaryOp::kShrink, ew::kNumericTypes},
    {"Not", UnaryOp::kNot, ew::kBoolType},
    {"BitwiseNot", UnaryOp::kBitwiseNot, ew::kIntTypes},
    {"Sigmoid", UnaryOp::kSigmoid},
    {"Tanh", UnaryOp::kTanh},
    {"Erf", UnaryOp::kErf},
    {"Exp", UnaryOp::kExp},
    {"Log", UnaryOp::kLog},
    {"Sqrt", UnaryOp::kSqrt},
    {"Reciprocal", UnaryOp::kReciprocal},
    {"Floor", UnaryOp::kFloor},
    {"Ceil", UnaryOp::kCeil},
    {"Round", UnaryOp::kRound},
    {"Sin", UnaryOp::kSin},
    {"Cos", UnaryOp::kCos},
    {"Tan", UnaryOp::kTan},
    {"Asin", UnaryOp::kAsin},
    {"Acos", UnaryOp::kAcos},
    {"Atan", UnaryOp::kAtan},
    {"Sinh", UnaryOp::kSinh},
    {"Cosh", UnaryOp::kCosh},
    {"Asinh", UnaryOp::kAsinh},
    {"Acosh", UnaryOp::kAcosh},
    {"Atanh", UnaryOp::kAtanh},
    {"Gelu", UnaryOp::kGelu},
    {"LeakyRelu", UnaryOp::kLeakyRelu},
    {"Elu", UnaryOp::kElu},
    {"Selu", UnaryOp::kSelu},
    {"Celu", UnaryOp::kCelu},
    {"ThresholdedRelu", UnaryOp::kThresholdedRelu},
    {"HardSigmoid", UnaryOp::kHardSigmoid},
    {"HardSwish", UnaryOp::kHardSwish},
    {"Softplus", UnaryOp::kSoftplus},
    {"Softsign", UnaryOp::kSoftsign},
    {"Mish", UnaryOp::kMish},
    {"Swish", UnaryOp::kSwish},
};

// The attributes of `op` (defaults of the newest ONNX spec); Gelu's approximation picks the op.
UnaryParams read_params(const ir::Node& node, UnaryOp& op) {
  UnaryParams p;
  switch (op) {
    case UnaryOp::kLeakyRelu:
      p.alpha = node.attr_float("alpha", 0.01);
      break;
    case UnaryOp::kElu:
    case UnaryOp::kCelu:
    case UnaryOp::kThresholdedRelu:
    case UnaryOp::kSwish:
      p.alpha = node.attr_float("alpha", 1.0);
      break;
    case UnaryOp::kSelu:  // the float32 values ONNX's spec stores
      p.alpha = node.attr_float("alpha", 1.67326319217681884765625);
      p.gamma = node.attr_float("gamma", 1.05070102214813232421875);
      break;
    case UnaryOp::kHardSigmoid:
      p.alpha = node.attr_float("alpha", 0.2);
      p.beta = node.attr_float("beta", 0.5);
      break;
    case UnaryOp::kShrink:
      p.alpha = node.attr_float("lambd", 0.5);
      p.beta = node.attr_float("bias", 0.0);
      break;
    case UnaryOp::kGelu:
      if (node.attr_string("approximate", "none") == "tanh") op = UnaryOp::kGeluTanh;
      break;
    default:
      break;
  }
  return p;
}

const bool unary_registered = [] {
  for (const UnaryOpDef& def : kUnaryOps) {
    KILN_ADD_CUDA_KERNEL(
        CudaKernel{def.name,
                   "cuda_unary",
                   {},
                   [&def](const NodeQuery& q) { return ew::type_in(q.input(0).dtype, def.types); },
                   [&def](RunContext& rc) {
                     UnaryOp op = def.op;
                     const UnaryParams p = read_params(rc.node, op);
                     launch_unary(rc.node, op, p, rc.input(0).dtype, rc.input(0).data,
                                  rc.output(0).data, rc.output(0).numel(), rc.stream);
                   }});
  }
  return true;
}();

// ---------------------------------------------------------------------------------------------
// Clip: optional scalar bounds of the input's type, read on the device (constants or values
// computed at run time alike), once per thread. NaN passes through both comparisons; with
// min > max every value becomes max, as ONNX specifies.

template <typename T>
struct ClipFn {
  const T* lo_ptr = nullptr;  // nullptr: no lower bound
  const T* hi_ptr = nullptr;
  ComputeOf<T> lo{};
  ComputeOf<T> hi{};

  template <typename C>
  __device__ C operator()(C x) const {
    if (lo_ptr && x < lo) x = lo;
    if (hi_ptr && x > hi) x = hi;
    return x;
  }
};

template <typename T>
__device__ __forceinline__ ClipFn<T> resolve(const ClipFn<T>& fn) {
  ClipFn<T> r = fn;
  if (fn.lo_ptr) r.lo = Elem<T>::load(*fn.lo_ptr);
  if (fn.hi_ptr) r.hi = Elem<T>::load(*fn.hi_ptr);
  return r;
}

void run_clip(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  auto launch = [&](auto tag) {
    using T = typename decltype(tag)::type;
    ClipFn<T> fn;
    if (rc.has_input(1)) fn.lo_ptr = rc.input(1).as<T>();
    if (rc.has_input(2)) fn.hi_ptr = rc.input(2).as<T>();
    launch_map(x.as<T>(), rc.output(0).as<T>(), x.numel(), fn, rc.stream);
  };
  if (is_float_type(x.dtype)) return dispatch_float_types(rc.node, x.dtype, launch);
  dispatch_integer_types(rc.node, x.dtype, launch);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Clip",
                                     "cuda_unary",
                                     {},
                                     [](const NodeQuery& q) {
                                       for (size_t i = 1; i < q.inputs.size(); ++i) {
                                         if (!q.has_input(i)) continue;
                                         if (q.input(i).dtype != q.input(0).dtype ||
                                             volume(q.input(i).shape) != 1)
                                           return false;
                                       }
                                       return ew::type_in(q.input(0).dtype, ew::kNumericTypes);
                                     },
                                     run_clip});

// ---------------------------------------------------------------------------------------------
// IsNaN, IsInf (float and float8 inputs): a float's class as a bool; IsInf's detect_positive
// and detect_negative choose the signs it reports.

struct FloatClassFn {
  bool nan;
  bool positive;
  bool negative;
  __device__ bool operator()(float x) const {
    return nan ? isnan(x) : (isinf(x) && (x > 0.0f ? positive : negative));
  }
  __device__ bool operator()(double x) const {
    return nan ? isnan(x) : (isinf(x) && (x > 0.0 ? positive : negative));
  }
};

void run_float_class(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const FloatClassFn fn{rc.node.op == "IsNaN", rc.node.attr_int("detect_positive", 1) != 0,
                        rc.node.attr_int("detect_negative", 1) != 0};
  auto launch = [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_map(x.as<T>(), rc.output(0).as<uint8_t>(), x.numel(), fn, rc.stream);
  };
  if (x.dtype == DataType::kFloat8E4M3) return launch(Tag<float8e4m3>{});
  if (x.dtype == DataType::kFloat8E5M2) return launch(Tag<float8e5m2>{});
  dispatch_float_types(rc.node, x.dtype, launch);
}

bool float_class_supported(const NodeQuery& q) {
  return ew::type_in(q.input(0).dtype, ew::kFloatTypes | ew::kFloat8Types);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "IsNaN", "cuda_float_class", {}, float_class_supported, run_float_class});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "IsInf", "cuda_float_class", {}, float_class_supported, run_float_class});

}  // namespace
}  // namespace kiln::cuda
