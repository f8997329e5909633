// Reduce*, ArgMax/ArgMin, CumSum and TopK against plain loops written here and hand-computed
// values.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

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

void expect_ints(const Tensor& t, const std::vector<int64_t>& expected) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(t.as_int64(int64_t(i)), expected[i]) << "element " << i;
  }
}

// x[a][b][c] of shape [2, 3, 4], all positive so that logs are defined.
std::vector<float> sample_234() {
  std::vector<float> v(24);
  for (size_t i = 0; i < 24; ++i) v[i] = 0.25f * float((i * 7) % 10) + 0.5f;
  return v;
}

// Reduces x ([2, 3, 4]) over axes 0 and 2 with `combine` in double: result has shape [3].
std::vector<double> reduce_02(const std::vector<float>& x,
                              const std::function<double(const std::vector<double>&)>& combine) {
  std::vector<double> out;
  for (size_t b = 0; b < 3; ++b) {
    std::vector<double> members;
    for (size_t a = 0; a < 2; ++a) {
      for (size_t c = 0; c < 4; ++c) members.push_back(x[(a * 3 + b) * 4 + c]);
    }
    out.push_back(combine(members));
  }
  return out;
}

double sum_of(const std::vector<double>& v, const std::function<double(double)>& f) {
  double s = 0;
  for (double x : v) s += f(x);
  return s;
}

