// The CUDA elementwise family (elementwise.cu, binary_integer.cu, unary_math.cu, cast.cu)
// against the CPU backend over every dtype the CPU reference accepts: integer, bool and float8
// results exactly; float arithmetic too where both sides do the same float32/float64 operations,
// transcendental functions to a few ulps. The shapes are chosen to reach every launch path:
// 16-byte vectors with a scalar tail (sizes that are no multiple of the vector width), trailing
// and per-channel broadcasts (vector or shared-element operands), scalars, outer products, and
// the generic strided path. Without a GPU each case still builds its GPU engine (checking that
// a CUDA kernel accepts the node) and then skips.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::cst;
using gpu_test::expect_gpu_matches_cpu;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::random_tensor;

constexpr DataType kIntTypes[] = {DataType::kInt8,   DataType::kInt16, DataType::kInt32,
                                  DataType::kInt64,  DataType::kUInt8, DataType::kUInt16,
                                  DataType::kUInt32, DataType::kUInt64};
constexpr DataType kFloatTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                    DataType::kFloat64};

constexpr DataType kNumericTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                      DataType::kFloat64, DataType::kInt8,    DataType::kInt16,
                                      DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,
                                      DataType::kUInt16,  DataType::kUInt32,  DataType::kUInt64};

bool is_unsigned(DataType t) {
  return t == DataType::kUInt8 || t == DataType::kUInt16 || t == DataType::kUInt32 ||
         t == DataType::kUInt64;
}

bool is_signed_int(DataType t) { return is_integer(t) && !is_unsigned(t); }

