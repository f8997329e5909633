// Unary math and activations. References: hand-computed values, the C library evaluated in
// double in the test, and onnxruntime 1.x outputs (CPU provider, float32) pasted where noted.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

template <typename T>
Tensor make(DataType type, Dims shape, std::vector<T> values) {
  return Tensor::from_vector<T>(type, std::move(shape), values);
}
Tensor i32(Dims shape, std::vector<int32_t> v) { return make(DataType::kInt32, shape, v); }
Tensor u8(Dims shape, std::vector<uint8_t> v) { return make(DataType::kUInt8, shape, v); }
Tensor f64(Dims shape, std::vector<double> v) { return make(DataType::kFloat64, shape, v); }
Tensor f16(Dims shape, const std::vector<float>& v) {
  std::vector<uint16_t> bits;
  for (float x : v) bits.push_back(float_to_fp16(x));
  return make(DataType::kFloat16, shape, bits);
}
Tensor bf16(Dims shape, const std::vector<float>& v) {
  std::vector<uint16_t> bits;
  for (float x : v) bits.push_back(float_to_bf16(x));
  return make(DataType::kBFloat16, shape, bits);
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

// The input x of the onnxruntime reference runs below.
const std::vector<float> kActivationInput = {-3, -1, -0.25f, 0, 0.3f, 1, 2.5f, 4};

void expect_near_all(const Tensor& out, const std::vector<float>& expected, float tolerance) {
  ASSERT_EQ(out.dtype(), DataType::kFloat32);
  ASSERT_EQ(out.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(out.data<float>()[i], expected[i], tolerance * (1 + std::fabs(expected[i])))
        << "element " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Unary math

TEST(ElementwiseUnary, FloatFunctionsMatchDoubleLibrary) {
  struct Case {
    std::string op;
    std::function<double(double)> reference;
    std::vector<double> inputs;
  };
  const std::vector<double> any = {-3.5, -1.25, -0.5, 0.0, 0.1, 0.7, 2.0, 9.75};
  const std::vector<double> unit = {-0.99, -0.5, -0.1, 0.0, 0.3, 0.75, 0.999};
  const std::vector<double> positive = {0.01, 0.5, 1.0, 2.0, 3.75, 100.0, 12345.0};
  const std::vector<Case> cases = {
      {"Sqrt", [](double x) { return std::sqrt(x); }, positive},
      {"Reciprocal", [](double x) { return 1.0 / x; }, positive},
      {"Exp", [](double x) { return std::exp(x); }, any},
      {"Log", [](double x) { return std::log(x); }, positive},
      {"Erf", [](double x) { return std::erf(x); }, any},
      {"Tanh", [](double x) { return std::tanh(x); }, any},
      {"Sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, any},
      {"Sin", [](double x) { return std::sin(x); }, any},
      {"Cos", [](double x) { return std::cos(x); }, any},
      {"Tan", [](double x) { return std::tan(x); }, any},
      {"Asin", [](double x) { return std::asin(x); }, unit},
      {"Acos", [](double x) { return std::acos(x); }, unit},
      {"Atan", [](double x) { return std::atan(x); }, any},
      {"Sinh", [](double x) { return std::sinh(x); }, any},
      {"Cosh", [](double x) { return std::cosh(x); }, any},
      {"Asinh", [](double x) { return std::asinh(x); }, any},
      {"Acosh", [](double x) { return std::acosh(x); }, {1.0, 1.5, 2.0, 10.0, 1e4}},
      {"Atanh", [](double x) { return std::atanh(x); }, unit},
      {"Floor", [](double x) { return std::floor(x); }, any},
      {"Ceil", [](double x) { return std::ceil(x); }, any},
      {"Abs", [](double x) { return std::fabs(x); }, any},
      {"Neg", [](double x) { return -x; }, any},
      {"Sign", [](double x) { return double((x > 0) - (x < 0)); }, any},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    const Dims shape = {int64_t(c.inputs.size())};
    // float64 computes in double: the same values as the library.
    auto d = run_op(c.op, {f64(shape, c.inputs)});
    ASSERT_EQ(d[0].dtype(), DataType::kFloat64);
    // float32 computes in float: within a few float ulps of the double result.
    std::vector<float> as_float(c.inputs.begin(), c.inputs.end());
    auto f = run_op(c.op, {f32(shape, as_float)});
    ASSERT_EQ(f[0].dtype(), DataType::kFloat32);
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const double want = c.reference(c.inputs[i]);
      EXPECT_NEAR(d[0].data<double>()[i], want, 1e-15 * (1 + std::fabs(want))) << c.inputs[i];
      const double want_f = c.reference(double(as_float[i]));
      EXPECT_NEAR(f[0].data<float>()[i], want_f, 4e-7 * (1 + std::fabs(want_f))) << c.inputs[i];
    }
  }
}

TEST(ElementwiseUnary, RoundHalfToEven) {
  auto out = run_op("Round", {f32({9}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, 3.0f, 1e9f})});
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{0, 2, 2, -0.0f, -2, 2, -3, 3, 1e9f}));
  EXPECT_TRUE(std::signbit(out[0].data<float>()[3]));
}

