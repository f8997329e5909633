// Cast, CastLike and Where. Expected bit patterns of float16 results come from numpy, those of
// float8 results from onnx.reference's Cast, as noted.
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
Tensor boolean(Dims shape, std::vector<uint8_t> v) { return make(DataType::kBool, shape, v); }

template <typename T>
std::vector<T> values(const Tensor& t) {
  auto s = t.span<T>();
  return {s.begin(), s.end()};
}

Tensor cast(const Tensor& in, DataType to, ir::Attributes attrs = {}) {
  attrs["to"] = int64_t(to);
  auto out = run_op("Cast", {in}, std::move(attrs));
  EXPECT_EQ(out[0].dtype(), to);
  EXPECT_EQ(out[0].shape(), in.shape());
  return out[0];
}

// ---------------------------------------------------------------------------------------------
// Cast

TEST(ElementwiseCast, FloatToIntegerTruncates) {
  const Tensor x = f32({5}, {2.7f, -2.7f, NAN, 0.999f, -0.0f});
  EXPECT_EQ(values<int32_t>(cast(x, DataType::kInt32)), (std::vector<int32_t>{2, -2, 0, 0, 0}));
  EXPECT_EQ(values<int64_t>(cast(x, DataType::kInt64)), (std::vector<int64_t>{2, -2, 0, 0, 0}));
  // Out of uint8's range: through int64 and wrapped, as numpy's astype(uint8) gives [255, 44].
  EXPECT_EQ(values<uint8_t>(cast(f32({2}, {-1, 300}), DataType::kUInt8)),
            (std::vector<uint8_t>{255, 44}));
  // Beyond int64: saturates at int64's range rather than being undefined.
  EXPECT_EQ(values<int64_t>(cast(f32({2}, {1e30f, -INFINITY}), DataType::kInt64)),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min()}));
  EXPECT_EQ(
      values<uint64_t>(cast(make<double>(DataType::kFloat64, {1}, {1.5e19}), DataType::kUInt64)),
      (std::vector<uint64_t>{15000000000000000000ull}));
}

TEST(ElementwiseCast, IntegerToIntegerKeepsLowBits) {
  // The ONNX spec's example: 200 (int16) -> -56 (int8).
  EXPECT_EQ(values<int8_t>(cast(make<int16_t>(DataType::kInt16, {1}, {200}), DataType::kInt8)),
            (std::vector<int8_t>{-56}));
  const int64_t big = (int64_t(1) << 53) + 1;  // not representable in double
  EXPECT_EQ(values<uint64_t>(cast(i64({2}, {big, -1}), DataType::kUInt64)),
            (std::vector<uint64_t>{uint64_t(big), std::numeric_limits<uint64_t>::max()}));
  EXPECT_EQ(values<int32_t>(cast(i64({2}, {(int64_t(1) << 32) + 5, -1}), DataType::kInt32)),
            (std::vector<int32_t>{5, -1}));
  EXPECT_EQ(values<int64_t>(
                cast(make<uint64_t>(DataType::kUInt64, {1}, {std::numeric_limits<uint64_t>::max()}),
                     DataType::kInt64)),
            (std::vector<int64_t>{-1}));
  EXPECT_EQ(values<double>(
                cast(make<uint64_t>(DataType::kUInt64, {1}, {std::numeric_limits<uint64_t>::max()}),
                     DataType::kFloat64)),
            (std::vector<double>{18446744073709551616.0}));
  EXPECT_EQ(values<float>(cast(i64({2}, {16777217, -3}), DataType::kFloat32)),
            (std::vector<float>{16777216.0f, -3.0f}));
}

