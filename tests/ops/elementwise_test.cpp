// Binary arithmetic (Add, Sub, Mul, Div, Pow, Mod, BitShift, Bitwise*), the variadic Max, Min,
// Sum, Mean, comparisons and logical ops. References are hand-computed values, onnxruntime
// outputs (noted where used), or a plain loop in the test with its own broadcasting index
// arithmetic.
#include <gtest/gtest.h>

#include <cmath>
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
Tensor i8(Dims shape, std::vector<int8_t> v) { return make(DataType::kInt8, shape, v); }
Tensor u8(Dims shape, std::vector<uint8_t> v) { return make(DataType::kUInt8, shape, v); }
Tensor f64(Dims shape, std::vector<double> v) { return make(DataType::kFloat64, shape, v); }
Tensor boolean(Dims shape, std::vector<uint8_t> v) { return make(DataType::kBool, shape, v); }
Tensor f16(Dims shape, const std::vector<float>& v) {
  std::vector<uint16_t> bits;
  for (float x : v) bits.push_back(float_to_fp16(x));
  return make(DataType::kFloat16, shape, bits);
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

std::vector<float> f16_values(const Tensor& t) {
  std::vector<float> out;
  for (uint16_t h : t.span<uint16_t>()) out.push_back(fp16_to_float(h));
  return out;
}

// Deterministic, varied float values (some negative, none zero).
Tensor pattern(Dims shape, float scale) {
  std::vector<float> v(size_t(volume(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * (float((i * 7919) % 23) - 11.5f) / 4.0f;
  return f32(shape, v);
}

// Offset into a tensor of `in_shape` of output element `flat` of `out_shape` under numpy
// broadcasting, by plain index arithmetic.
int64_t broadcast_offset(const Dims& in_shape, const Dims& out_shape, int64_t flat) {
  int64_t offset = 0, stride = 1;
  int64_t di = int64_t(in_shape.size()) - 1;
  for (int64_t d = int64_t(out_shape.size()) - 1; d >= 0; --d, --di) {
    const int64_t index = flat % out_shape[size_t(d)];
    flat /= out_shape[size_t(d)];
    if (di < 0) continue;
    if (in_shape[size_t(di)] != 1) offset += index * stride;
    stride *= in_shape[size_t(di)];
  }
  return offset;
}

// ---------------------------------------------------------------------------------------------
// Add, Sub, Mul, Div

TEST(ElementwiseBinary, AddSameShape) {
  auto out = run_op("Add", {f32({2, 2}, {1, 2, 3, 4}), f32({2, 2}, {10, 20, 30, 40.5f})});
  EXPECT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{11, 22, 33, 44.5f}));
}

TEST(ElementwiseBinary, BroadcastingMatchesPlainLoop) {
  struct Case {
    Dims a, b, out;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}},  // NCHW bias
      {{2, 3, 4}, {4}, {2, 3, 4}},              // [batch, seq, hidden] + [hidden]
      {{2, 3, 1}, {1, 4}, {2, 3, 4}},           // both sides broadcast
      {{}, {2, 3}, {2, 3}},                     // scalar first
      {{5}, {}, {5}},                           // scalar second
      {{2, 1, 3}, {2, 4, 1}, {2, 4, 3}},        //
      {{1, 1, 4}, {3, 1}, {1, 3, 4}},           //
      {{3, 1, 2, 1}, {1, 2, 1, 5}, {3, 2, 2, 5}},
      {{1, 1}, {1}, {1, 1}},
      {{0, 3}, {3}, {0, 3}},  // empty
  };
  const std::vector<std::string> ops = {"Add", "Sub", "Mul", "Div"};
  for (const Case& c : cases) {
    const Tensor a = pattern(c.a, 1.0f), b = pattern(c.b, 0.75f);
    for (const std::string& op : ops) {
      SCOPED_TRACE(op + " " + to_string(c.a) + " with " + to_string(c.b));
      auto out = run_op(op, {a, b});
      ASSERT_EQ(out[0].shape(), c.out);
      for (int64_t i = 0; i < out[0].numel(); ++i) {
        // float32 results of + - * / are the double results rounded once.
        const double x = a.data<float>()[broadcast_offset(c.a, c.out, i)];
        const double y = b.data<float>()[broadcast_offset(c.b, c.out, i)];
        const double expected = op == "Add"   ? x + y
                                : op == "Sub" ? x - y
                                : op == "Mul" ? x * y
                                              : x / y;
        ASSERT_EQ(out[0].data<float>()[i], float(expected)) << "element " << i;
      }
    }
  }
}

