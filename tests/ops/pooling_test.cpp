#include <gtest/gtest.h>

#include <cmath>

#include "ops/nn_test_util.h"

namespace kiln {
namespace {

using testing::expect_values;
using testing::f32;
using testing::run_op;
using testing::x_pattern;

Tensor arange(Dims shape) {
  std::vector<float> v(size_t(volume(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  return f32(std::move(shape), v);
}

TEST(MaxPool, HandComputed2x2Stride2WithIndices) {
  auto out = run_op("MaxPool", {arange({1, 1, 4, 4})},
                    {{"kernel_shape", Dims{2, 2}}, {"strides", Dims{2, 2}}}, 2);
  ASSERT_EQ(out[0].shape(), (Dims{1, 1, 2, 2}));
  expect_values(out[0], {5, 7, 13, 15});
  ASSERT_EQ(out[1].dtype(), DataType::kInt64);
  expect_values(out[1], {5, 7, 13, 15});
}

TEST(MaxPool, PaddingIsIgnoredNotZero) {
  // All inputs negative: a zero from padding must never win.
  auto out = run_op("MaxPool", {f32({1, 1, 3}, {-3, -1, -2})},
                    {{"kernel_shape", Dims{2}}, {"pads", Dims{1, 1}}});
  expect_values(out[0], {-3, -1, -1, -2});
}

TEST(MaxPool, ColumnMajorIndicesWithStorageOrder) {
  // 2 channels of a 4x4 plane; channel 1 offset is 16. Column-major index of (h, w) is w*4 + h.
  auto out = run_op(
      "MaxPool", {arange({1, 2, 4, 4})},
      {{"kernel_shape", Dims{2, 2}}, {"strides", Dims{2, 2}}, {"storage_order", int64_t(1)}}, 2);
  expect_values(out[0], {5, 7, 13, 15, 21, 23, 29, 31});
  // (1,1) -> 5, (1,3) -> 13, (3,1) -> 7, (3,3) -> 15, plus 16 for the second channel.
  expect_values(out[1], {5, 13, 7, 15, 21, 29, 23, 31});
}

// Expected values from onnxruntime (onnx.reference agrees unless noted) on x_pattern inputs.
TEST(MaxPool, MatchesOnnxruntimeCeilModeWithPads) {
  auto out = run_op("MaxPool", {x_pattern({1, 2, 5, 5})},
                    {{"kernel_shape", Dims{3, 3}},
                     {"strides", Dims{2, 2}},
                     {"pads", Dims{1, 1, 1, 1}},
                     {"ceil_mode", int64_t(1)}},
                    2);
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 3, 3}));
  expect_values(out[0], {1.0, 1.25, 1.25, 1.0, 1.0, 1.25, 0.75, 1.0, 0.5, 1.25, 1.0, 1.0, 1.25,
                         1.25, 1.0, 0.5, 1.25, 0.25});
  expect_values(out[1], {6, 3, 3, 6, 6, 14, 20, 17, 23, 25, 28, 28, 36, 36, 39, 45, 47, 48});
}

TEST(MaxPool, CeilModeDropsAWindowStartingInThePadding) {
  // in 4, kernel 2, stride 2, pads 0/1: ceil(3 / 2) + 1 = 3 windows, but the third would start
  // at position 4, in the end padding, so it is dropped (onnxruntime agrees: [2, 4]).
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  ir::Attributes attrs{{"kernel_shape", Dims{2}}, {"strides", Dims{2}}, {"ceil_mode", int64_t(1)}};
  attrs["pads"] = Dims{0, 1};
  expect_values(run_op("MaxPool", {x}, attrs)[0], {2, 4});
  // pads 1/1: windows start at -1, 1, 3; the last one starts inside the input and stays.
  attrs["pads"] = Dims{1, 1};
  expect_values(run_op("MaxPool", {x}, attrs)[0], {1, 3, 4});
  // in 5, kernel 2, stride 2, no pads: floor gives 2 windows, ceil 3 (the last half outside).
  const Tensor five = f32({1, 1, 5}, {1, 2, 3, 4, 5});
  attrs.erase("pads");
  expect_values(run_op("MaxPool", {five}, attrs)[0], {2, 4, 5});
  attrs["ceil_mode"] = int64_t(0);
  expect_values(run_op("MaxPool", {five}, attrs)[0], {2, 4});
}

TEST(MaxPool, MatchesOnnxruntimeDilated) {
  auto out = run_op(
      "MaxPool", {x_pattern({1, 2, 5, 5})},
      {{"kernel_shape", Dims{2, 2}}, {"dilations", Dims{2, 2}}, {"pads", Dims{0, 1, 1, 0}}}, 2);
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 4, 4}));
  expect_values(out[0], {0.5,  0.5,   1.25, 1.25, 1.0,  1.0,  1.0,  1.0,  -0.25, 0.75, 0.5,
                         1.25, -0.75, 1.0,  0.0,  1.0,  1.25, 1.25, 1.25, 1.0,   0.75, 0.75,
                         0.75, 0.75,  1.25, 1.25, 1.25, 1.25, -1.0, 0.75, -0.25, 0.75});
  expect_values(out[1], {1,  12, 3,  14, 6,  17, 6,  17, 21, 20, 23, 14, 16, 17, 18, 17,
                         36, 25, 36, 39, 31, 42, 31, 42, 36, 47, 36, 47, 41, 42, 43, 42});
}

