// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss against the worked examples of the ONNX
// spec and values from onnx.reference.ReferenceEvaluator (onnx 1.23), pasted in.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

// The spec's examples: N, C, d1 = 2, 3, 2.
Tensor spec_input() {
  return f32({2, 3, 2}, {1.0f, 2.0f, 2.0f, 2.0f, 3.0f, 2.0f, 0.0f, 1.0f, 2.0f, 2.0f, 1.0f, 2.0f});
}
Tensor spec_target() { return i64({2, 2}, {2, 1, 0, 2}); }
Tensor spec_weight() { return f32({3}, {0.2f, 0.3f, 0.1f}); }

TEST(NegativeLogLikelihoodLoss, SpecExamples) {
  // Example 1: reduction none gives -input[n][target][d1].
  auto none = run_op("NegativeLogLikelihoodLoss", {spec_input(), spec_target()},
                     {{"reduction", std::string("none")}});
  ASSERT_EQ(none[0].shape(), (Dims{2, 2}));
  expect_near_all(none[0], {-3, -2, -0, -2}, 0);
  // Example 2: weighted sum, -1.1.
  auto sum = run_op("NegativeLogLikelihoodLoss", {spec_input(), spec_target(), spec_weight()},
                    {{"reduction", std::string("sum")}});
  ASSERT_EQ(sum[0].shape(), Dims{});
  expect_near_all(sum[0], {-1.1}, 1e-6);
  // Example 3: weighted mean (the default), -1.1 / (0.1 + 0.3 + 0.2 + 0.1) = -1.5714286.
  auto mean = run_op("NegativeLogLikelihoodLoss", {spec_input(), spec_target(), spec_weight()});
  expect_near_all(mean[0], {-1.1 / 0.7}, 1e-6);
}

TEST(NegativeLogLikelihoodLoss, IgnoreIndexLeavesSamplesOutOfTheMean) {
  // The mean divides by the number (or the total weight) of the samples not ignored.
  Tensor target = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 2}, {2, 1, 0, 2});
  auto mean =
      run_op("NegativeLogLikelihoodLoss", {spec_input(), target}, {{"ignore_index", int64_t(2)}});
  // Class 2 ignored: samples (0, 1) and (1, 0) remain, with losses -2 and -0.
  expect_near_all(mean[0], {-2.0 / 2.0}, 1e-6);
  auto weighted = run_op("NegativeLogLikelihoodLoss", {spec_input(), target, spec_weight()},
                         {{"ignore_index", int64_t(0)}});
  // Sample (1, 0) (class 0) is ignored: (-3 * 0.1 - 2 * 0.3 - 2 * 0.1) / (0.1 + 0.3 + 0.1).
  expect_near_all(weighted[0], {-1.1 / 0.5}, 1e-6);
  // An ignore_index outside [0, C) is fine; any other out-of-range target is an error.
  auto ignored = run_op("NegativeLogLikelihoodLoss", {spec_input(), i64({2, 2}, {-1, 1, 0, 2})},
                        {{"ignore_index", int64_t(-1)}, {"reduction", std::string("none")}});
  expect_near_all(ignored[0], {0, -2, -0, -2}, 0);
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {spec_input(), i64({2, 2}, {3, 1, 0, 2})}),
               Error);
}

TEST(NegativeLogLikelihoodLoss, Float64AndNoSpatialDims) {
  // [N, C] input: loss[n] = -input[n][target[n]].
  Tensor input = Tensor::from_vector<double>(DataType::kFloat64, {3, 2},
                                             {-0.1, -2.5, -1.25, -0.5, -3.0, -0.75});
  auto out = run_op("NegativeLogLikelihoodLoss", {input, i64({3}, {1, 0, 1})},
                    {{"reduction", std::string("sum")}});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat64);
  expect_near_all(out[0], {2.5 + 1.25 + 0.75}, 1e-15);
}

TEST(NegativeLogLikelihoodLoss, RejectsBadShapesTypesAndReduction) {
  // Target shape must be the input's without dim 1.
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {spec_input(), i64({2, 3}, {0, 0, 0, 0, 0, 0})}),
               Error);
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {spec_input(), f32({2, 2}, {0, 0, 0, 0})}),
               Error);
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {spec_input(), spec_target(), f32({2}, {1, 1})}),
               Error);
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {f32({3}, {1, 2, 3}), i64({}, {0})}), Error);
  EXPECT_THROW(run_op("NegativeLogLikelihoodLoss", {spec_input(), spec_target()},
                      {{"reduction", std::string("max")}}),
               Error);
}

TEST(SoftmaxCrossEntropyLoss, MeanAndLogProb) {
  // onnx.reference: scores [[1,2,3],[0,0,4]], labels [2,0] -> 2.2217913 and log_prob below.
  auto out =
      run_op("SoftmaxCrossEntropyLoss", {f32({2, 3}, {1, 2, 3, 0, 0, 4}), i64({2}, {2, 0})}, {}, 2);
  ASSERT_EQ(out[0].shape(), Dims{});
  expect_near_all(out[0], {2.2217913}, 1e-6);
  ASSERT_EQ(out[1].shape(), (Dims{2, 3}));
  expect_near_all(out[1], {-2.407606, -1.407606, -0.40760598, -4.0359764, -4.0359764, -0.03597625},
                  1e-6);
}

TEST(SoftmaxCrossEntropyLoss, WeightsAndIgnoreIndexOverSpatialDims) {
  // onnx.reference, scores [2, 3, 2], labels [[0, 2], [1, -100]], weights [0.5, 2, 1].
  const Tensor scores = f32({2, 3, 2}, {1, -1, 2, 0.5f, 0, 3, 0.5f, 2, -1, 1, 1, 0});
  const Tensor labels = i64({2, 2}, {0, 2, 1, -100});
  const Tensor weights = f32({3}, {0.5f, 2, 1});
  auto none = run_op("SoftmaxCrossEntropyLoss", {scores, labels, weights},
                     {{"ignore_index", int64_t(-100)}, {"reduction", std::string("none")}});
  expect_near_all(none[0], {0.703803, 0.095674366, 5.109914, 0}, 1e-6);
  auto mean = run_op("SoftmaxCrossEntropyLoss", {scores, labels, weights},
                     {{"ignore_index", int64_t(-100)}});
  expect_near_all(mean[0], {1.6883975}, 1e-6);
}

TEST(SoftmaxCrossEntropyLoss, Float16StorageAndLargeScores) {
  // Scores 1000 apart from 0 must not overflow: log_softmax([1000, 0]) = [0, -1000].
  std::vector<uint16_t> bits;
  for (float v : {1000.0f, 0.0f}) bits.push_back(float_to_fp16(v));
  auto out =
      run_op("SoftmaxCrossEntropyLoss",
             {Tensor::from_vector<uint16_t>(DataType::kFloat16, {1, 2}, bits), i64({1}, {1})},
             {{"reduction", std::string("sum")}});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  expect_near_all(out[0], {1000}, 0);
}

}  // namespace
}  // namespace kiln