TEST(ElementwiseUnary, SpecialValues) {
  auto sqrt = run_op("Sqrt", {f32({2}, {-1, INFINITY})});
  EXPECT_TRUE(std::isnan(sqrt[0].data<float>()[0]));
  EXPECT_EQ(sqrt[0].data<float>()[1], INFINITY);
  auto reciprocal = run_op("Reciprocal", {f32({2}, {0, -0.0f})});
  EXPECT_EQ(values<float>(reciprocal[0]), (std::vector<float>{INFINITY, -INFINITY}));
  auto log = run_op("Log", {f32({2}, {0, -1})});
  EXPECT_EQ(log[0].data<float>()[0], -INFINITY);
  EXPECT_TRUE(std::isnan(log[0].data<float>()[1]));
  auto sigmoid = run_op("Sigmoid", {f32({3}, {-200, 200, NAN})});
  EXPECT_EQ(sigmoid[0].data<float>()[0], 0.0f);
  EXPECT_EQ(sigmoid[0].data<float>()[1], 1.0f);
  EXPECT_TRUE(std::isnan(sigmoid[0].data<float>()[2]));
  auto sign = run_op("Sign", {f32({2}, {NAN, -0.0f})});
  EXPECT_TRUE(std::isnan(sign[0].data<float>()[0]));
  EXPECT_EQ(sign[0].data<float>()[1], 0.0f);
}