TEST(MaxPool, MatchesOnnxruntimeSameUpperAndSameLower) {
  const Tensor x = x_pattern({1, 2, 5, 5});
  ir::Attributes attrs{{"kernel_shape", Dims{2, 3}}, {"strides", Dims{2, 2}}};
  attrs["auto_pad"] = std::string("SAME_UPPER");
  auto upper = run_op("MaxPool", {x}, attrs, 2);
  ASSERT_EQ(upper[0].shape(), (Dims{1, 2, 3, 3}));
  expect_values(upper[0], {1.0, 1.25, 1.25, 0.25, 1.0, 1.25, 0.75, 0.5, 0.5, 1.25, 1.0, 1.0, 1.25,
                           1.25, 1.0, 0.5, 1.25, 0.25});
  expect_values(upper[1], {6, 3, 3, 15, 17, 14, 20, 23, 23, 25, 28, 28, 36, 36, 39, 45, 47, 48});
  // onnx.reference computes a 2x2 output here (floor(5 / 2)); onnxruntime and the spec's
  // ceil(in / stride) give 3x3.
  attrs["auto_pad"] = std::string("SAME_LOWER");
  auto lower = run_op("MaxPool", {x}, attrs, 2);
  ASSERT_EQ(lower[0].shape(), (Dims{1, 2, 3, 3}));
  expect_values(lower[0], {0.5, 1.25, 1.25, 1.0, 1.0, 1.25, 0.75, 1.0, 0.5, 1.25, 1.0, 1.0, 1.25,
                           1.25, 1.0, 0.5, 1.25, 0.25});
  expect_values(lower[1], {1, 3, 3, 6, 6, 14, 20, 17, 23, 25, 28, 28, 36, 36, 39, 45, 47, 48});
}

TEST(MaxPool, MatchesOnnxruntime3D) {
  auto out = run_op("MaxPool", {x_pattern({1, 1, 3, 3, 4})},
                    {{"kernel_shape", Dims{2, 2, 2}}, {"strides", Dims{1, 2, 2}}}, 2);
  ASSERT_EQ(out[0].shape(), (Dims{1, 1, 2, 1, 2}));
  expect_values(out[0], {1.0, 1.25, 1.25, 1.25});
  expect_values(out[1], {17, 3, 25, 14});
}

TEST(MaxPool, Int8AndHalfPrecision) {
  const Tensor x = Tensor::from_vector<int8_t>(DataType::kInt8, {1, 1, 4}, {-100, 7, -128, 5});
  auto out = run_op("MaxPool", {x}, {{"kernel_shape", Dims{2}}});
  ASSERT_EQ(out[0].dtype(), DataType::kInt8);
  EXPECT_EQ(out[0].data<int8_t>()[0], 7);
  EXPECT_EQ(out[0].data<int8_t>()[1], 7);
  EXPECT_EQ(out[0].data<int8_t>()[2], 5);
  auto half = run_op("MaxPool", {f32({1, 1, 3}, {0.5f, -1.5f, 2.25f}).cast(DataType::kFloat16)},
                     {{"kernel_shape", Dims{2}}});
  ASSERT_EQ(half[0].dtype(), DataType::kFloat16);
  expect_values(half[0], {0.5, 2.25});
}