bool is_half(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

// Values of dtype t in [lo, hi]; for unsigned types negative bounds move up to 0.
Tensor values(DataType t, const Dims& shape, uint32_t seed, double lo, double hi) {
  if (is_unsigned(t)) {
    lo = std::max(lo, 0.0);
    hi = std::max(hi, lo + 1);
  }
  return random_tensor(t, shape, seed, lo, hi);
}

// Identical operations on both sides: exact for everything (halves compute in float32 and
// round once, like the CPU), up to float32-vs-float64 constant folding.
GpuOptions exact() { return GpuOptions{1e-12}; }
// Transcendental functions: CUDA's and the C library's differ in the last ulp or two.
GpuOptions math(DataType t) {
  if (t == DataType::kBFloat16) return GpuOptions{1e-2};
  if (t == DataType::kFloat16) return GpuOptions{3e-3};
  return GpuOptions{1e-5};
}

std::function<void(ILayer&)> int_attr(const char* key, int64_t v) {
  return [key, v](ILayer& l) { l.set_int(key, v); };
}
std::function<void(ILayer&)> float_attr(const char* key, double v) {
  return [key, v](ILayer& l) { l.set_float(key, v); };
}

// ---------------------------------------------------------------------------------------------
// Binary arithmetic

TEST(GpuElementwise, ArithmeticOverEveryNumericType) {
  for (DataType t : kNumericTypes) {
    SCOPED_TRACE(to_string(t));
    const Tensor a = values(t, {3, 5, 8}, 1, -100, 100);
    const Tensor bias = values(t, {8}, 2, -100, 100);
    const Tensor same = values(t, {3, 5, 8}, 3, -100, 100);
    for (const char* op : {"Add", "Sub", "Mul", "Max", "Min"}) {
      const std::string d = check_op(op, {in(a), in(bias)}, {}, exact());
      EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
      check_op(op, {in(a), in(same)}, {}, exact());
    }
    // Divisors away from 0 (integer division by 0 is an error on the CPU).
    const Tensor positive = values(t, {5, 1}, 4, 1, 9);
    check_op("Div", {in(a), in(positive)}, {}, exact());
    for (int64_t fmod : {0, 1}) {
      const Tensor dividend = is_integer(t) ? a : values(t, {3, 5, 8}, 5, -5, 5);
      const Tensor divisor = is_integer(t) ? positive : values(t, {5, 1}, 6, 0.5, 2);
      check_op("Mod", {in(dividend), in(divisor)}, int_attr("fmod", fmod), exact());
      if (is_unsigned(t)) continue;
      const Tensor negative =
          is_integer(t) ? values(t, {8}, 7, -9, -1) : values(t, {8}, 7, -2, -0.5);
      check_op("Div", {in(a), in(negative)}, {}, exact());
      check_op("Mod", {in(dividend), in(negative)}, int_attr("fmod", fmod), exact());
    }
  }
}

TEST(GpuElementwise, IntegerArithmeticWraps) {
  for (DataType t : kIntTypes) {
    SCOPED_TRACE(to_string(t));
    // Wide values cast down wrap to the whole range of t; products and sums overflow.
    const Tensor a = random_tensor(DataType::kInt64, {4, 9}, 1, -100000, 100000).cast(t);
    const Tensor b = random_tensor(DataType::kInt64, {9}, 2, -100000, 100000).cast(t);
    for (const char* op : {"Add", "Sub", "Mul", "Max", "Min"}) check_op(op, {in(a), in(b)});
  }
  // INT_MIN / -1 and INT_MIN % -1 wrap to INT_MIN and 0.
  const Tensor lowest = Tensor::from_vector<int32_t>(DataType::kInt32, {2}, {INT32_MIN, 7});
  const Tensor minus_one = Tensor::from_vector<int32_t>(DataType::kInt32, {1}, {-1});
  check_op("Div", {in(lowest), in(minus_one)});
  check_op("Mod", {in(lowest), in(minus_one)});
}

// Every launch path: vectors with tails, vector and shared-element operands, scalars, outer
// products and the generic strided path, for 1-, 2-, 4- and 8-byte elements and bool outputs.
TEST(GpuElementwise, BroadcastPathsAndVectorTails) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{37, 129}, {37, 129}},          // same shape, odd size: vectors and a scalar tail
      {{33, 104}, {104}},              // trailing bias, a multiple of every vector width
      {{5, 21}, {21}},                 // trailing bias of odd length: element-wise block path
      {{2, 16, 8, 8}, {16, 1, 1}},     // per-channel bias, H*W a multiple of the width: shared
      {{2, 16, 7, 7}, {16, 1, 1}},     // per-channel bias, H*W = 49
      {{37, 1}, {1, 64}},              // outer product
      {{4, 1, 6}, {4, 5, 6}},          // broadcast in a middle dim: the 32-bit strided path
      {{2, 3, 5, 32}, {2, 1, 1, 32}},  // an attention mask: strided, vectorized, contiguous
      {{2, 3, 32, 5}, {2, 1, 32, 1}},  // strided, vectorized, one element per vector (splat)
      {{3, 4, 5, 6}, {3, 1, 5, 1}},    // strided, vectors do not fit the innermost dim
      {{}, {3, 17}},                   // scalar first
      {{3, 17}, {1}},                  // scalar second
      {{1}, {1}},                      // one element
  };
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt8, DataType::kFloat64,
                     DataType::kUInt16}) {
    SCOPED_TRACE(to_string(t));
    uint32_t seed = 10;
    for (const auto& [sa, sb] : shapes) {
      const Tensor a = values(t, sa, ++seed, -9, 9);
      const Tensor b = values(t, sb, ++seed, -9, 9);
      for (const char* op : {"Add", "Max", "Less", "Equal"}) {
        check_op(op, {in(a), in(b)}, {}, exact());
        check_op(op, {in(b), in(a)}, {}, exact());
      }
    }
  }
  // Where over broadcast operands (32-bit offsets): attention's Where(IsNaN(p), 0, p).
  const Tensor p = random_tensor(DataType::kFloat16, {2, 3, 16, 16}, 3);
  const Tensor mask = random_tensor(DataType::kInt32, {2, 1, 1, 16}, 4, 0, 1).cast(DataType::kBool);
  check_op("Where",
           {in(mask),
            in(Tensor::from_vector<float>(DataType::kFloat32, {}, {0.0f}).cast(DataType::kFloat16)),
            in(p)},
           {}, exact());
  // A large tensor with a 3072-wide bias, as in a transformer's MLP.
  check_op("Add",
           {in(random_tensor(DataType::kFloat16, {16, 3072}, 1)),
            in(random_tensor(DataType::kFloat16, {3072}, 2))},
           {}, exact());
}

