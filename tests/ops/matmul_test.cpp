#include <gtest/gtest.h>

#include <limits>

#include "ops/nn_test_util.h"

namespace kiln {
namespace {

using testing::expect_values;
using testing::f32;
using testing::i64;
using testing::random_f32;
using testing::run_op;

TEST(MatMul, HandComputed2D) {
  // [1 2 3; 4 5 6] x [1 0; 0 1; 1 1] = [4 5; 10 11]
  auto out = run_op("MatMul", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3, 2}, {1, 0, 0, 1, 1, 1})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  expect_values(out[0], {4, 5, 10, 11});
}

TEST(MatMul, OneDimensionalOperandsArePromotedAndTheAxisRemoved) {
  const Tensor v = f32({3}, {1, 2, 3});
  const Tensor m = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  auto vm = run_op("MatMul", {v, m});  // [3] x [3, 2] -> [2]
  ASSERT_EQ(vm[0].shape(), (Dims{2}));
  expect_values(vm[0], {4, 5});
  auto mv = run_op("MatMul", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), v});  // [2, 3] x [3] -> [2]
  ASSERT_EQ(mv[0].shape(), (Dims{2}));
  expect_values(mv[0], {14, 32});
  auto vv = run_op("MatMul", {v, v});  // dot product -> scalar
  ASSERT_EQ(vv[0].shape(), Dims{});
  expect_values(vv[0], {14});
  // a batched matrix times a vector: [2, 2, 3] x [3] -> [2, 2]
  auto bv = run_op("MatMul", {f32({2, 2, 3}, {1, 2, 3, 4, 5, 6, 0, 0, 1, 1, 0, 0}), v});
  ASSERT_EQ(bv[0].shape(), (Dims{2, 2}));
  expect_values(bv[0], {14, 32, 3, 1});
}

// y[b] = a[b] x b[b] with numpy broadcasting of the batch axes, as a float64 loop.
std::vector<double> naive_batched_matmul(const Tensor& a, const Tensor& b, const Dims& batch,
                                         const Dims& a_batch, const Dims& b_batch) {
  const int64_t m = a.dim(a.rank() - 2), k = a.dim(a.rank() - 1), n = b.dim(b.rank() - 1);
  std::vector<double> y;
  const int64_t total = volume(batch);
  for (int64_t flat = 0; flat < total; ++flat) {
    // multi-index over the broadcast batch, mapped into each operand (extent 1 -> index 0)
    Dims index(batch.size());
    for (int64_t f = flat, d = int64_t(batch.size()) - 1; d >= 0; --d) {
      index[size_t(d)] = f % batch[size_t(d)];
      f /= batch[size_t(d)];
    }
    auto offset = [&](const Dims& own) {
      int64_t off = 0;
      const size_t lead = batch.size() - own.size();
      for (size_t i = 0; i < own.size(); ++i)
        off = off * own[i] + (own[i] == 1 ? 0 : index[lead + i]);
      return off;
    };
    const int64_t ao = offset(a_batch) * m * k, bo = offset(b_batch) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += a.as_double(ao + i * k + p) * b.as_double(bo + p * n + j);
        y.push_back(sum);
      }
  }
  return y;
}

TEST(MatMul, BatchAxesBroadcastLikeNumpy) {
  struct Case {
    Dims a, b, batch, a_batch, b_batch;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {4, 5}, {2}, {2}, {}},
      {{3, 4}, {2, 4, 5}, {2}, {}, {2}},
      {{2, 1, 3, 4}, {3, 4, 2}, {2, 3}, {2, 1}, {3}},
      {{1, 3, 2, 4}, {2, 1, 4, 3}, {2, 3}, {1, 3}, {2, 1}},
  };
  uint32_t seed = 20;
  for (const Case& c : cases) {
    const Tensor a = random_f32(c.a, seed++);
    const Tensor b = random_f32(c.b, seed++);
    auto out = run_op("MatMul", {a, b});
    Dims shape = c.batch;
    shape.push_back(c.a[c.a.size() - 2]);
    shape.push_back(c.b.back());
    ASSERT_EQ(out[0].shape(), shape);
    expect_values(out[0], naive_batched_matmul(a, b, c.batch, c.a_batch, c.b_batch));
  }
}

TEST(MatMul, IntegerTypesWrapAroundLikeNumpy) {
  const Tensor a = Tensor::from_vector<int32_t>(DataType::kInt32, {1, 2}, {1 << 30, 3});
  const Tensor b = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 1}, {4, -2});
  auto out = run_op("MatMul", {a, b});
  ASSERT_EQ(out[0].dtype(), DataType::kInt32);
  // 2^32 wraps to 0 in int32, then - 6.
  EXPECT_EQ(out[0].data<int32_t>()[0], -6);
  auto big = run_op("MatMul", {i64({1, 2}, {int64_t(1) << 40, 5}), i64({2}, {1 << 20, 7})});
  EXPECT_EQ(big[0].data<int64_t>()[0], (int64_t(1) << 60) + 35);
  const Tensor ua = Tensor::from_vector<uint32_t>(DataType::kUInt32, {1, 1}, {4000000000u});
  const Tensor ub = Tensor::from_vector<uint32_t>(DataType::kUInt32, {1, 1}, {2});
  EXPECT_EQ(run_op("MatMul", {ua, ub})[0].data<uint32_t>()[0], uint32_t(8000000000ull));
}