TEST(ElementwiseUnary, IntegerAbsNegSign) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(values<int32_t>(run_op("Abs", {i32({4}, {-5, 0, 7, kMin})})[0]),
            (std::vector<int32_t>{5, 0, 7, kMin}));
  EXPECT_EQ(values<int32_t>(run_op("Neg", {i32({4}, {-5, 0, 7, kMin})})[0]),
            (std::vector<int32_t>{5, 0, -7, kMin}));
  EXPECT_EQ(values<int64_t>(run_op("Sign", {i64({3}, {-9, 0, 4})})[0]),
            (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(values<uint8_t>(run_op("Abs", {u8({2}, {0, 250})})[0]), (std::vector<uint8_t>{0, 250}));
  EXPECT_EQ(values<uint8_t>(run_op("Sign", {u8({2}, {0, 250})})[0]), (std::vector<uint8_t>{0, 1}));
}

TEST(ElementwiseUnary, HalfTypesComputeInFloatAndRoundOnStore) {
  const std::vector<float> x = {-2, -0.3f, 0.1f, 1, 3.5f};
  auto h = run_op("Exp", {f16({5}, x)});
  auto b = run_op("Exp", {bf16({5}, x)});
  ASSERT_EQ(h[0].dtype(), DataType::kFloat16);
  ASSERT_EQ(b[0].dtype(), DataType::kBFloat16);
  for (size_t i = 0; i < x.size(); ++i) {
    const float in_h = fp16_to_float(float_to_fp16(x[i]));
    const float in_b = bf16_to_float(float_to_bf16(x[i]));
    EXPECT_EQ(h[0].data<uint16_t>()[i], float_to_fp16(float(std::exp(double(in_h)))));
    EXPECT_EQ(b[0].data<uint16_t>()[i], float_to_bf16(float(std::exp(double(in_b)))));
  }
}

TEST(ElementwiseUnary, TypeErrors) {
  EXPECT_THROW(run_op("Sqrt", {i32({1}, {4})}), Error);
  EXPECT_THROW(run_op("Round", {i64({1}, {4})}), Error);
  EXPECT_THROW(run_op("Neg", {u8({1}, {4})}), Error);  // unsigned has no negation in ONNX
  EXPECT_THROW(run_op("Exp", {f32({1}, {1}), f32({1}, {1})}), Error);
}

// ---------------------------------------------------------------------------------------------
// Activations against onnxruntime (float32, x = kActivationInput).

TEST(ElementwiseActivation, MatchOnnxRuntime) {
  struct Case {
    std::string op;
    ir::Attributes attrs;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"Relu", {}, {0, 0, 0, 0, 0.300000012f, 1, 2.5f, 4}},
      {"LeakyRelu",
       {},
       {-0.0299999993f, -0.00999999978f, -0.00249999994f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"LeakyRelu",
       {{"alpha", 0.2}},
       {-0.600000024f, -0.200000003f, -0.0500000007f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"Elu", {}, {-0.950212955f, -0.63212055f, -0.221199214f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"Elu",
       {{"alpha", 0.5}},
       {-0.475106478f, -0.316060275f, -0.110599607f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"Selu",
       {},
       {-1.6705687f, -1.11133075f, -0.388890177f, 0, 0.315210313f, 1.05070102f, 2.62675261f,
        4.20280409f}},
      {"Celu", {}, {-0.950212955f, -0.63212055f, -0.221199214f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"Celu",
       {{"alpha", 2.0}},
       {-1.55373967f, -0.786938667f, -0.235006213f, 0, 0.300000012f, 1, 2.5f, 4}},
      {"ThresholdedRelu", {}, {0, 0, 0, 0, 0, 0, 2.5f, 4}},
      {"ThresholdedRelu", {{"alpha", 0.3}}, {0, 0, 0, 0, 0, 1, 2.5f, 4}},
      {"HardSigmoid", {}, {0, 0.300000012f, 0.449999988f, 0.5f, 0.560000002f, 0.699999988f, 1, 1}},
      {"HardSigmoid",
       {{"alpha", 0.5}, {"beta", 0.25}},
       {0, 0, 0.125f, 0.25f, 0.400000006f, 0.75f, 1, 1}},
      {"HardSwish",
       {},
       {-0.0f, -0.333333313f, -0.114583336f, 0, 0.165000007f, 0.666666687f, 2.29166675f, 4}},
      {"Gelu",
       {},
       {-0.00404968858f, -0.158655256f, -0.100323416f, 0, 0.18537344f, 0.841344714f, 2.48447609f,
        3.99987316f}},
      {"Gelu",
       {{"approximate", std::string("tanh")}},
       {-0.00363752246f, -0.158807963f, -0.100324653f, 0, 0.185370922f, 0.841192007f, 2.48491573f,
        3.9999299f}},
      {"Softplus",
       {},
       {0.0485873558f, 0.313261688f, 0.575939476f, 0.693147182f, 0.854355216f, 1.31326175f,
        2.57888985f, 4.01814985f}},
      {"Softsign",
       {},
       {-0.75f, -0.5f, -0.200000003f, 0, 0.230769247f, 0.5f, 0.714285731f, 0.800000012f}},
      {"Mish",
       {},
       {-0.145647451f, -0.30340144f, -0.129926965f, 0, 0.20800139f, 0.865098476f, 2.47139239f,
        3.99741268f}},
  };
  const Tensor x = f32({8}, kActivationInput);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    expect_near_all(run_op(c.op, {x}, c.attrs)[0], c.expected, 2e-6f);
  }
}

TEST(ElementwiseActivation, Float64AndHalf) {
  // Elu in double against the formula.
  auto d = run_op("Elu", {f64({3}, {-2, 0, 3})}, {{"alpha", 0.5}});
  EXPECT_NEAR(d[0].data<double>()[0], 0.5 * (std::exp(-2.0) - 1), 1e-16);
  EXPECT_EQ(d[0].data<double>()[2], 3.0);
  auto h = run_op("Gelu", {f16({2}, {1, -1})});
  // onnxruntime float32 Gelu(1) = 0.841344714, rounded to half 0.8413 (0x3abb).
  EXPECT_EQ(h[0].data<uint16_t>()[0], float_to_fp16(0.841344714f));
  EXPECT_EQ(h[0].data<uint16_t>()[1], float_to_fp16(-0.158655256f));
}

TEST(ElementwiseActivation, AttributeErrors) {
  const Tensor x = f32({1}, {1});
  EXPECT_THROW(run_op("Gelu", {x}, {{"approximate", std::string("fast")}}), Error);
  EXPECT_THROW(run_op("Celu", {x}, {{"alpha", 0.0}}), Error);
  EXPECT_THROW(run_op("LeakyRelu", {x}, {{"alpha", std::string("big")}}), Error);  // wrong kind
  EXPECT_THROW(run_op("Elu", {i32({1}, {1})}), Error);
  EXPECT_EQ(values<int32_t>(run_op("Relu", {i32({3}, {-4, 0, 9})})[0]),
            (std::vector<int32_t>{0, 0, 9}));
  EXPECT_THROW(run_op("Relu", {u8({1}, {1})}), Error);
}

TEST(ElementwiseActivation, PReluBroadcastsSlope) {
  // [N=2, C=3, 2] with one slope per channel.
  std::vector<float> x(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 2 == 0 ? -int(i) - 1 : int(i));
  const std::vector<float> slope = {0.5f, 0.25f, -2};
  auto out = run_op("PRelu", {f32({2, 3, 2}, x), f32({3, 1}, slope)});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 2}));
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t channel = (i / 2) % 3;
    const float want = x[i] < 0 ? slope[channel] * x[i] : x[i];
    EXPECT_EQ(out[0].data<float>()[i], want) << i;
  }
  auto ints = run_op("PRelu", {i32({3}, {-4, 5, -6}), i32({}, {3})});
  EXPECT_EQ(values<int32_t>(ints[0]), (std::vector<int32_t>{-12, 5, -18}));
  // The slope must broadcast to the input, never the other way.
  EXPECT_THROW(run_op("PRelu", {f32({3}, {1, 2, 3}), f32({2, 3}, {1, 2, 3, 4, 5, 6})}), Error);
  EXPECT_THROW(run_op("PRelu", {f32({3}, {1, 2, 3}), f32({2}, {1, 2})}), Error);
  EXPECT_THROW(run_op("PRelu", {f32({3}, {1, 2, 3}), f64({1}, {1})}), Error);
}