TEST(ElementwiseCast, Bool) {
  EXPECT_EQ(values<uint8_t>(cast(f32({5}, {0, -0.0f, 0.5f, NAN, -2}), DataType::kBool)),
            (std::vector<uint8_t>{0, 0, 1, 1, 1}));
  EXPECT_EQ(values<uint8_t>(cast(i64({3}, {0, 256, -1}), DataType::kBool)),
            (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(values<float>(cast(boolean({2}, {1, 0}), DataType::kFloat32)),
            (std::vector<float>{1, 0}));
  EXPECT_EQ(values<int32_t>(cast(boolean({2}, {1, 0}), DataType::kInt32)),
            (std::vector<int32_t>{1, 0}));
}

TEST(ElementwiseCast, HalfPrecisionRounding) {
  // numpy: np.array([1/3, 65520, 65519, 1e-8, -2.5], np.float32).astype(np.float16).view(np.uint16)
  // gives [0x3555, 0x7c00, 0x7bff, 0x0000, 0xc100].
  const Tensor x = f32({5}, {1.0f / 3.0f, 65520, 65519, 1e-8f, -2.5f});
  EXPECT_EQ(values<uint16_t>(cast(x, DataType::kFloat16)),
            (std::vector<uint16_t>{0x3555, 0x7c00, 0x7bff, 0x0000, 0xc100}));
  // bfloat16 keeps float32's top 16 bits, rounded to nearest even: 1/3 = 0x3eaaaaab -> 0x3eab.
  EXPECT_EQ(values<uint16_t>(cast(f32({2}, {1.0f / 3.0f, 1.00390625f}), DataType::kBFloat16)),
            (std::vector<uint16_t>{0x3eab, 0x3f80}));  // 1 + 2^-8 is a tie: to even (1.0)
  const Tensor half = make<uint16_t>(DataType::kFloat16, {3}, {0x3555, 0x0001, 0xfc00});
  auto back = cast(half, DataType::kFloat32);
  EXPECT_EQ(back.data<float>()[0], 0.333251953125f);
  EXPECT_EQ(back.data<float>()[1], std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(back.data<float>()[2], -INFINITY);
  EXPECT_EQ(values<double>(cast(half, DataType::kFloat64))[0], 0.333251953125);
  EXPECT_EQ(
      values<int32_t>(cast(make<uint16_t>(DataType::kFloat16, {1}, {0xc100}), DataType::kInt32)),
      (std::vector<int32_t>{-2}));
}

TEST(ElementwiseCast, Float8Saturation) {
  // e4m3fn: max 448 = 0x7e, NaN 0x7f. e5m2: max 57344 = 0x7b, inf 0x7c. All four rows match
  // onnx.reference's Cast (opset 21) with saturate 1 and 0.
  const Tensor x = f32({5}, {1000, -1000, INFINITY, 1.0f, 0.0f});
  EXPECT_EQ(values<uint8_t>(cast(x, DataType::kFloat8E4M3)),
            (std::vector<uint8_t>{0x7e, 0xfe, 0x7e, 0x38, 0x00}));
  EXPECT_EQ(values<uint8_t>(cast(x, DataType::kFloat8E4M3, {{"saturate", int64_t(0)}})),
            (std::vector<uint8_t>{0x7f, 0xff, 0x7f, 0x38, 0x00}));
  EXPECT_EQ(values<uint8_t>(cast(x, DataType::kFloat8E5M2)),
            (std::vector<uint8_t>{0x64, 0xe4, 0x7b, 0x3c, 0x00}));
  EXPECT_EQ(values<uint8_t>(cast(f32({2}, {1e6f, -INFINITY}), DataType::kFloat8E5M2,
                                 {{"saturate", int64_t(0)}})),
            (std::vector<uint8_t>{0x7c, 0xfc}));
  const Tensor e4m3 = make<uint8_t>(DataType::kFloat8E4M3, {3}, {0x7e, 0x38, 0x01});
  EXPECT_EQ(values<float>(cast(e4m3, DataType::kFloat32)),
            (std::vector<float>{448, 1, std::ldexp(1.0f, -9)}));
}

TEST(ElementwiseCast, SameTypeCopiesAndLargeTensors) {
  // More elements than one conversion chunk, with a distinct value each.
  std::vector<int32_t> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = int32_t(i * 37) - 5000;
  const Tensor x = make<int32_t>(DataType::kInt32, {10, 100}, v);
  auto as_float = cast(x, DataType::kFloat32);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(as_float.data<float>()[i], float(v[i])) << i;
  EXPECT_EQ(values<int32_t>(cast(x, DataType::kInt32)), v);
  EXPECT_EQ(cast(f32({0, 3}, {}), DataType::kFloat16).numel(), 0);
}

TEST(ElementwiseCast, Errors) {
  EXPECT_THROW(run_op("Cast", {f32({1}, {1})}), Error);  // `to` is required
  EXPECT_THROW(run_op("Cast", {f32({1}, {1})}, {{"to", int64_t(99)}}), Error);
  EXPECT_THROW(run_op("Cast", {f32({1}, {1})}, {{"to", int64_t(-1)}}), Error);
  EXPECT_THROW(run_op("Cast", {f32({1}, {1})}, {{"to", std::string("float16")}}), Error);
}

TEST(ElementwiseCast, CastLikeTakesTheSecondInputsType) {
  auto out = run_op("CastLike", {f32({3}, {1.5f, -7.9f, 3}), i64({0}, {})});
  EXPECT_EQ(out[0].dtype(), DataType::kInt64);
  EXPECT_EQ(out[0].shape(), (Dims{3}));
  EXPECT_EQ(values<int64_t>(out[0]), (std::vector<int64_t>{1, -7, 3}));
  auto e4m3 = run_op("CastLike", {f32({1}, {500}), make<uint8_t>(DataType::kFloat8E4M3, {1}, {0})},
                     {{"saturate", int64_t(0)}});
  EXPECT_EQ(values<uint8_t>(e4m3[0]), (std::vector<uint8_t>{0x7f}));
  EXPECT_THROW(run_op("CastLike", {f32({1}, {1})}), Error);
}

// ---------------------------------------------------------------------------------------------
// Where

TEST(ElementwiseWhere, ThreeWayBroadcast) {
  const Tensor condition = boolean({2, 1}, {1, 0});
  const Tensor x = f32({3}, {1, 2, 3});
  const Tensor y = f32({}, {-1});
  auto out = run_op("Where", {condition, x, y});
  EXPECT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(values<float>(out[0]), (std::vector<float>{1, 2, 3, -1, -1, -1}));
  // Plain loop reference over a larger case: condition [2,1,4], x [3,1], y [2,3,4].
  std::vector<uint8_t> c(8);
  for (size_t i = 0; i < c.size(); ++i) c[i] = uint8_t((i * 5) % 3 == 0);
  std::vector<int64_t> xv = {10, 20, 30}, yv(24);
  for (size_t i = 0; i < yv.size(); ++i) yv[i] = -int64_t(i);
  auto big = run_op("Where", {boolean({2, 1, 4}, c), i64({3, 1}, xv), i64({2, 3, 4}, yv)});
  ASSERT_EQ(big[0].shape(), (Dims{2, 3, 4}));
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t h = 0; h < 3; ++h) {
      for (int64_t w = 0; w < 4; ++w) {
        const int64_t i = (n * 3 + h) * 4 + w;
        const int64_t want = c[size_t(n * 4 + w)] ? xv[size_t(h)] : yv[size_t(i)];
        EXPECT_EQ(big[0].data<int64_t>()[i], want) << n << "," << h << "," << w;
      }
    }
  }
}

TEST(ElementwiseWhere, AnyElementType) {
  const Tensor condition = boolean({3}, {1, 0, 1});
  auto bools = run_op("Where", {condition, boolean({3}, {0, 0, 0}), boolean({3}, {1, 1, 1})});
  EXPECT_EQ(bools[0].dtype(), DataType::kBool);
  EXPECT_EQ(values<uint8_t>(bools[0]), (std::vector<uint8_t>{0, 1, 0}));
  auto halves = run_op("Where", {condition, make<uint16_t>(DataType::kFloat16, {1}, {0x3c00}),
                                 make<uint16_t>(DataType::kFloat16, {3}, {1, 2, 3})});
  EXPECT_EQ(halves[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(values<uint16_t>(halves[0]), (std::vector<uint16_t>{0x3c00, 2, 0x3c00}));
  auto doubles = run_op("Where", {condition, make<double>(DataType::kFloat64, {}, {0.5}),
                                  make<double>(DataType::kFloat64, {}, {-0.5})});
  EXPECT_EQ(values<double>(doubles[0]), (std::vector<double>{0.5, -0.5, 0.5}));
}

TEST(ElementwiseWhere, Errors) {
  EXPECT_THROW(run_op("Where", {f32({1}, {1}), f32({1}, {1}), f32({1}, {2})}), Error);
  EXPECT_THROW(run_op("Where", {boolean({1}, {1}), f32({1}, {1}), i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Where", {boolean({2}, {1, 0}), f32({3}, {1, 2, 3}), f32({1}, {2})}), Error);
}

}  // namespace
}  // namespace kiln
