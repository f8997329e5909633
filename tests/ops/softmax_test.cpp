// Softmax, LogSoftmax and Hardmax against plain float64 loops written here.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

// Softmax of x (shape [outer, n, inner]) along the middle dimension, in double.
std::vector<double> reference_softmax(const std::vector<float>& x, int64_t outer, int64_t n,
                                      int64_t inner, bool log) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t i) { return size_t((o * n + i) * inner + j); };
      double m = -INFINITY;
      for (int64_t i = 0; i < n; ++i) m = std::max(m, double(x[at(i)]));
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[at(i)]) - m);
      for (int64_t i = 0; i < n; ++i) {
        const double shifted = double(x[at(i)]) - m;
        y[at(i)] = log ? shifted - std::log(sum) : std::exp(shifted) / sum;
      }
    }
  }
  return y;
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float((i * 7) % 11) - 2.0f;
  return v;
}

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

TEST(Softmax, LastAxisMatchesFloat64Loop) {
  const std::vector<float> x = ramp(12, 0.7f);
  auto out = run_op("Softmax", {f32({3, 4}, x)});
  ASSERT_EQ(out[0].shape(), (Dims{3, 4}));
  expect_near_all(out[0], reference_softmax(x, 3, 4, 1, false), 1e-6);
}

TEST(Softmax, MiddleAxisMatchesFloat64Loop) {
  const std::vector<float> x = ramp(24, 0.9f);
  auto out = run_op("Softmax", {f32({2, 3, 4}, x)}, {{"axis", int64_t(1)}});
  expect_near_all(out[0], reference_softmax(x, 2, 3, 4, false), 1e-6);
  // Each line along axis 1 sums to 1.
  for (int64_t o = 0; o < 2; ++o) {
    for (int64_t j = 0; j < 4; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < 3; ++i) sum += out[0].as_double((o * 3 + i) * 4 + j);
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
  }
}

TEST(Softmax, LargeInputsDoNotOverflow) {
  // softmax([0, 1, 2]) = e^i / (1 + e + e^2): 0.0900306, 0.2447285, 0.6652410
  auto out = run_op("Softmax", {f32({1, 3}, {1000, 1001, 1002})});
  expect_near_all(out[0], {0.09003057317, 0.24472847105, 0.66524095577}, 1e-6);
  auto log_out = run_op("LogSoftmax", {f32({1, 3}, {-1000, -999, -998})});
  expect_near_all(log_out[0],
                  {std::log(0.09003057317), std::log(0.24472847105), std::log(0.66524095577)},
                  1e-5);
}

TEST(Softmax, NegativeAxisZeroAxisAndFloat64) {
  const std::vector<float> x = ramp(24, 1.3f);
  auto out = run_op("Softmax", {f32({2, 3, 4}, x)}, {{"axis", int64_t(-3)}});
  expect_near_all(out[0], reference_softmax(x, 1, 2, 12, false), 1e-6);

  std::vector<double> xd(x.begin(), x.end());
  auto out64 = run_op("Softmax", {Tensor::from_vector<double>(DataType::kFloat64, {2, 12}, xd)});
  ASSERT_EQ(out64[0].dtype(), DataType::kFloat64);
  expect_near_all(out64[0], reference_softmax(x, 2, 12, 1, false), 1e-14);
}

TEST(Softmax, Float16StorageComputesInFloat32) {
  const std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.25f};
  std::vector<uint16_t> bits;
  for (float v : x) bits.push_back(float_to_fp16(v));  // all exactly representable
  auto out = run_op("Softmax", {Tensor::from_vector<uint16_t>(DataType::kFloat16, {1, 4}, bits)});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  // float16 has 11 significant bits: relative error about 5e-4.
  const std::vector<double> expected = reference_softmax(x, 1, 4, 1, false);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(out[0].as_double(int64_t(i)), expected[i], 1e-3);
}

TEST(LogSoftmax, MatchesFloat64LoopOnBothLayouts) {
  const std::vector<float> x = ramp(30, 0.8f);
  auto last = run_op("LogSoftmax", {f32({5, 6}, x)});
  expect_near_all(last[0], reference_softmax(x, 5, 6, 1, true), 1e-5);
  auto first = run_op("LogSoftmax", {f32({5, 6}, x)}, {{"axis", int64_t(0)}});
  expect_near_all(first[0], reference_softmax(x, 1, 5, 6, true), 1e-5);
}

TEST(Hardmax, MarksTheFirstMaximum) {
  // Row 0 has its maximum (3) twice: only the first is marked.
  auto out = run_op("Hardmax", {f32({2, 4}, {1, 3, 3, 0, -5, -1, -2, -7})});
  expect_near_all(out[0], {0, 1, 0, 0, 0, 1, 0, 0}, 0);
  auto cols = run_op("Hardmax", {f32({2, 3}, {1, 5, 2, 4, 0, 2})}, {{"axis", int64_t(0)}});
  expect_near_all(cols[0], {0, 1, 1, 1, 0, 0}, 0);
}

TEST(Softmax, RejectsBadAxisAndIntegerInput) {
  EXPECT_THROW(run_op("Softmax", {f32({2, 2}, {1, 2, 3, 4})}, {{"axis", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("Hardmax", {f32({2, 2}, {1, 2, 3, 4})}, {{"axis", int64_t(-3)}}), Error);
  EXPECT_THROW(run_op("Softmax", {testing::i64({2}, {1, 2})}), Error);
  EXPECT_THROW(run_op("LogSoftmax", {f32({}, {1})}), Error);
}

}  // namespace
}  // namespace kiln