TEST(ElementwiseBinary, Float64AndFloat16) {
  auto d = run_op("Mul", {f64({2}, {0.1, 3.0}), f64({2}, {0.2, 1.0 / 3.0})});
  EXPECT_EQ(values<double>(d[0]), (std::vector<double>{0.1 * 0.2, 3.0 * (1.0 / 3.0)}));
  // 2048 + 1 in float16 rounds to even (2048); 2048 + 3 = 2051 rounds to 2052.
  auto h = run_op("Add", {f16({3}, {2048, 2048, 0.5f}), f16({3}, {1, 3, 0.25f})});
  EXPECT_EQ(h[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(f16_values(h[0]), (std::vector<float>{2048, 2052, 0.75f}));
}

TEST(ElementwiseBinary, IntegerArithmeticWraps) {
  auto add = run_op("Add", {i8({2}, {127, -128}), i8({2}, {1, -1})});
  EXPECT_EQ(values<int8_t>(add[0]), (std::vector<int8_t>{-128, 127}));
  auto mul = run_op("Mul", {u8({2}, {200, 16}), u8({2}, {2, 16})});
  EXPECT_EQ(values<uint8_t>(mul[0]), (std::vector<uint8_t>{144, 0}));
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  auto sub = run_op("Sub", {i32({1}, {kMin}), i32({1}, {1})});
  EXPECT_EQ(values<int32_t>(sub[0]), (std::vector<int32_t>{std::numeric_limits<int32_t>::max()}));
  auto big = run_op("Mul", {i64({1}, {int64_t(1) << 62}), i64({1}, {4})});
  EXPECT_EQ(values<int64_t>(big[0]), (std::vector<int64_t>{0}));
}

TEST(ElementwiseBinary, IntegerDivTruncatesTowardZero) {
  // onnxruntime 1.x gives [3, -3, -3, 3].
  auto out = run_op("Div", {i32({4}, {7, -7, 7, -7}), i32({4}, {2, 2, -2, -2})});
  EXPECT_EQ(values<int32_t>(out[0]), (std::vector<int32_t>{3, -3, -3, 3}));
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  auto overflow = run_op("Div", {i32({1}, {kMin}), i32({1}, {-1})});
  EXPECT_EQ(values<int32_t>(overflow[0]), (std::vector<int32_t>{kMin}));
  auto unsigned_div = run_op("Div", {u8({2}, {255, 7}), u8({1}, {2})});
  EXPECT_EQ(values<uint8_t>(unsigned_div[0]), (std::vector<uint8_t>{127, 3}));
}

TEST(ElementwiseBinary, FloatDivByZeroIsInfinity) {
  auto out = run_op("Div", {f32({3}, {1, -1, 0}), f32({1}, {0})});
  EXPECT_EQ(out[0].data<float>()[0], INFINITY);
  EXPECT_EQ(out[0].data<float>()[1], -INFINITY);
  EXPECT_TRUE(std::isnan(out[0].data<float>()[2]));
}

TEST(ElementwiseBinary, IntegerDivisionByZeroIsAnError) {
  EXPECT_THROW(run_op("Div", {i32({2}, {1, 2}), i32({2}, {1, 0})}), Error);
  EXPECT_THROW(run_op("Mod", {i64({1}, {5}), i64({1}, {0})}), Error);
  EXPECT_THROW(run_op("Mod", {i64({1}, {5}), i64({1}, {0})}, {{"fmod", int64_t(1)}}), Error);
}

TEST(ElementwiseBinary, ShapeAndTypeErrors) {
  EXPECT_THROW(run_op("Add", {f32({2, 3}, std::vector<float>(6)), f32({4}, {1, 2, 3, 4})}), Error);
  EXPECT_THROW(run_op("Add", {f32({1}, {1}), i64({1}, {1})}), Error);
  EXPECT_THROW(run_op("Mul", {boolean({1}, {1}), boolean({1}, {1})}), Error);
  EXPECT_THROW(run_op("Sub", {f32({1}, {1})}), Error);  // one input
  try {
    run_op("Add", {f32({2}, {1, 2}), f32({3}, {1, 2, 3})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Add 'node'"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Pow

TEST(ElementwisePow, FloatBaseWithVariousExponentTypes) {
  auto out = run_op("Pow", {f32({4}, {2, 9, -2, 0.5f}), f32({4}, {3, 0.5f, 2, -1})});
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{8, 3, 4, 2}));
  auto int_exponent = run_op("Pow", {f32({3}, {2, -3, 1.5f}), i64({3}, {10, 3, 2})});
  EXPECT_EQ(int_exponent[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(values<float>(int_exponent[0]), (std::vector<float>{1024, -27, 2.25f}));
  // A negative base with a fractional exponent has no real result.
  auto nan = run_op("Pow", {f32({1}, {-8}), f64({1}, {1.0 / 3})});
  EXPECT_TRUE(std::isnan(nan[0].data<float>()[0]));
  auto half = run_op("Pow", {f16({2}, {3, 10}), f32({2}, {2, 3})});
  EXPECT_EQ(half[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(f16_values(half[0]), (std::vector<float>{9, 1000}));
}

TEST(ElementwisePow, ScalarSquareMatchesMultiplication) {
  const Tensor x = pattern({3, 7}, 1.3f);
  auto out = run_op("Pow", {x, f32({}, {2})});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    EXPECT_EQ(out[0].data<float>()[i], v * v);
  }
  // A scalar exponent of higher rank broadcasts the output up.
  auto raised = run_op("Pow", {f32({2}, {3, 4}), f32({1, 1}, {2})});
  EXPECT_EQ(raised[0].shape(), (Dims{1, 2}));
  EXPECT_EQ(values<float>(raised[0]), (std::vector<float>{9, 16}));
}

TEST(ElementwisePow, IntegerBase) {
  // onnxruntime gives [1024, 0, -1, 1, 1] for these.
  auto out = run_op("Pow", {i32({5}, {2, 3, -1, -1, 2}), i64({5}, {10, -1, -3, -2, 0})});
  EXPECT_EQ(values<int32_t>(out[0]), (std::vector<int32_t>{1024, 0, -1, 1, 1}));
  // Float exponents: computed in double, truncated (onnxruntime: [2, 3, 1]).
  auto root = run_op("Pow", {i32({3}, {4, 9, 2}), f32({3}, {0.5f, 0.5f, 0.5f})});
  EXPECT_EQ(values<int32_t>(root[0]), (std::vector<int32_t>{2, 3, 1}));
  auto big = run_op("Pow", {i64({1}, {3}), i64({1}, {39})});
  EXPECT_EQ(values<int64_t>(big[0]), (std::vector<int64_t>{4052555153018976267}));
  EXPECT_THROW(run_op("Pow", {i32({1}, {0}), i32({1}, {-1})}), Error);
  EXPECT_THROW(run_op("Pow", {u8({1}, {2}), u8({1}, {2})}), Error);  // uint8 base
}

// ---------------------------------------------------------------------------------------------
// Mod

TEST(ElementwiseMod, IntegerSignFollowsDivisorOrDividend) {
  // onnxruntime: fmod=0 gives [2, -2, 1, 1]; fmod=1 gives [-1, 1, 1, -1].
  auto floor_mod = run_op("Mod", {i32({4}, {-4, 7, 5, -3}), i32({4}, {3, -3, 2, 2})});
  EXPECT_EQ(values<int32_t>(floor_mod[0]), (std::vector<int32_t>{2, -2, 1, 1}));
  auto trunc_mod =
      run_op("Mod", {i32({4}, {-4, 7, 5, -3}), i32({4}, {3, -3, 2, 2})}, {{"fmod", int64_t(1)}});
  EXPECT_EQ(values<int32_t>(trunc_mod[0]), (std::vector<int32_t>{-1, 1, 1, -1}));
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  auto overflow = run_op("Mod", {i32({1}, {kMin}), i32({1}, {-1})});
  EXPECT_EQ(values<int32_t>(overflow[0]), (std::vector<int32_t>{0}));
}

TEST(ElementwiseMod, FloatSpecialCases) {
  // numpy.mod gives [-inf, 0, -0, 1.5, 0.5, 1] for the first six.
  auto out = run_op("Mod", {f32({8}, {5, -0.0f, 0, 5.5f, -5.5f, 1, INFINITY, 1}),
                            f32({8}, {-INFINITY, 3, -3, 2, 2, INFINITY, 2, 0})});
  const float* v = out[0].data<float>();
  EXPECT_EQ(v[0], -INFINITY);
  EXPECT_EQ(v[1], 0.0f);
  EXPECT_FALSE(std::signbit(v[1]));
  EXPECT_EQ(v[2], 0.0f);
  EXPECT_TRUE(std::signbit(v[2]));
  EXPECT_EQ(v[3], 1.5f);
  EXPECT_EQ(v[4], 0.5f);
  EXPECT_EQ(v[5], 1.0f);
  EXPECT_TRUE(std::isnan(v[6]));
  EXPECT_TRUE(std::isnan(v[7]));
  // fmod=1: sign of the dividend (onnxruntime: [1.5, -1.5, 1]).
  auto fmod = run_op("Mod", {f32({3}, {5.5f, -5.5f, 1}), f32({3}, {2, 2, INFINITY})},
                     {{"fmod", int64_t(1)}});
  EXPECT_EQ(values<float>(fmod[0]), (std::vector<float>{1.5f, -1.5f, 1}));
}

TEST(ElementwiseMod, BadFmodAttribute) {
  EXPECT_THROW(run_op("Mod", {f32({1}, {1}), f32({1}, {1})}, {{"fmod", int64_t(2)}}), Error);
}

// ---------------------------------------------------------------------------------------------
// Bit operations

TEST(ElementwiseBits, BitShift) {
  // The ONNX spec's examples.
  auto right =
      run_op("BitShift", {u8({2}, {1, 4}), u8({2}, {1, 1})}, {{"direction", std::string("RIGHT")}});
  EXPECT_EQ(values<uint8_t>(right[0]), (std::vector<uint8_t>{0, 2}));
  auto left =
      run_op("BitShift", {u8({2}, {1, 2}), u8({2}, {1, 2})}, {{"direction", std::string("LEFT")}});
  EXPECT_EQ(values<uint8_t>(left[0]), (std::vector<uint8_t>{2, 8}));
  // Shifts by the width or more leave the sign fill; signed right shifts are arithmetic.
  auto wide = run_op("BitShift", {u8({3}, {255, 1, 129}), u8({3}, {8, 200, 1})},
                     {{"direction", std::string("LEFT")}});
  EXPECT_EQ(values<uint8_t>(wide[0]), (std::vector<uint8_t>{0, 0, 2}));
  auto arithmetic = run_op("BitShift", {i8({5}, {-8, -1, 8, -8, 64}), i8({5}, {1, 10, 9, -1, 1})},
                           {{"direction", std::string("RIGHT")}});
  EXPECT_EQ(values<int8_t>(arithmetic[0]), (std::vector<int8_t>{-4, -1, 0, -1, 32}));
  auto signed_left =
      run_op("BitShift", {i8({2}, {64, -1}), i8({1}, {1})}, {{"direction", std::string("LEFT")}});
  EXPECT_EQ(values<int8_t>(signed_left[0]), (std::vector<int8_t>{-128, -2}));
  auto big =
      run_op("BitShift", {i64({1}, {1}), i64({1}, {63})}, {{"direction", std::string("LEFT")}});
  EXPECT_EQ(values<int64_t>(big[0]), (std::vector<int64_t>{std::numeric_limits<int64_t>::min()}));
}

TEST(ElementwiseBits, BitShiftErrors) {
  EXPECT_THROW(run_op("BitShift", {u8({1}, {1}), u8({1}, {1})}), Error);  // no direction
  EXPECT_THROW(run_op("BitShift", {u8({1}, {1}), u8({1}, {1})}, {{"direction", std::string("UP")}}),
               Error);
  EXPECT_THROW(
      run_op("BitShift", {f32({1}, {1}), f32({1}, {1})}, {{"direction", std::string("LEFT")}}),
      Error);
}

TEST(ElementwiseBits, AndOrXorNot) {
  const Tensor a = i32({4}, {0b1100, -1, 0, 0x7fffffff});
  const Tensor b = i32({4}, {0b1010, 0x0f0f, 5, -2});
  EXPECT_EQ(values<int32_t>(run_op("BitwiseAnd", {a, b})[0]),
            (std::vector<int32_t>{0b1000, 0x0f0f, 0, 0x7ffffffe}));
  EXPECT_EQ(values<int32_t>(run_op("BitwiseOr", {a, b})[0]),
            (std::vector<int32_t>{0b1110, -1, 5, -1}));
  EXPECT_EQ(values<int32_t>(run_op("BitwiseXor", {a, b})[0]),
            (std::vector<int32_t>{0b0110, int32_t(0xfffff0f0), 5, int32_t(0x80000001)}));
  EXPECT_EQ(values<int8_t>(run_op("BitwiseNot", {i8({3}, {0, -1, 5})})[0]),
            (std::vector<int8_t>{-1, 0, -6}));
  EXPECT_EQ(values<uint8_t>(run_op("BitwiseNot", {u8({2}, {0, 0xf0})})[0]),
            (std::vector<uint8_t>{255, 0x0f}));
  EXPECT_THROW(run_op("BitwiseAnd", {f32({1}, {1}), f32({1}, {1})}), Error);
  EXPECT_THROW(run_op("BitwiseNot", {f32({1}, {1})}), Error);
}

// ---------------------------------------------------------------------------------------------
// Max, Min, Sum, Mean

TEST(ElementwiseVariadic, ThreeInputsWithBroadcasting) {
  const Tensor a = pattern({2, 1, 3}, 1.0f), b = pattern({4, 1}, 0.9f), c = pattern({3}, 1.1f);
  const Dims out_shape = {2, 4, 3};
  for (const std::string op : {"Max", "Min", "Sum", "Mean"}) {
    SCOPED_TRACE(op);
    auto out = run_op(op, {a, b, c});
    ASSERT_EQ(out[0].shape(), out_shape);
    for (int64_t i = 0; i < out[0].numel(); ++i) {
      const float x = a.data<float>()[broadcast_offset(a.shape(), out_shape, i)];
      const float y = b.data<float>()[broadcast_offset(b.shape(), out_shape, i)];
      const float z = c.data<float>()[broadcast_offset(c.shape(), out_shape, i)];
      float expected;
      if (op == "Max") {
        expected = std::max({x, y, z});
      } else if (op == "Min") {
        expected = std::min({x, y, z});
      } else if (op == "Sum") {
        expected = (x + y) + z;
      } else {
        expected = ((x + y) + z) / 3.0f;
      }
      ASSERT_EQ(out[0].data<float>()[i], expected) << "element " << i;
    }
  }
}

TEST(ElementwiseVariadic, SingleInputAndIntegers) {
  auto mean = run_op("Mean", {f32({2}, {1, 2})});
  EXPECT_EQ(values<float>(mean[0]), (std::vector<float>{1, 2}));
  auto max = run_op("Max", {i64({3}, {1, -5, 7}), i64({1}, {2}), i64({3}, {0, -9, 9})});
  EXPECT_EQ(values<int64_t>(max[0]), (std::vector<int64_t>{2, 2, 9}));
  auto min = run_op("Min", {u8({2}, {3, 200}), u8({2}, {4, 100})});
  EXPECT_EQ(values<uint8_t>(min[0]), (std::vector<uint8_t>{3, 100}));
  EXPECT_THROW(run_op("Sum", {i64({1}, {1}), i64({1}, {2})}), Error);  // float types only
  EXPECT_THROW(run_op("Max", {f32({1}, {1}), f64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Max", {f32({2}, {1, 2}), f32({3}, {1, 2, 3})}), Error);
}

TEST(ElementwiseVariadic, NaNPropagates) {
  // onnxruntime: Max -> [nan, nan, 3], Min -> [nan, nan, 2].
  auto max = run_op("Max", {f32({3}, {NAN, 1, 2}), f32({3}, {1, NAN, 3})});
  auto min = run_op("Min", {f32({3}, {NAN, 1, 2}), f32({3}, {1, NAN, 3})});
  EXPECT_TRUE(std::isnan(max[0].data<float>()[0]));
  EXPECT_TRUE(std::isnan(max[0].data<float>()[1]));
  EXPECT_EQ(max[0].data<float>()[2], 3.0f);
  EXPECT_TRUE(std::isnan(min[0].data<float>()[0]));
  EXPECT_TRUE(std::isnan(min[0].data<float>()[1]));
  EXPECT_EQ(min[0].data<float>()[2], 2.0f);
}

TEST(ElementwiseVariadic, HalfSumRoundsOnceOnStore) {
  // In float16 step by step: 2048 + 1 -> 2048, + 1 -> 2048. In float32: 2050, exact in half.
  auto sum = run_op("Sum", {f16({1}, {2048}), f16({1}, {1}), f16({1}, {1})});
  EXPECT_EQ(f16_values(sum[0]), (std::vector<float>{2050}));
  auto mean = run_op("Mean", {f16({1}, {2048}), f16({1}, {1}), f16({1}, {3})});
  EXPECT_EQ(f16_values(mean[0]), (std::vector<float>{684}));  // 2052 / 3
}

TEST(ElementwiseVariadic, OutputMayShareAnInputsMemory) {
  // An executor may write the result over a dead input; the third input must still be read
  // before it is overwritten.
  ir::Graph graph;
  ir::Node* node = graph.add_node("Sum", "sum", {}, {"out"});
  Tensor a = f32({3}, {1, 2, 3}), b = f32({3}, {10, 20, 30}), c = f32({3}, {100, 200, 300});
  ops::ComputeContext ctx(*node, {&a, &b, &c}, {&c});
  ops::OpRegistry::instance().get(*node).compute(ctx);
  EXPECT_EQ(values<float>(c), (std::vector<float>{111, 222, 333}));
}

// ---------------------------------------------------------------------------------------------
// Comparisons and logical ops

TEST(ElementwiseCompare, AllComparisonsWithBroadcasting) {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, NAN});
  const Tensor b = f32({3}, {2, 2, 2});
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> expected = {
      {"Equal", {0, 1, 0, 0, 0, 0}},          {"Less", {1, 0, 0, 0, 0, 0}},
      {"Greater", {0, 0, 1, 1, 1, 0}},        {"LessOrEqual", {1, 1, 0, 0, 0, 0}},
      {"GreaterOrEqual", {0, 1, 1, 1, 1, 0}},
  };
  for (const auto& [op, want] : expected) {
    SCOPED_TRACE(op);
    auto out = run_op(op, {a, b});
    EXPECT_EQ(out[0].dtype(), DataType::kBool);
    EXPECT_EQ(out[0].shape(), (Dims{2, 3}));
    EXPECT_EQ(values<uint8_t>(out[0]), want);
  }
}

TEST(ElementwiseCompare, IntegerHalfAndBool) {
  auto less = run_op("Less", {i64({3}, {-1, 5, int64_t(1) << 60}), i64({}, {5})});
  EXPECT_EQ(values<uint8_t>(less[0]), (std::vector<uint8_t>{1, 0, 0}));
  auto unsigned_greater = run_op("Greater", {u8({2}, {200, 3}), u8({2}, {100, 4})});
  EXPECT_EQ(values<uint8_t>(unsigned_greater[0]), (std::vector<uint8_t>{1, 0}));
  auto half = run_op("GreaterOrEqual", {f16({3}, {0.5f, -2, 65504}), f16({1}, {0.5f})});
  EXPECT_EQ(values<uint8_t>(half[0]), (std::vector<uint8_t>{1, 0, 1}));
  auto bools = run_op("Equal", {boolean({4}, {0, 0, 1, 1}), boolean({4}, {0, 1, 0, 1})});
  EXPECT_EQ(values<uint8_t>(bools[0]), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_THROW(run_op("Less", {boolean({1}, {0}), boolean({1}, {1})}), Error);
  EXPECT_THROW(run_op("Equal", {i32({1}, {0}), i64({1}, {1})}), Error);
}

TEST(ElementwiseLogical, TruthTablesWithBroadcasting) {
  const Tensor a = boolean({2, 2}, {0, 0, 1, 1});
  const Tensor b = boolean({2}, {0, 1});
  EXPECT_EQ(values<uint8_t>(run_op("And", {a, b})[0]), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(values<uint8_t>(run_op("Or", {a, b})[0]), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(values<uint8_t>(run_op("Xor", {a, b})[0]), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("Not", {b})[0]), (std::vector<uint8_t>{1, 0}));
  EXPECT_THROW(run_op("And", {a, f32({1}, {1})}), Error);
  EXPECT_THROW(run_op("Not", {i32({1}, {1})}), Error);
  EXPECT_THROW(run_op("Or", {a, boolean({3}, {0, 1, 0})}), Error);
}

TEST(ElementwiseClassify, IsNaNAndIsInf) {
  const Tensor x = f32({5}, {1, NAN, INFINITY, -INFINITY, -0.0f});
  EXPECT_EQ(values<uint8_t>(run_op("IsNaN", {x})[0]), (std::vector<uint8_t>{0, 1, 0, 0, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("IsInf", {x})[0]), (std::vector<uint8_t>{0, 0, 1, 1, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("IsInf", {x}, {{"detect_negative", int64_t(0)}})[0]),
            (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("IsInf", {x}, {{"detect_positive", int64_t(0)}})[0]),
            (std::vector<uint8_t>{0, 0, 0, 1, 0}));
  auto half = run_op("IsInf", {f16({3}, {INFINITY, 65504, NAN})});
  EXPECT_EQ(values<uint8_t>(half[0]), (std::vector<uint8_t>{1, 0, 0}));
  // float8 e5m2: 0x7c is +inf, 0x7f NaN; e4m3 has no infinity and 0x7f is NaN.
  const Tensor e5m2 = make<uint8_t>(DataType::kFloat8E5M2, {3}, {0x7c, 0x7f, 0x3c});
  EXPECT_EQ(values<uint8_t>(run_op("IsInf", {e5m2})[0]), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("IsNaN", {e5m2})[0]), (std::vector<uint8_t>{0, 1, 0}));
  const Tensor e4m3 = make<uint8_t>(DataType::kFloat8E4M3, {2}, {0x7f, 0x7e});
  EXPECT_EQ(values<uint8_t>(run_op("IsNaN", {e4m3})[0]), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(values<uint8_t>(run_op("IsInf", {e4m3})[0]), (std::vector<uint8_t>{0, 0}));
  EXPECT_THROW(run_op("IsNaN", {i32({1}, {1})}), Error);
}

}  // namespace
}  // namespace kiln
