// Einsum against plain loops written here and hand-computed values; Det against cofactor
// expansions done by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

Tensor f64(Dims shape, std::vector<double> v) {
  return Tensor::from_vector<double>(DataType::kFloat64, std::move(shape), v);
}

std::vector<double> ramp(size_t n, double scale, double offset) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * double((i * 7) % 13) + offset;
  return v;
}

Tensor einsum(const std::string& equation, const std::vector<Tensor>& inputs) {
  return run_op("Einsum", inputs, {{"equation", equation}})[0];
}

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

TEST(Einsum, MatMulExplicitAndImplicitMatchLoop) {
  const auto a = ramp(6, 0.5, -1), b = ramp(12, -0.25, 2);
  std::vector<double> expected(8, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j)
        expected[size_t(i * 4 + k)] += a[size_t(i * 3 + j)] * b[size_t(j * 4 + k)];
  const Tensor ta = f64({2, 3}, a), tb = f64({3, 4}, b);
  const Tensor explicit_out = einsum("ij, jk -> ik", {ta, tb});
  ASSERT_EQ(explicit_out.shape(), (Dims{2, 4}));
  expect_near_all(explicit_out, expected, 1e-12);
  // Implicit: the labels used once (i, k), in order.
  expect_near_all(einsum("ij,jk", {ta, tb}), expected, 1e-12);
  // Implicit order is alphabetical: "ji,jk" gives [i, k] too, reading A transposed.
  const Tensor at = f64({3, 2}, {a[0], a[3], a[1], a[4], a[2], a[5]});
  expect_near_all(einsum("ji,jk", {at, tb}), expected, 1e-12);
}

TEST(Einsum, TraceDiagonalTransposeAndSum) {
  const Tensor m = f64({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor trace = einsum("ii", {m});  // implicit: i is repeated, so it is summed
  ASSERT_EQ(trace.shape(), Dims{});
  EXPECT_EQ(trace.as_double(0), 15);
  expect_near_all(einsum("ii->i", {m}), {1, 5, 9}, 0);
  expect_near_all(einsum("ij->ji", {m}), {1, 4, 7, 2, 5, 8, 3, 6, 9}, 0);
  expect_near_all(einsum("ij->", {m}), {45}, 0);
  expect_near_all(einsum("ij->j", {m}), {12, 15, 18}, 0);
  // Batched diagonal through an ellipsis: [2, 2, 2] -> [2, 2].
  expect_near_all(einsum("...ii ->...i", {f64({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}), {1, 4, 5, 8},
                  0);
}

TEST(Einsum, EllipsisBroadcastsBatchDims) {
  // [2, 1, 2, 3] x [3, 3, 2] over "...ij,...jk->...ik": batch [2, 1] with [3] gives [2, 3].
  const auto a = ramp(12, 1.0, -3), b = ramp(18, 0.5, -2);
  const Tensor out = einsum("...ij,...jk->...ik", {f64({2, 1, 2, 3}, a), f64({3, 3, 2}, b)});
  ASSERT_EQ(out.shape(), (Dims{2, 3, 2, 2}));
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < 3; ++q)
      for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 2; ++k) {
          double sum = 0;
          for (int j = 0; j < 3; ++j)
            sum += a[size_t(p * 6 + i * 3 + j)] * b[size_t(q * 6 + j * 2 + k)];
          EXPECT_NEAR(out.as_double(((p * 3 + q) * 2 + i) * 2 + k), sum, 1e-12);
        }
}

TEST(Einsum, ThreeOperandsIntegersAndBfloat16) {
  // sum_i x_i y_i z_i = 1*4*7 + 2*5*8 + 3*6*9 = 28 + 80 + 162 = 270, in int32.
  auto i32 = [](std::vector<int32_t> v) {
    return Tensor::from_vector<int32_t>(DataType::kInt32, {3}, v);
  };
  const Tensor dot = einsum("i,i,i->", {i32({1, 2, 3}), i32({4, 5, 6}), i32({7, 8, 9})});
  ASSERT_EQ(dot.dtype(), DataType::kInt32);
  EXPECT_EQ(dot.as_int64(0), 270);
  // Outer product in bfloat16: values exact in bfloat16.
  auto bf = [](std::vector<float> v) {
    std::vector<uint16_t> bits;
    for (float f : v) bits.push_back(float_to_bf16(f));
    return Tensor::from_vector<uint16_t>(DataType::kBFloat16, {Dims::value_type(v.size())}, bits);
  };
  const Tensor outer = einsum("i,j->ij", {bf({1, -2}), bf({0.5f, 3, 4})});
  ASSERT_EQ(outer.dtype(), DataType::kBFloat16);
  expect_near_all(outer, {0.5, 3, 4, -1, -6, -8}, 0);
  // A scalar operand.
  expect_near_all(einsum("->", {f64({}, {2.5})}), {2.5}, 0);
}

TEST(Einsum, RejectsBadEquations) {
  const Tensor m = f64({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(einsum("ij,jk->ik", {m}), Error);  // two terms, one input
  EXPECT_THROW(einsum("ijk->i", {m}), Error);     // term rank 3 for a rank-2 input
  EXPECT_THROW(einsum("ij->iz", {m}), Error);     // z is in no input
  EXPECT_THROW(einsum("ij->ii", {m}), Error);     // repeated output label
  EXPECT_THROW(einsum("ii->i", {m}), Error);      // diagonal of a non-square matrix
  EXPECT_THROW(einsum("ij,ij->i", {m, f64({3, 3}, std::vector<double>(9, 1))}), Error);
  EXPECT_THROW(einsum("...j->j", {f64({2, 3}, ramp(6, 1, 0))}), Error);  // output lacks '...'
  EXPECT_THROW(einsum("i-j", {m}), Error);                               // bad character
  EXPECT_THROW(einsum("ij,jk", {m, f32({3, 1}, {1, 2, 3})}), Error);     // mixed types
}

// ---------------------------------------------------------------------------------------------
// Det

TEST(Det, MatchesCofactorExpansion) {
  // [[2, -1, 0], [4, 3, 5], [-2, 6, 1]]: 2*(3 - 30) + 1*(4 + 10) = -40.
  // [[0, 1, 2], [3, 0, 4], [5, 6, 0]] (needs a row swap): -1*(0 - 20) + 2*(18 - 0) = 56.
  const Tensor y =
      run_op("Det", {f32({2, 3, 3}, {2, -1, 0, 4, 3, 5, -2, 6, 1, 0, 1, 2, 3, 0, 4, 5, 6, 0})})[0];
  ASSERT_EQ(y.shape(), Dims{2});
  expect_near_all(y, {-40, 56}, 1e-4);
  // 2x2 in float64: 1*4 - 2*3 = -2; a singular matrix gives 0.
  const Tensor d2 = run_op("Det", {f64({2, 2}, {1, 2, 3, 4})})[0];
  ASSERT_EQ(d2.shape(), Dims{});
  EXPECT_NEAR(d2.as_double(0), -2.0, 1e-14);
  EXPECT_EQ(run_op("Det", {f64({2, 2}, {1, 2, 2, 4})})[0].as_double(0), 0.0);
}

TEST(Det, RejectsNonSquareAndIntegerInput) {
  EXPECT_THROW(run_op("Det", {f32({2, 3}, {1, 2, 3, 4, 5, 6})}), Error);
  EXPECT_THROW(run_op("Det", {f32({3}, {1, 2, 3})}), Error);
  EXPECT_THROW(run_op("Det", {testing::i64({1, 1}, {1})}), Error);
}

}  // namespace
}  // namespace kiln