TEST(GpuElementwise, ComparisonsOverEveryType) {
  std::vector<DataType> types = {DataType::kBool};
  types.insert(types.end(), std::begin(kNumericTypes), std::end(kNumericTypes));
  for (DataType t : types) {
    SCOPED_TRACE(to_string(t));
    // Small ranges, so that equal pairs occur.
    const Tensor a = values(t, {4, 6}, 1, -3, 3);
    const Tensor b = values(t, {6}, 2, -3, 3);
    const std::string d = check_op("Equal", {in(a), in(b)});
    EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
    if (t == DataType::kBool) {
      for (const char* op : {"And", "Or", "Xor"}) check_op(op, {in(a), in(b)});
      continue;
    }
    for (const char* op : {"Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
      check_op(op, {in(a), in(b)});
    }
  }
}

TEST(GpuElementwise, BitwiseOpsAndShifts) {
  for (DataType t : kIntTypes) {
    SCOPED_TRACE(to_string(t));
    const int64_t bits = int64_t(element_size(t) * 8);
    const Tensor a = random_tensor(DataType::kInt64, {5, 7}, 1, -100000, 100000).cast(t);
    const Tensor b = random_tensor(DataType::kInt64, {7}, 2, -100000, 100000).cast(t);
    for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}) {
      const std::string d = check_op(op, {in(a), in(b)});
      EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
    }
    check_op("BitwiseNot", {in(a)});
    // Shift amounts past the width (and negative ones, for signed types) leave the sign fill.
    const Tensor shifts = values(t, {5, 7}, 3, is_unsigned(t) ? 0 : -2, double(bits + 2));
    for (const char* direction : {"LEFT", "RIGHT"}) {
      check_op("BitShift", {in(a), in(shifts)},
               [direction](ILayer& l) { l.set_string("direction", direction); });
    }
  }
}

TEST(GpuElementwise, PowOverBaseAndExponentTypes) {
  const Tensor base = random_tensor(DataType::kFloat32, {4, 6}, 1, 0.5, 2.0);
  for (DataType e : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64, DataType::kInt32,
                     DataType::kInt64, DataType::kUInt8, DataType::kUInt64, DataType::kInt8}) {
    SCOPED_TRACE(to_string(e));
    const Tensor exponent = values(e, {6}, 2, -3, 3);
    const std::string d = check_op("Pow", {in(base), in(exponent)}, {}, math(DataType::kFloat32));
    EXPECT_TRUE(has(d, "cuda_pow")) << d;
    for (DataType b : {DataType::kFloat16, DataType::kFloat64}) {
      check_op("Pow", {in(base.cast(b)), in(exponent)}, {}, math(b));
    }
  }
  // Integer bases: integer exponents by repeated squaring (wrapping), negative ones truncate.
  for (DataType t : {DataType::kInt32, DataType::kInt64}) {
    SCOPED_TRACE(to_string(t));
    const Tensor ib = random_tensor(t, {3, 8}, 3, -6, 6);
    check_op("Pow", {in(ib), in(random_tensor(DataType::kInt64, {8}, 4, 0, 25))});
    check_op("Pow", {in(random_tensor(t, {3, 8}, 5, 1, 4)),
                     in(random_tensor(DataType::kInt32, {8}, 6, -3, -1))});
    check_op("Pow", {in(random_tensor(t, {2, 4}, 7, -1, -1)), in(random_tensor(t, {4}, 8, -4, 4))});
    // Float exponents: pow in double (integral ones exactly), truncated toward zero.
    check_op("Pow", {in(ib), in(Tensor::from_vector<float>(DataType::kFloat32, {8},
                                                           {0, 1, 2, 3, -1, 7, 9, 11}))});
  }
  // Constant exponents 2 and 1 are plain arithmetic.
  for (float e : {2.0f, 1.0f, 3.0f}) {
    check_op("Pow", {in(random_tensor(DataType::kFloat16, {5, 37}, 9)), cst(gpu_test::scalar(e))},
             {}, math(DataType::kFloat16));
  }
}