TEST(ElementwiseActivation, Clip) {
  const Tensor x = f32({6}, {-5, -1, 0, 2, 7, NAN});
  auto both = run_op("Clip", {x, f32({}, {-1.5f}), f32({}, {3})});
  EXPECT_EQ(both[0].data<float>()[0], -1.5f);
  EXPECT_EQ(both[0].data<float>()[1], -1.0f);
  EXPECT_EQ(both[0].data<float>()[3], 2.0f);
  EXPECT_EQ(both[0].data<float>()[4], 3.0f);
  EXPECT_TRUE(std::isnan(both[0].data<float>()[5]));
  // Only max (min omitted): no lower bound, infinities untouched below.
  auto max_only = run_op("Clip", {f32({3}, {-INFINITY, 1, 5}), Tensor(), f32({1}, {2})});
  EXPECT_EQ(values<float>(max_only[0]), (std::vector<float>{-INFINITY, 1, 2}));
  auto none = run_op("Clip", {f32({2}, {-INFINITY, INFINITY})});
  EXPECT_EQ(values<float>(none[0]), (std::vector<float>{-INFINITY, INFINITY}));
  // min > max: everything becomes max.
  auto crossed = run_op("Clip", {f32({3}, {-9, 0, 9}), f32({}, {5}), f32({}, {1})});
  EXPECT_EQ(values<float>(crossed[0]), (std::vector<float>{1, 1, 1}));
  auto ints = run_op("Clip", {i64({4}, {-100, 3, 50, 1000}), i64({}, {0}), i64({}, {255})});
  EXPECT_EQ(values<int64_t>(ints[0]), (std::vector<int64_t>{0, 3, 50, 255}));
  auto relu6 = run_op("Clip", {f16({3}, {-1, 3.5f, 8}), f16({}, {0}), f16({}, {6})});
  EXPECT_EQ(relu6[0].data<uint16_t>()[0], float_to_fp16(0));
  EXPECT_EQ(relu6[0].data<uint16_t>()[1], float_to_fp16(3.5f));
  EXPECT_EQ(relu6[0].data<uint16_t>()[2], float_to_fp16(6));
  EXPECT_THROW(run_op("Clip", {x, f32({2}, {0, 1})}), Error);  // min not a scalar
  EXPECT_THROW(run_op("Clip", {x, f64({}, {0})}), Error);      // min of another type
}

TEST(ElementwiseActivation, Shrink) {
  auto defaults = run_op("Shrink", {f32({5}, {-1, -0.5f, 0, 0.6f, 2})});
  EXPECT_EQ(values<float>(defaults[0]), (std::vector<float>{-1, 0, 0, 0.6f, 2}));
  // The ONNX spec's example: lambd = bias = 1.5.
  auto spec = run_op("Shrink", {f32({5}, {-2, -1, 0, 1, 2})}, {{"lambd", 1.5}, {"bias", 1.5}});
  EXPECT_EQ(values<float>(spec[0]), (std::vector<float>{-0.5f, 0, 0, 0, 0.5f}));
  auto ints = run_op("Shrink", {i32({5}, {-3, -1, 0, 2, 4})}, {{"lambd", 1.5}, {"bias", 1.0}});
  EXPECT_EQ(values<int32_t>(ints[0]), (std::vector<int32_t>{-2, 0, 0, 1, 3}));
}

}  // namespace
}  // namespace kiln