TEST(AveragePool, CountIncludePadHandComputed) {
  // 1-D [1, 2, 3], kernel 2, pads 1/1: windows {pad,1}, {1,2}, {2,3}, {3,pad}.
  const Tensor x = f32({1, 1, 3}, {1, 2, 3});
  ir::Attributes attrs{{"kernel_shape", Dims{2}}, {"pads", Dims{1, 1}}};
  expect_values(run_op("AveragePool", {x}, attrs)[0], {1, 1.5, 2.5, 3});
  attrs["count_include_pad"] = int64_t(1);
  expect_values(run_op("AveragePool", {x}, attrs)[0], {0.5, 1.5, 2.5, 1.5});
}

TEST(AveragePool, MatchesOnnxruntimeCeilModeWithAndWithoutPadCounting) {
  const Tensor x = x_pattern({1, 2, 5, 5});
  ir::Attributes attrs{{"kernel_shape", Dims{3, 3}},
                       {"strides", Dims{2, 2}},
                       {"pads", Dims{1, 1, 1, 1}},
                       {"ceil_mode", int64_t(1)}};
  attrs["count_include_pad"] = int64_t(1);
  expect_values(run_op("AveragePool", {x}, attrs)[0],
                {-0.055556, 0.138889, 0.138889, -0.194444, -0.111111, -0.055556, 0.0, -0.083333,
                 -0.111111, 0.138889, -0.027778, 0.027778, -0.055556, -0.055556, -0.222222,
                 -0.111111, 0.055556, -0.222222},
                1e-6);
  attrs["count_include_pad"] = int64_t(0);
  expect_values(run_op("AveragePool", {x}, attrs)[0],
                {-0.125, 0.208333, 0.3125, -0.291667, -0.111111, -0.083333, 0.0, -0.125, -0.25,
                 0.3125, -0.041667, 0.0625, -0.083333, -0.055556, -0.333333, -0.25, 0.083333, -0.5},
                1e-6);
}

TEST(AveragePool, MatchesOnnxruntimeSameUpperCountingPads) {
  auto out = run_op("AveragePool", {x_pattern({1, 2, 5, 5})},
                    {{"kernel_shape", Dims{2, 2}},
                     {"auto_pad", std::string("SAME_UPPER")},
                     {"count_include_pad", int64_t(1)}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 5, 5}));
  expect_values(
      out[0],
      {-0.125, 0.25,   -0.0625, 0.3125,  0.25,   -0.3125, 0.0625,  -0.25,   0.125,   0.5,
       -0.5,   -0.125, 0.25,    -0.0625, 0.0625, 0.0,     -0.3125, 0.0625,  -0.25,   -0.375,
       0.125,  -0.375, -0.1875, 0.0,     -0.125, 0.3125,  0.0,     -0.3125, 0.0625,  0.125,
       0.125,  0.5,    -0.5,    -0.125,  0.375,  -0.0625, 0.3125,  0.0,     -0.3125, -0.0625,
       -0.25,  0.125,  0.5,     -0.5,    -0.5,   0.0,     0.1875,  0.375,   -0.125,  -0.1875});
}

TEST(AveragePool, MatchesOnnxruntimeDilatedCountingPads) {
  auto out = run_op("AveragePool", {x_pattern({1, 1, 6})},
                    {{"kernel_shape", Dims{2}},
                     {"dilations", Dims{2}},
                     {"pads", Dims{1, 1}},
                     {"count_include_pad", int64_t(1)}});
  expect_values(out[0], {0.25, -0.875, 0.875, -0.125, 0.25, 0.125});
}

TEST(LpPool, HandComputedP1AndP2) {
  const Tensor x = f32({1, 1, 4}, {3, -4, 1, 0});
  expect_values(run_op("LpPool", {x}, {{"kernel_shape", Dims{2}}, {"strides", Dims{2}}})[0],
                {5, 1});
  expect_values(run_op("LpPool", {x},
                       {{"kernel_shape", Dims{2}}, {"strides", Dims{2}}, {"p", int64_t(1)}})[0],
                {7, 1});
}