TEST(GpuElementwise, VariadicOps) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64, DataType::kInt8,
                     DataType::kUInt32}) {
    SCOPED_TRACE(to_string(t));
    const Tensor a = values(t, {2, 1, 5}, 1, -9, 9);
    const Tensor b = values(t, {3, 1}, 2, -9, 9);
    const Tensor c = values(t, {2, 3, 5}, 3, -9, 9);
    std::vector<const char*> ops = {"Max", "Min"};
    if (is_floating_point(t)) ops.insert(ops.end(), {"Sum", "Mean"});
    for (const char* op : ops) {
      const GpuOptions options = is_half(t) ? GpuOptions{2e-3} : exact();
      check_op(op, {in(a)}, {}, options);
      check_op(op, {in(c), in(b)}, {}, options);
      check_op(op, {in(a), in(b), in(c)}, {}, options);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Unary ops

struct UnaryCase {
  const char* op;
  double lo, hi;  // a domain where the function is finite
};

TEST(GpuElementwise, UnaryFloatMath) {
  const UnaryCase cases[] = {
      {"Sigmoid", -6, 6},
      {"Tanh", -3, 3},
      {"Erf", -2, 2},
      {"Exp", -3, 3},
      {"Log", 0.1, 5},
      {"Sqrt", 0, 9},
      {"Reciprocal", 0.5, 3},
      {"Floor", -9, 9},
      {"Ceil", -9, 9},
      {"Round", -9, 9},
      {"Sin", -3, 3},
      {"Cos", -3, 3},
      {"Tan", -1.2, 1.2},
      {"Asin", -0.95, 0.95},
      {"Acos", -0.95, 0.95},
      {"Atan", -5, 5},
      {"Sinh", -3, 3},
      {"Cosh", -3, 3},
      {"Asinh", -5, 5},
      {"Acosh", 1.05, 5},
      {"Atanh", -0.9, 0.9},
      {"Abs", -5, 5},
      {"Neg", -5, 5},
      {"Sign", -2, 2},
      {"Relu", -5, 5},
      {"Softplus", -5, 5},
      {"Softsign", -5, 5},
      {"Mish", -4, 4},
      {"HardSwish", -4, 4},
      {"Gelu", -4, 4},
      {"Elu", -3, 3},
      {"Selu", -3, 3},
      {"Celu", -3, 3},
      {"Swish", -6, 6},
      {"HardSigmoid", -4, 4},
      {"LeakyRelu", -3, 3},
      {"ThresholdedRelu", -3, 3},
  };
  for (DataType t : kFloatTypes) {
    SCOPED_TRACE(to_string(t));
    uint32_t seed = 0;
    for (const UnaryCase& c : cases) {
      // 7 x 131 elements: vectors of every width and a scalar tail.
      const Tensor x = random_tensor(t, {7, 131}, ++seed, c.lo, c.hi);
      const std::string d = check_op(c.op, {in(x)}, {}, math(t));
      EXPECT_TRUE(has(d, "cuda_unary")) << d;
    }
    check_op(
        "Gelu", {in(random_tensor(t, {3, 33}, 99, -4, 4))},
        [](ILayer& l) { l.set_string("approximate", "tanh"); }, math(t));
  }
  // Round halves to even; Sign of zeros.
  const Tensor halves = Tensor::from_vector<float>(
      DataType::kFloat32, {8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.0f, -0.0f});
  check_op("Round", {in(halves)}, {}, exact());
  check_op("Sign", {in(halves)}, {}, exact());
}

TEST(GpuElementwise, ActivationAttributes) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64}) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = random_tensor(t, {5, 19}, 1, -4, 4);
    check_op("Celu", {in(x)}, float_attr("alpha", 0.7), math(t));
    check_op("Swish", {in(x)}, float_attr("alpha", 1.702), math(t));
    check_op("Elu", {in(x)}, float_attr("alpha", 0.5), math(t));
    check_op("LeakyRelu", {in(x)}, float_attr("alpha", 0.2), math(t));
    check_op("ThresholdedRelu", {in(x)}, float_attr("alpha", 0.3), math(t));
    check_op(
        "Selu", {in(x)},
        [](ILayer& l) {
          l.set_float("alpha", 1.5);
          l.set_float("gamma", 1.1);
        },
        math(t));
    check_op(
        "HardSigmoid", {in(x)},
        [](ILayer& l) {
          l.set_float("alpha", 0.3);
          l.set_float("beta", 0.4);
        },
        math(t));
    // SwiGLU: Swish(a) * b over identical shapes.
    const Tensor gate = random_tensor(t, {5, 19}, 2, -4, 4);
    const std::string d = check_op("SwiGLU", {in(x), in(gate)}, {}, math(t));
    EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
    check_op("SwiGLU", {in(x), in(gate)}, float_attr("alpha", 1.702), math(t));
  }
}

