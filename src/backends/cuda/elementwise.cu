// Binary elementwise ops with numpy broadcasting (arithmetic, Mod, bitwise ops and shifts,
// comparisons, logical ops, PRelu, SwiGLU, the variadic Max/Min/Sum/Mean), Pow and Where.
// The float instantiations live here, the integer and bool ones in binary_integer.cu; the
// machinery and the op semantics are in elementwise.cuh.
#include <optional>

#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda {

// ---------------------------------------------------------------------------------------------
// Planning

namespace {

struct Block {
  int64_t div = 1;
  int64_t mod = 1;
};

// Operand k of `m` as a block (see BlockOperand): its non-zero strides must be one run of dims,
// contiguous within the run.
std::optional<Block> block_of(const StridedMap<2>& m, int k) {
  int first = -1, last = -1;
  for (int d = 0; d < m.rank; ++d) {
    if (m.strides[k][d] == 0) continue;
    if (first < 0) first = d;
    last = d;
  }
  Block b;
  if (first < 0) return b;  // a scalar
  for (int d = last + 1; d < m.rank; ++d) b.div *= m.dims[d];
  int64_t expected = 1;
  for (int d = last; d >= first; --d) {
    if (m.strides[k][d] != expected) return std::nullopt;
    expected *= m.dims[d];
  }
  b.mod = expected;
  return b;
}

// The 32-bit strided path of `p` (see BinaryPlan::fast), vectorized where every operand reads
// each vector of the innermost dim contiguously and aligned, or as one element.
void plan_fast_strided(BinaryPlan& p, const DeviceTensor& a, const DeviceTensor& b,
                       const DeviceTensor& out, int vector_width) {
  p.fast = fast_strided_map<2>(p.map, out.numel(), {a.numel(), b.numel()});
  if (!p.fast || p.map.rank == 0 || vector_width <= 1) return;
  const int inner = p.map.rank - 1;
  const int64_t v = vector_width;
  if (p.map.dims[inner] % v != 0 || !aligned_to(out.data, size_t(v) * element_size(out.dtype)))
    return;
  bool ok = true;
  auto operand = [&](int k, const DeviceTensor& t, bool& splat) {
    const int64_t inner_stride = p.map.strides[k][inner];
    splat = inner_stride == 0;
    if (splat) return;
    // A vector starts at a multiple of v in the innermost dim: contiguous, and aligned when
    // every outer stride and the base are.
    ok = ok && inner_stride == 1 && aligned_to(t.data, size_t(v) * element_size(t.dtype));
    for (int d = 0; d < inner; ++d) ok = ok && p.map.strides[k][d] % v == 0;
  };
  operand(0, a, p.splat_a);
  operand(1, b, p.splat_b);
  p.fast_vectorized = ok;
}

}  // namespace