TEST(MatMul, HalfPrecisionAndDouble) {
  const Tensor a = f32({2, 2}, {0.5f, 1.5f, -2, 4});
  const Tensor b = f32({2, 2}, {1, 2, 3, 0.25f});
  const std::vector<double> want{5, 1.375, 10, -3};
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
    auto out = run_op("MatMul", {a.cast(t), b.cast(t)});
    ASSERT_EQ(out[0].dtype(), t);
    expect_values(out[0], want, 0.0);
  }
}

TEST(MatMul, RejectsBadInputs) {
  EXPECT_THROW(
      run_op("MatMul", {f32({2, 3}, std::vector<float>(6)), f32({2, 3}, std::vector<float>(6))}),
      Error);
  EXPECT_THROW(run_op("MatMul", {f32({2, 2, 3}, std::vector<float>(12)),
                                 f32({3, 3, 1}, std::vector<float>(9))}),
               Error);                                                   // batch 2 vs 3
  EXPECT_THROW(run_op("MatMul", {f32({}, {1}), f32({1}, {1})}), Error);  // scalar operand
  EXPECT_THROW(run_op("MatMul", {f32({1, 1}, {1}), i64({1, 1}, {1})}), Error);
  const Tensor b8 = Tensor::from_vector<int8_t>(DataType::kInt8, {1, 1}, {1});
  EXPECT_THROW(run_op("MatMul", {b8, b8}), Error);
}

TEST(Gemm, TransposesAlphaBetaAndBroadcastC) {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});   // M=2, K=3
  const Tensor at = f32({3, 2}, {1, 4, 2, 5, 3, 6});  // the same A transposed
  const Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});   // K=3, N=2
  const Tensor bt = f32({2, 3}, {1, 0, 1, 0, 1, 1});  // the same B transposed
  // A x B = [4 5; 10 11]
  const ir::Attributes scaled{{"alpha", 2.0}, {"beta", 0.5}};
  // C as [N] (row broadcast): 2 * AB + 0.5 * [10, 20]
  const std::vector<double> want_row{13, 20, 25, 32};
  expect_values(run_op("Gemm", {a, b, f32({2}, {10, 20})}, scaled)[0], want_row);
  ir::Attributes ta = scaled;
  ta["transA"] = int64_t(1);
  expect_values(run_op("Gemm", {at, b, f32({2}, {10, 20})}, ta)[0], want_row);
  ir::Attributes tb = scaled;
  tb["transB"] = int64_t(1);
  expect_values(run_op("Gemm", {a, bt, f32({2}, {10, 20})}, tb)[0], want_row);
  ir::Attributes both = ta;
  both["transB"] = int64_t(1);
  expect_values(run_op("Gemm", {at, bt, f32({2}, {10, 20})}, both)[0], want_row);
  // C as [M, 1] (column broadcast), a scalar, a full [M, N], and absent
  expect_values(run_op("Gemm", {a, b, f32({2, 1}, {10, 20})}, scaled)[0], {13, 15, 30, 32});
  expect_values(run_op("Gemm", {a, b, f32({}, {4})}, scaled)[0], {10, 12, 22, 24});
  expect_values(run_op("Gemm", {a, b, f32({2, 2}, {2, 4, 6, 8})}, scaled)[0], {9, 12, 23, 26});
  expect_values(run_op("Gemm", {a, b}, scaled)[0], {8, 10, 20, 22});
  expect_values(run_op("Gemm", {a, b})[0], {4, 5, 10, 11});
}

TEST(Gemm, IntegerAndDouble) {
  const Tensor a = Tensor::from_vector<int32_t>(DataType::kInt32, {1, 2}, {3, -4});
  const Tensor b = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 1}, {5, 6});
  const Tensor c = Tensor::from_vector<int32_t>(DataType::kInt32, {1}, {100});
  auto out = run_op("Gemm", {a, b, c}, {{"alpha", 2.0}, {"beta", 3.0}});
  EXPECT_EQ(out[0].data<int32_t>()[0], 2 * (15 - 24) + 300);
  auto d = run_op("Gemm",
                  {f32({1, 2}, {0.5f, 2}).cast(DataType::kFloat64),
                   f32({2, 1}, {4, 0.25f}).cast(DataType::kFloat64)},
                  {{"alpha", 0.5}});
  ASSERT_EQ(d[0].dtype(), DataType::kFloat64);
  expect_values(d[0], {1.25}, 0.0);
}

TEST(Gemm, ZeroBetaStillPropagatesNaNFromC) {
  // ONNX defines Y = alpha * A' B' + beta * C literally: 0 * NaN is NaN.
  auto out = run_op(
      "Gemm",
      {f32({1, 1}, {2}), f32({1, 1}, {3}), f32({1}, {std::numeric_limits<float>::quiet_NaN()})},
      {{"beta", 0.0}});
  EXPECT_TRUE(std::isnan(out[0].data<float>()[0]));
}

TEST(Gemm, RejectsBadInputs) {
  const Tensor a = f32({2, 3}, std::vector<float>(6));
  const Tensor b = f32({3, 2}, std::vector<float>(6));
  EXPECT_THROW(run_op("Gemm", {a, a}), Error);  // K mismatch
  EXPECT_THROW(run_op("Gemm", {f32({6}, std::vector<float>(6)), b}), Error);
  EXPECT_THROW(run_op("Gemm", {a, b, f32({3}, {1, 2, 3})}), Error);  // C does not broadcast
  EXPECT_THROW(run_op("Gemm", {a, b, f32({1, 1, 1}, {1})}), Error);
  EXPECT_THROW(run_op("Gemm", {a, b}, {{"transA", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("Gemm", {a, b.cast(DataType::kFloat64)}), Error);
}

}  // namespace
}  // namespace kiln