TEST(GpuElementwise, ShrinkOverEveryNumericType) {
  auto shrink = [](double lambd, double bias) {
    return [lambd, bias](ILayer& l) {
      l.set_float("lambd", lambd);
      l.set_float("bias", bias);
    };
  };
  for (DataType t : kNumericTypes) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = values(t, {3, 11}, 1, -20, 20);
    check_op("Shrink", {in(x)}, {}, exact());
    check_op("Shrink", {in(x)}, shrink(4.5, 1.5), exact());
  }
}

TEST(GpuElementwise, IntegerUnary) {
  for (DataType t : kIntTypes) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = random_tensor(DataType::kInt64, {3, 37}, 1, -100000, 100000).cast(t);
    std::vector<const char*> ops = {"Abs", "Sign", "BitwiseNot"};
    if (is_signed_int(t)) ops.insert(ops.end(), {"Relu", "Neg"});
    for (const char* op : ops) {
      const std::string d = check_op(op, {in(x)});
      EXPECT_TRUE(has(d, "cuda_unary")) << d;
    }
  }
  check_op("Not", {in(random_tensor(DataType::kBool, {3, 37}, 2))});
}

TEST(GpuElementwise, ClipOverEveryNumericType) {
  for (DataType t : kNumericTypes) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = values(t, {6, 23}, 1, -50, 50);
    const Tensor lo = values(t, {}, 2, -20, -10);
    const Tensor hi = values(t, {}, 3, 10, 20);
    // Bounds computed at run time (network inputs) and constants.
    const std::string d = check_op("Clip", {in(x), in(lo), in(hi)}, {}, exact());
    EXPECT_TRUE(has(d, "cuda_unary")) << d;
    check_op("Clip", {in(x), cst(lo), cst(hi)}, {}, exact());
    check_op("Clip", {in(x), std::nullopt, in(hi)}, {}, exact());
    check_op("Clip", {in(x), in(lo)}, {}, exact());
    check_op("Clip", {in(x)}, {}, exact());
    check_op("Clip", {in(x), in(hi), in(lo)}, {}, exact());  // min > max: everything is max
  }
}

TEST(GpuElementwise, FloatClassesOfFloat8AndFloat64) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector<float>(DataType::kFloat32, {7},
                                              {1.0f, std::nanf(""), inf, -inf, 0.0f, -2.5f, 1e6f});
  for (DataType t :
       {DataType::kFloat64, DataType::kFloat8E4M3, DataType::kFloat8E5M2, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    const Tensor v = x.cast(t);
    const std::string d = check_op("IsNaN", {in(v)});
    EXPECT_TRUE(has(d, "cuda_float_class")) << d;
    check_op("IsInf", {in(v)});
    check_op("IsInf", {in(v)}, int_attr("detect_positive", 0));
  }
}

// ---------------------------------------------------------------------------------------------
// Cast, CastLike, BitCast

constexpr DataType kAllTypes[] = {DataType::kFloat32, DataType::kFloat16,    DataType::kBFloat16,
                                  DataType::kFloat64, DataType::kFloat8E4M3, DataType::kFloat8E5M2,
                                  DataType::kBool,    DataType::kInt8,       DataType::kUInt8,
                                  DataType::kInt16,   DataType::kUInt16,     DataType::kInt32,
                                  DataType::kUInt32,  DataType::kInt64,      DataType::kUInt64};