TEST(LpPool, MatchesOnnxruntimeP3WithPads) {
  auto out = run_op("LpPool", {x_pattern({1, 2, 5, 5})},
                    {{"kernel_shape", Dims{2, 2}},
                     {"strides", Dims{2, 2}},
                     {"pads", Dims{0, 0, 1, 1}},
                     {"p", int64_t(3)}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 3, 3}));
  expect_values(
      out[0],
      {1.518294, 1.454662, 0.759147, 1.340027, 1.077217, 1.434698, 0.759147, 1.276117, 0.5,
       1.502311, 1.502311, 0.5, 1.454662, 0.956466, 1.434698, 0.629961, 1.253325, 0.75},
      1e-6);
}

TEST(GlobalPools, ReduceEachPlane) {
  // Two planes: [1 2; 3 4] and [-1 -5; 2 0].
  const Tensor x = f32({1, 2, 2, 2}, {1, 2, 3, 4, -1, -5, 2, 0});
  auto avg = run_op("GlobalAveragePool", {x});
  ASSERT_EQ(avg[0].shape(), (Dims{1, 2, 1, 1}));
  expect_values(avg[0], {2.5, -1});
  expect_values(run_op("GlobalMaxPool", {x})[0], {4, 2});
  expect_values(run_op("GlobalLpPool", {x})[0], {std::sqrt(30.0), std::sqrt(30.0)});
  expect_values(run_op("GlobalLpPool", {x}, {{"p", int64_t(1)}})[0], {10, 8});
  // 1-D and 3-D spatial
  expect_values(run_op("GlobalAveragePool", {f32({1, 1, 3}, {1, 2, 6})})[0], {3});
  auto three_d = run_op("GlobalMaxPool", {f32({1, 1, 1, 2, 2}, {1, 9, 3, 4})});
  ASSERT_EQ(three_d[0].shape(), (Dims{1, 1, 1, 1, 1}));
  expect_values(three_d[0], {9});
}

TEST(Pooling, RejectsBadInputs) {
  const Tensor x = x_pattern({1, 1, 4, 4});
  EXPECT_THROW(run_op("MaxPool", {x}), Error);  // kernel_shape is required
  EXPECT_THROW(run_op("MaxPool", {x}, {{"kernel_shape", Dims{2}}}), Error);
  EXPECT_THROW(run_op("MaxPool", {x}, {{"kernel_shape", Dims{2, 2}}, {"strides", Dims{0, 1}}}),
               Error);
  EXPECT_THROW(run_op("MaxPool", {x}, {{"kernel_shape", Dims{2, 2}}, {"pads", Dims{1, 1}}}), Error);
  EXPECT_THROW(
      run_op("MaxPool", {x}, {{"kernel_shape", Dims{2, 2}}, {"storage_order", int64_t(2)}}, 2),
      Error);
  EXPECT_THROW(run_op("MaxPool", {x}, {{"kernel_shape", Dims{5, 5}}}), Error);
  EXPECT_THROW(
      run_op("MaxPool", {x}, {{"kernel_shape", Dims{2, 2}}, {"auto_pad", std::string("FULL")}}),
      Error);
  EXPECT_THROW(run_op("AveragePool", {x.cast(DataType::kInt8)}, {{"kernel_shape", Dims{2, 2}}}),
               Error);
  EXPECT_THROW(run_op("MaxPool", {x.cast(DataType::kInt32)}, {{"kernel_shape", Dims{2, 2}}}),
               Error);
  EXPECT_THROW(run_op("LpPool", {x}, {{"kernel_shape", Dims{2, 2}}, {"p", int64_t(0)}}), Error);
  EXPECT_THROW(run_op("GlobalAveragePool", {f32({2, 2}, {1, 2, 3, 4})}), Error);
  EXPECT_THROW(run_op("GlobalMaxPool", {x.cast(DataType::kUInt8)}), Error);
}

}  // namespace
}  // namespace kiln