TEST(Reduce, EveryKindOverTwoAxesMatchesFloat64Loop) {
  const std::vector<float> x = sample_234();
  const Tensor input = f32({2, 3, 4}, x);
  const Tensor axes = i64({2}, {0, -1});
  auto id = [](double v) { return v; };
  struct Case {
    const char* op;
    std::function<double(const std::vector<double>&)> combine;
  };
  const std::vector<Case> cases = {
      {"ReduceSum", [&](const auto& v) { return sum_of(v, id); }},
      {"ReduceMean", [&](const auto& v) { return sum_of(v, id) / double(v.size()); }},
      {"ReduceMax", [](const auto& v) { return *std::max_element(v.begin(), v.end()); }},
      {"ReduceMin", [](const auto& v) { return *std::min_element(v.begin(), v.end()); }},
      {"ReduceProd",
       [](const auto& v) {
         double p = 1;
         for (double d : v) p *= d;
         return p;
       }},
      {"ReduceL1", [](const auto& v) { return sum_of(v, [](double d) { return std::fabs(d); }); }},
      {"ReduceL2",
       [](const auto& v) { return std::sqrt(sum_of(v, [](double d) { return d * d; })); }},
      {"ReduceLogSum", [&](const auto& v) { return std::log(sum_of(v, id)); }},
      {"ReduceLogSumExp",
       [](const auto& v) { return std::log(sum_of(v, [](double d) { return std::exp(d); })); }},
      {"ReduceSumSquare", [](const auto& v) { return sum_of(v, [](double d) { return d * d; }); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    const std::vector<double> expected = reduce_02(x, c.combine);
    auto kept = run_op(c.op, {input, axes});
    ASSERT_EQ(kept[0].shape(), (Dims{1, 3, 1}));
    expect_near_all(kept[0], expected, 1e-5 * std::fabs(expected[0]));
    auto dropped = run_op(c.op, {input, axes}, {{"keepdims", int64_t(0)}});
    ASSERT_EQ(dropped[0].shape(), (Dims{3}));
    expect_near_all(dropped[0], expected, 1e-5 * std::fabs(expected[0]));
  }
}

TEST(Reduce, EmptyAxesReduceAllOrNothing) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  auto all = run_op("ReduceSum", {x});
  ASSERT_EQ(all[0].shape(), (Dims{1, 1}));
  EXPECT_EQ(all[0].data<float>()[0], 10.0f);
  auto all_empty = run_op("ReduceSum", {x, i64({0}, {})}, {{"keepdims", int64_t(0)}});
  ASSERT_EQ(all_empty[0].shape(), Dims{});
  EXPECT_EQ(all_empty[0].data<float>()[0], 10.0f);
  auto noop = run_op("ReduceMax", {x, i64({0}, {})}, {{"noop_with_empty_axes", int64_t(1)}});
  ASSERT_EQ(noop[0].shape(), (Dims{2, 2}));
  expect_near_all(noop[0], {1, 2, 3, 4}, 0);
}

TEST(Reduce, EmptyReductionGivesIdentityValues) {
  const Tensor x = f32({2, 0}, {});
  const Tensor axes = i64({1}, {1});
  expect_near_all(run_op("ReduceSum", {x, axes})[0], {0, 0}, 0);
  expect_near_all(run_op("ReduceProd", {x, axes})[0], {1, 1}, 0);
  auto max = run_op("ReduceMax", {x, axes});
  EXPECT_EQ(max[0].data<float>()[0], -INFINITY);
  auto min_int = run_op("ReduceMin", {i64({2, 0}, {}), axes});
  EXPECT_EQ(min_int[0].data<int64_t>()[1], std::numeric_limits<int64_t>::max());
}

TEST(Reduce, Float32SumsAccumulateInDouble) {
  // A million copies of 0.1f: the exact sum is 100000.0015 (0.1f is 0.100000001490116...),
  // while accumulating in float32 drifts by hundreds.
  const Tensor x = f32({1000000}, std::vector<float>(1000000, 0.1f));
  auto out = run_op("ReduceSum", {x});
  EXPECT_NEAR(out[0].data<float>()[0], 100000.0, 0.01);
  auto mean = run_op("ReduceMean", {x});
  EXPECT_NEAR(mean[0].data<float>()[0], 0.1, 1e-8);
}

TEST(Reduce, MaxPropagatesNaNAndLogSumExpIsStable) {
  auto max = run_op("ReduceMax", {f32({3}, {1, NAN, 2})});
  EXPECT_TRUE(std::isnan(max[0].data<float>()[0]));
  auto lse = run_op("ReduceLogSumExp", {f32({2}, {1000, 1000})});
  EXPECT_NEAR(lse[0].data<float>()[0], 1000 + std::log(2.0), 1e-3);
}

TEST(Reduce, IntegerAndBoolTypes) {
  // Integer mean truncates toward zero: [-3, -4] -> -3 (numpy's mean(...).astype(int32)).
  const Tensor ints = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 2}, {-3, -4, 7, 1000});
  auto mean = run_op("ReduceMean", {ints, i64({1}, {1})}, {{"keepdims", int64_t(0)}});
  ASSERT_EQ(mean[0].dtype(), DataType::kInt32);
  expect_ints(mean[0], {-3, 503});
  expect_ints(run_op("ReduceSumSquare", {ints, i64({1}, {0})})[0], {58, 1000016});
  expect_ints(run_op("ReduceL1", {ints})[0], {1014});
  expect_ints(run_op("ReduceProd", {ints, i64({1}, {1})})[0], {12, 7000});
  // large int64 values stay exact
  const int64_t big = (int64_t(1) << 60) + 1;
  expect_ints(run_op("ReduceMax", {i64({3}, {big, -big, big - 2})})[0], {big});
  const Tensor flags = Tensor::from_vector<uint8_t>(DataType::kBool, {2, 2}, {0, 1, 0, 0});
  auto any = run_op("ReduceMax", {flags, i64({1}, {1})}, {{"keepdims", int64_t(0)}});
  ASSERT_EQ(any[0].dtype(), DataType::kBool);
  expect_ints(any[0], {1, 0});
  EXPECT_THROW(run_op("ReduceSum", {flags}), Error);  // bool only for max/min
}