TEST(GpuElementwise, CastBetweenEveryPairOfTypes) {
  for (DataType from : kAllTypes) {
    // Floats in a range that float8 e4m3 saturates on (|x| > 448) and that wraps int8; integers
    // over a range that wraps the narrow types but stays finite in float16.
    const double lo = is_unsigned(from) ? 0 : -60000;
    const Tensor x = is_integer(from) || from == DataType::kBool
                         ? random_tensor(DataType::kInt64, {5, 41}, 1, lo, 60000).cast(from)
                         : random_tensor(DataType::kFloat32, {5, 41}, 1, -600, 600).cast(from);
    for (DataType to : kAllTypes) {
      SCOPED_TRACE(cat(to_string(from), " -> ", to_string(to)));
      const std::string d = check_op("Cast", {in(x)}, int_attr("to", int64_t(to)), exact());
      EXPECT_TRUE(has(d, "cuda_cast")) << d;
    }
    check_op("CastLike", {in(x), in(Tensor::zeros(DataType::kFloat16, {1}))}, {}, exact());
  }
  // Integers beyond 2^53 keep their low bits; uint64 beyond 2^63 stays unsigned.
  const Tensor big = Tensor::from_vector<int64_t>(
      DataType::kInt64, {4},
      {(int64_t(1) << 60) + 1, -(int64_t(1) << 55) - 3, INT64_MIN, INT64_MAX});
  for (DataType to : {DataType::kInt32, DataType::kUInt64, DataType::kFloat32, DataType::kFloat64,
                      DataType::kUInt8}) {
    check_op("Cast", {in(big)}, int_attr("to", int64_t(to)), exact());
    check_op("Cast", {in(big.cast(DataType::kUInt64))}, int_attr("to", int64_t(to)), exact());
  }
  // Floats out of the integer ranges saturate at int64's, then wrap; NaN-free.
  const Tensor huge =
      Tensor::from_vector<double>(DataType::kFloat64, {5}, {1e19, -1e19, 2e19, 9.3e18, -3.5});
  for (DataType to : {DataType::kInt64, DataType::kUInt64, DataType::kInt32, DataType::kUInt16}) {
    check_op("Cast", {in(huge)}, int_attr("to", int64_t(to)), exact());
  }
}

// Float8 encodings of edge values, compared as bytes (Cast, then BitCast to uint8): ties,
// subnormals, the largest finite values, the saturation bounds and infinities.
TEST(GpuElementwise, CastToFloat8RoundsAndSaturatesAsTheCpu) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> edges = {
      0.0f,          -0.0f,  1.0f,  1.0625f,  1.1875f,  0.00390625f, 0.0009765625f, 0.001953125f,
      0.0029296875f, 3e-5f,  1e-8f, 240.0f,   247.9f,   448.0f,      449.0f,        463.9f,
      464.0f,        500.0f, 1e4f,  57344.0f, 60000.0f, 60416.0f,    61439.0f,      61440.0f,
      1e6f,          inf,    -inf,  -300.5f,  -0.3f,    17.0f,       18.0f};
  const Tensor x = Tensor::from_vector<float>(DataType::kFloat32, {int64_t(edges.size())}, edges);
  for (DataType from : {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64}) {
    for (DataType to : {DataType::kFloat8E4M3, DataType::kFloat8E5M2}) {
      for (int64_t saturate : {1, 0}) {
        SCOPED_TRACE(cat(to_string(from), " -> ", to_string(to), " saturate ", saturate));
        const Tensor input = x.cast(from);
        expect_gpu_matches_cpu(
            [&](NetworkDefinition& n) {
              ITensor* v = n.add_input("x", from, input.shape());
              ILayer* cast = n.add_layer("Cast", {v}, 1);
              cast->set_int("to", int64_t(to));
              cast->set_int("saturate", saturate);
              ILayer* bytes = n.add_layer("BitCast", {cast->output(0)}, 1);
              bytes->set_int("to", int64_t(DataType::kUInt8));
              n.mark_output(*bytes->output(0));
            },
            {input});
      }
    }
  }
}

TEST(GpuElementwise, BitCast) {
  auto to = [](DataType t) { return int_attr("to", int64_t(t)); };
  const Tensor f = random_tensor(DataType::kFloat32, {3, 5}, 1);
  const std::string d = check_op("BitCast", {in(f)}, to(DataType::kInt32));
  EXPECT_TRUE(has(d, "cuda_bitcast")) << d;
  check_op("BitCast", {in(f.cast(DataType::kFloat64))}, to(DataType::kUInt64));
  check_op("BitCast", {in(f.cast(DataType::kFloat16))}, to(DataType::kInt16));
  check_op("BitCast", {in(random_tensor(DataType::kInt8, {9}, 2, -100, 100))},
           to(DataType::kUInt8));
  check_op("BitCast", {in(random_tensor(DataType::kBool, {9}, 3))}, to(DataType::kUInt8));
  // Small integers read as float32 are subnormals: finite values to compare.
  check_op("BitCast", {in(random_tensor(DataType::kInt32, {9}, 4, 0, 1000))},
           to(DataType::kFloat32), exact());
}

}  // namespace
}  // namespace kiln