BinaryPlan plan_binary(const ir::Node& node, const DeviceTensor& a, const DeviceTensor& b,
                       const DeviceTensor& out, int vector_width) {
  BinaryPlan p;
  p.map = make_strided_map<2>(
      node, out.shape,
      {broadcast_strides_to(a.shape, out.shape), broadcast_strides_to(b.shape, out.shape)});
  const int64_t n = out.numel();
  if (n > kMax32BitIndex) return p;
  const std::optional<Block> ba = block_of(p.map, 0);
  const std::optional<Block> bb = block_of(p.map, 1);
  if (!ba || !bb) {
    plan_fast_strided(p, a, b, out, vector_width);
    return p;
  }
  p.block = true;
  const int64_t v = vector_width;
  const size_t operand_bytes = size_t(v) * element_size(a.dtype);
  p.vectorized = v > 1 && n >= v && aligned_to(out.data, size_t(v) * element_size(out.dtype));
  auto place = [&](const Block& blk, const void* data, BlockOperand& o) {
    o.div = FastDivmod(uint32_t(blk.div));
    o.mod = FastDivmod(uint32_t(blk.mod));
    o.splat = blk.mod == 1 || blk.div % v == 0;
    const bool whole_vectors = blk.div == 1 && blk.mod % v == 0 && aligned_to(data, operand_bytes);
    if (!o.splat && !whole_vectors) p.vectorized = false;
  };
  place(*ba, a.data, p.a);
  place(*bb, b.data, p.b);
  return p;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Launch: predicates and arithmetic, float types here

void launch_binary(const ir::Node& node, BinaryOp op, double alpha, const DeviceTensor& a,
                   const DeviceTensor& b, const DeviceTensor& out, cudaStream_t stream) {
  if (!is_float_type(a.dtype)) return launch_binary_integer(node, op, a, b, out, stream);
  dispatch_float_types(node, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (is_predicate(op)) {
      launch_binary_map<T, uint8_t>(node, a, b, out, DynamicPredicate{op}, stream);
    } else {
      // The ops models spend their time in get a kernel each with the op fixed at compile
      // time; float64, never hot on a GPU, always takes the run-time switch.
      auto dynamic = [&] {
        launch_binary_map<T, T>(node, a, b, out, DynamicArith{op, alpha}, stream);
      };
      if constexpr (std::is_same_v<T, double>) {
        dynamic();
      } else {
        dispatch_hot_op<BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                        BinaryOp::kMax, BinaryOp::kMin, BinaryOp::kPRelu, BinaryOp::kSwiGLU>(
            op,
            [&](auto k) {
              launch_binary_map<T, T>(node, a, b, out, StaticArith<decltype(k)::value>{alpha},
                                      stream);
            },
            dynamic);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Registration: one table row per op, with the dtypes the CPU reference accepts.

enum class Arity { kTwo, kVariadic, kMean };

struct BinaryOpDef {
  const char* name;
  BinaryOp op;  // Mod and BitShift: the fmod=0 / LEFT variant, switched by the attribute
  ew::TypeSet types;
  Arity arity = Arity::kTwo;
};

constexpr ew::TypeSet kPReluTypes =
    ew::kFloatTypes | ew::type_bit(DataType::kInt32) | ew::type_bit(DataType::kInt64) |
    ew::type_bit(DataType::kUInt32) | ew::type_bit(DataType::kUInt64);

constexpr BinaryOpDef kBinaryOps[] = {
    {"Add", BinaryOp::kAdd, ew::kNumericTypes},
    {"Sub", BinaryOp::kSub, ew::kNumericTypes},
    {"Mul", BinaryOp::kMul, ew::kNumericTypes},
    {"Div", BinaryOp::kDiv, ew::kNumericTypes},
    {"Mod", BinaryOp::kModFloor, ew::kNumericTypes},
    {"Max", BinaryOp::kMax, ew::kNumericTypes, Arity::kVariadic},
    {"Min", BinaryOp::kMin, ew::kNumericTypes, Arity::kVariadic},
    {"Sum", BinaryOp::kAdd, ew::kFloatTypes, Arity::kVariadic},
    {"Mean", BinaryOp::kAdd, ew::kFloatTypes, Arity::kMean},
    {"PRelu", BinaryOp::kPRelu, kPReluTypes},
    {"SwiGLU", BinaryOp::kSwiGLU, ew::kFloatTypes},
    {"BitwiseAnd", BinaryOp::kBitAnd, ew::kIntTypes},
    {"BitwiseOr", BinaryOp::kBitOr, ew::kIntTypes},
    {"BitwiseXor", BinaryOp::kBitXor, ew::kIntTypes},
    {"BitShift", BinaryOp::kShiftLeft, ew::kIntTypes},
    {"Equal", BinaryOp::kEqual, ew::kNumericTypes | ew::kBoolType},
    {"Less", BinaryOp::kLess, ew::kNumericTypes},
    {"Greater", BinaryOp::kGreater, ew::kNumericTypes},
    {"LessOrEqual", BinaryOp::kLessOrEqual, ew::kNumericTypes},
    {"GreaterOrEqual", BinaryOp::kGreaterOrEqual, ew::kNumericTypes},
    {"And", BinaryOp::kAnd, ew::kBoolType},
    {"Or", BinaryOp::kOr, ew::kBoolType},
    {"Xor", BinaryOp::kXor, ew::kBoolType},
};

BinaryOp op_for(const ir::Node& node, BinaryOp op) {
  if (op == BinaryOp::kModFloor && node.attr_int("fmod", 0) == 1) return BinaryOp::kModTrunc;
  if (op == BinaryOp::kShiftLeft && node.attr_string("direction") == "RIGHT") {
    return BinaryOp::kShiftRight;
  }
  return op;
}

bool binary_supported(const BinaryOpDef& def, const NodeQuery& q) {
  const size_t min_inputs = def.arity == Arity::kTwo ? 2 : 1;
  if (q.inputs.size() < min_inputs || !ranks_fit(q)) return false;
  for (const TensorInfo& t : q.inputs) {
    if (!t.present || t.dtype != q.input(0).dtype) return false;
  }
  return ew::type_in(q.input(0).dtype, def.types);
}

// Variadic ops fold their inputs left to right into the output (float16 sums round at each
// step, where the CPU keeps a float32 accumulator: within the usual half tolerances).
void run_binary(const BinaryOpDef& def, RunContext& rc) {
  const BinaryOp op = op_for(rc.node, def.op);
  const double alpha = op == BinaryOp::kSwiGLU ? rc.node.attr_float("alpha", 1.0) : 0.0;
  const DeviceTensor& out = rc.output(0);
  const size_t count = rc.inputs.size();
  if (count == 1) return copy_device(rc.node, rc.input(0).data, out.data, out.nbytes(), rc.stream);
  launch_binary(rc.node, op, alpha, rc.input(0), rc.input(1), out, rc.stream);
  for (size_t i = 2; i < count; ++i) {
    launch_binary(rc.node, op, alpha, out, rc.input(i), out, rc.stream);
  }
  if (def.arity == Arity::kMean) {
    UnaryParams p;
    p.alpha = double(count);
    launch_unary(rc.node, UnaryOp::kDivideBy, p, out.dtype, out.data, out.data, out.numel(),
                 rc.stream);
  }
}

const bool binary_registered = [] {
  for (const BinaryOpDef& def : kBinaryOps) {
    KILN_ADD_CUDA_KERNEL(CudaKernel{def.name,
                                    "cuda_binary_broadcast",
                                    {},
                                    [&def](const NodeQuery& q) { return binary_supported(def, q); },
                                    [&def](RunContext& rc) { run_binary(def, rc); }});
  }
  return true;
}();

// ---------------------------------------------------------------------------------------------
// Pow: the exponent may have any numeric type (read through Wide, as the CPU converts it to
// the base's compute type, or to int64 / float64 for an integer base); the result has the
// base's type. A scalar constant exponent of 2 or 1 is plain arithmetic, as on the CPU.

// base^exponent by repeated squaring, wrapping; a negative exponent gives the truncated
// 1 / base^-exponent (0 unless |base| is 1; 0 for a 0 base, where the CPU reports an error).
template <typename T>
__device__ T integer_pow(T base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent % 2 == 0) ? 1 : -1;
    return 0;
  }
  T result = 1;
  while (exponent != 0) {
    if (exponent & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exponent >>= 1;
  }
  return result;
}

// An integer base to a float exponent, in double as the CPU does; an integral exponent up to
// 63 by exact products (the CPU's pow is exact wherever the result is, and CUDA's pow need not
// be, which truncation to an integer would expose).
__device__ double integer_base_pow(double x, double y) {
  if (y != trunc(y) || y < 0 || y > 63) return pow(x, y);
  double result = 1;
  for (int n = int(y); n != 0; n >>= 1, x *= x) {
    if (n & 1) result *= x;
  }
  return result;
}

template <typename T>
__global__ void pow_kernel(const T* base, const void* exponent, DataType exponent_type, T* out,
                           int64_t n, StridedMap<2> map) {
  using C = ComputeOf<T>;
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t off[2];
    map.offsets(i, off);
    const C x = Elem<T>::load(base[off[0]]);
    const Wide e = load_wide(exponent, off[1], exponent_type);
    C y;
    if constexpr (std::is_integral_v<C>) {
      y = e.kind == Wide::kFloat ? float_to_integer<C>(integer_base_pow(double(x), e.f))
                                 : integer_pow(x, int64_t(e.bits));
    } else if constexpr (std::is_same_v<C, double>) {
      y = pow(x, e.to_double());
    } else {
      y = powf(x, e.to_float());
    }
    out[i] = Elem<T>::store(y);
  }
}

constexpr ew::TypeSet kPowBaseTypes =
    ew::kFloatTypes | ew::type_bit(DataType::kInt32) | ew::type_bit(DataType::kInt64);

void run_pow(RunContext& rc) {
  const DeviceTensor& base = rc.input(0);
  const DeviceTensor& exponent = rc.input(1);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  const Tensor* e = exponent.host_value;
  if (is_float_type(base.dtype) && e && e->numel() == 1 &&
      exponent.shape.size() <= base.shape.size()) {
    const double value = e->as_double(0);
    if (value == 1.0) return copy_device(rc.node, base.data, out.data, out.nbytes(), rc.stream);
    if (value == 2.0) {
      return launch_unary(rc.node, UnaryOp::kSquare, {}, base.dtype, base.data, out.data, n,
                          rc.stream);
    }
  }
  const StridedMap<2> map = make_strided_map<2>(rc.node, out.shape,
                                                {broadcast_strides_to(base.shape, out.shape),
                                                 broadcast_strides_to(exponent.shape, out.shape)});
  auto launch = [&](auto tag) {
    using T = typename decltype(tag)::type;
    pow_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(base.as<T>(), exponent.data,
                                                         exponent.dtype, out.as<T>(), n, map);
  };
  if (base.dtype == DataType::kInt32) return launch(Tag<int32_t>{});
  if (base.dtype == DataType::kInt64) return launch(Tag<int64_t>{});
  dispatch_float_types(rc.node, base.dtype, launch);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Pow",
                                     "cuda_pow",
                                     {},
                                     [](const NodeQuery& q) {
                                       return q.inputs.size() == 2 && ranks_fit(q) &&
                                              ew::type_in(q.input(0).dtype, kPowBaseTypes) &&
                                              ew::type_in(q.input(1).dtype, ew::kNumericTypes);
                                     },
                                     run_pow});

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

template <typename T>
__global__ void where_fast_kernel(const uint8_t* __restrict__ c, const T* __restrict__ x,
                                  const T* __restrict__ y, T* __restrict__ out, uint32_t n,
                                  FastStridedMap<3> map) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    uint32_t off[3];
    map.offsets(i, off);
    out[i] = c[off[0]] ? x[off[1]] : y[off[2]];
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Where",
    "cuda_where_broadcast",
    {},
    [](const NodeQuery& q) { return ranks_fit(q) && movable_element_size(q.input(1).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const StridedMap<3> map =
          make_strided_map<3>(rc.node, out.shape,
                              {broadcast_strides_to(rc.input(0).shape, out.shape),
                               broadcast_strides_to(rc.input(1).shape, out.shape),
                               broadcast_strides_to(rc.input(2).shape, out.shape)});
      const std::optional<FastStridedMap<3>> fast = fast_strided_map<3>(
          map, n, {rc.input(0).numel(), rc.input(1).numel(), rc.input(2).numel()});
      dispatch_bits(rc.node, element_size(out.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const uint8_t* c = rc.input(0).as<uint8_t>();
        if (fast) {
          where_fast_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
              c, rc.input(1).as<T>(), rc.input(2).as<T>(), out.as<T>(), uint32_t(n), *fast);
        } else {
          where_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
              c, rc.input(1).as<T>(), rc.input(2).as<T>(), out.as<T>(), n, map);
        }
      });
    }});

}  // namespace
}  // namespace kiln::cuda