TEST(Reduce, RejectsBadAxes) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(run_op("ReduceSum", {x, i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("ReduceSum", {x, i64({2}, {1, -1})}), Error);
  EXPECT_THROW(run_op("ReduceSum", {x, f32({1}, {1})}), Error);
}

// ---------------------------------------------------------------------------------------------

TEST(ArgMax, AxisKeepdimsAndTies) {
  // [[1, 5, 5], [7, 2, 7]]
  const Tensor x = f32({2, 3}, {1, 5, 5, 7, 2, 7});
  auto first = run_op("ArgMax", {x}, {{"axis", int64_t(1)}});
  ASSERT_EQ(first[0].shape(), (Dims{2, 1}));
  ASSERT_EQ(first[0].dtype(), DataType::kInt64);
  expect_ints(first[0], {1, 0});
  auto last = run_op("ArgMax", {x}, {{"axis", int64_t(-1)}, {"select_last_index", int64_t(1)}});
  expect_ints(last[0], {2, 2});
  auto cols = run_op("ArgMax", {x}, {{"keepdims", int64_t(0)}});  // axis 0 by default
  ASSERT_EQ(cols[0].shape(), (Dims{3}));
  expect_ints(cols[0], {1, 0, 1});
}

TEST(ArgMin, IntegersAndErrors) {
  const Tensor x = i64({2, 3}, {4, -1, -1, 0, 9, -8});
  expect_ints(run_op("ArgMin", {x}, {{"axis", int64_t(1)}})[0], {1, 2});
  expect_ints(run_op("ArgMin", {x}, {{"axis", int64_t(1)}, {"select_last_index", int64_t(1)}})[0],
              {2, 2});
  EXPECT_THROW(run_op("ArgMin", {x}, {{"axis", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("ArgMax", {f32({2, 0}, {})}, {{"axis", int64_t(1)}}), Error);
}

// ---------------------------------------------------------------------------------------------

TEST(CumSum, ExclusiveAndReverseVariants) {
  const Tensor x = f32({5}, {1, 2, 3, 4, 5});
  const Tensor axis = i64({}, {0});
  expect_near_all(run_op("CumSum", {x, axis})[0], {1, 3, 6, 10, 15}, 0);
  expect_near_all(run_op("CumSum", {x, axis}, {{"exclusive", int64_t(1)}})[0], {0, 1, 3, 6, 10}, 0);
  expect_near_all(run_op("CumSum", {x, axis}, {{"reverse", int64_t(1)}})[0], {15, 14, 12, 9, 5}, 0);
  expect_near_all(
      run_op("CumSum", {x, axis}, {{"reverse", int64_t(1)}, {"exclusive", int64_t(1)}})[0],
      {14, 12, 9, 5, 0}, 0);
}

TEST(CumSum, AlongAnInnerAxisWithInt32AxisAndIntegers) {
  // [[1, 2, 3], [4, 5, 6]] along axis 0 (given as int32 -2) and along axis 1.
  const Tensor x = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor axis0 = Tensor::from_vector<int32_t>(DataType::kInt32, {1}, {-2});
  auto down = run_op("CumSum", {x, axis0});
  ASSERT_EQ(down[0].dtype(), DataType::kInt32);
  expect_ints(down[0], {1, 2, 3, 5, 7, 9});
  expect_ints(run_op("CumSum", {x, i64({}, {1})})[0], {1, 3, 6, 4, 9, 15});
  EXPECT_THROW(run_op("CumSum", {x, i64({}, {2})}), Error);
  EXPECT_THROW(run_op("CumSum", {x, i64({2}, {0, 1})}), Error);
}

// ---------------------------------------------------------------------------------------------

TEST(TopK, LargestAndSmallestWithTies) {
  // Ties keep the lower index first.
  const Tensor x = f32({2, 4}, {3, 1, 3, 2, -1, 5, 0, 5});
  auto top = run_op("TopK", {x, i64({1}, {3})}, {}, 2);
  ASSERT_EQ(top[0].shape(), (Dims{2, 3}));
  expect_near_all(top[0], {3, 3, 2, 5, 5, 0}, 0);
  expect_ints(top[1], {0, 2, 3, 1, 3, 2});
  auto bottom = run_op("TopK", {x, i64({1}, {2})}, {{"largest", int64_t(0)}}, 2);
  expect_near_all(bottom[0], {1, 2, -1, 0}, 0);
  expect_ints(bottom[1], {1, 3, 0, 2});
}

TEST(TopK, AxisZeroIntegersAndBounds) {
  // Columns of [[1, 9], [7, 2], [4, 4]]
  const Tensor x = i64({3, 2}, {1, 9, 7, 2, 4, 4});
  auto top = run_op("TopK", {x, i64({1}, {2})}, {{"axis", int64_t(0)}}, 2);
  ASSERT_EQ(top[0].shape(), (Dims{2, 2}));
  expect_ints(top[0], {7, 9, 4, 4});
  expect_ints(top[1], {1, 0, 2, 2});
  auto none = run_op("TopK", {x, i64({1}, {0})}, {}, 2);
  ASSERT_EQ(none[0].shape(), (Dims{3, 0}));
  EXPECT_THROW(run_op("TopK", {x, i64({1}, {3})}, {}, 2), Error);
  EXPECT_THROW(run_op("TopK", {x, i64({1}, {-1})}, {}, 2), Error);
}

}  // namespace
}  // namespace kiln
