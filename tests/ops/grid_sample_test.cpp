// GridSample and AffineGrid against hand-computed values and numbers from the ONNX reference
// implementation (onnx 1.23, onnx.reference.ReferenceEvaluator on one-node models; X is
// np.arange(12).reshape(1, 1, 3, 4) unless said otherwise).
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

Tensor arange_image() {
  std::vector<float> v(12);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  return f32({1, 1, 3, 4}, v);
}

// Six (x, y) positions: inside, near and beyond the borders.
Tensor sample_grid() {
  return f32({1, 2, 3, 2},
             {-1.2f, -0.9f, 0.1f, 0.35f, 0.95f, 1.3f, -0.5f, 0.6f, 1.0f, -1.0f, -2.1f, 0.2f});
}

Tensor grid_sample(const Tensor& x, const Tensor& grid, const std::string& mode,
                   const std::string& padding, int64_t align_corners) {
  return run_op("GridSample", {x, grid},
                {{"mode", mode}, {"padding_mode", padding}, {"align_corners", align_corners}})[0];
}

TEST(GridSample, LinearAtPixelCentersReadsPixels) {
  // Without align_corners, pixel (row r, col c) of a 3x4 image has its center at
  // x = (2c + 1) / 4 - 1, y = (2r + 1) / 3 - 1: sampling there returns the pixel itself.
  const Tensor grid = f32({1, 1, 2, 2}, {-0.75f, -2.0f / 3, 0.25f, 2.0f / 3});
  const Tensor y = grid_sample(arange_image(), grid, "linear", "zeros", 0);
  ASSERT_EQ(y.shape(), (Dims{1, 1, 1, 2}));
  expect_near_all(y, {0, 10}, 1e-5);
  // Halfway between columns 1 and 2 of row 1 (values 5 and 6).
  expect_near_all(grid_sample(arange_image(), f32({1, 1, 1, 2}, {0, 0}), "linear", "zeros", 0),
                  {5.5}, 1e-6);
}

TEST(GridSample, LinearMatchesOnnxReferenceForEveryPadding) {
  const Tensor x = arange_image();
  const Tensor grid = sample_grid();
  expect_near_all(grid_sample(x, grid, "linear", "zeros", 0), {0, 7.8, 0.3300012, 8.1, 0.75, 0},
                  1e-5);
  expect_near_all(grid_sample(x, grid, "linear", "zeros", 1),
                  {0.28000003, 7.05, 7.6475005, 7.1499996, 3, 0}, 1e-5);
  expect_near_all(grid_sample(x, grid, "linear", "border", 0), {0, 7.8, 11, 8.1, 3, 5.2000003},
                  1e-5);
  expect_near_all(grid_sample(x, grid, "linear", "border", 1),
                  {0.4000001, 7.05, 10.925, 7.1499996, 3, 4.8}, 1e-5);
  expect_near_all(grid_sample(x, grid, "linear", "reflection", 0), {0, 7.8, 11, 8.1, 3, 6.9}, 1e-5);
  expect_near_all(grid_sample(x, grid, "linear", "reflection", 1),
                  {0.70000017, 7.05, 9.725, 7.1499996, 3, 6.45}, 1e-5);
}

TEST(GridSample, CubicAndNearestMatchOnnxReference) {
  const Tensor x = arange_image();
  const Tensor grid = sample_grid();
  expect_near_all(grid_sample(x, grid, "cubic", "zeros", 0),
                  {-0.04087978, 9.0741625, 0.27325827, 9.383273, 0.609375, 0}, 1e-5);
  expect_near_all(grid_sample(x, grid, "cubic", "border", 1),
                  {0.3010013, 7.3912544, 10.943644, 7.4039683, 3, 5.088003}, 1e-5);
  expect_near_all(grid_sample(x, grid, "cubic", "reflection", 0),
                  {-0.74999887, 8.1258335, 11.322498, 8.105251, 2.4375, 7.2149954}, 1e-5);
  expect_near_all(grid_sample(x, grid, "nearest", "zeros", 0), {0, 10, 0, 8, 0, 0}, 0);
  expect_near_all(grid_sample(x, grid, "nearest", "border", 1), {0, 6, 11, 9, 3, 4}, 0);
  expect_near_all(grid_sample(x, grid, "nearest", "reflection", 0), {0, 10, 11, 8, 3, 6}, 0);
}

TEST(GridSample, NearestGathersIntegersExactly) {
  // int64 values beyond float precision survive nearest sampling untouched.
  const int64_t big = (int64_t(1) << 53) + 1;
  const Tensor x = i64({1, 1, 1, 2}, {big, -big});
  const Tensor y =
      grid_sample(x, f32({1, 1, 3, 2}, {-0.5f, 0, 0.5f, 0, 3, 0}), "nearest", "zeros", 0);
  ASSERT_EQ(y.dtype(), DataType::kInt64);
  EXPECT_EQ(y.data<int64_t>()[0], big);
  EXPECT_EQ(y.data<int64_t>()[1], -big);
  EXPECT_EQ(y.data<int64_t>()[2], 0);  // outside: zero padding
}

TEST(GridSample, VolumetricMatchesOnnxReference) {
  // X = np.arange(12).reshape(1, 1, 2, 2, 3); grid (1, 1, 1, 2, 3) of (x, y, z) positions.
  std::vector<float> values(12);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i);
  const Tensor x = f32({1, 1, 2, 2, 3}, values);
  const Tensor grid = f32({1, 1, 1, 2, 3}, {-0.3f, 0.8f, -0.1f, 1.1f, -0.6f, 0.45f});
  const Tensor linear = grid_sample(x, grid, "linear", "zeros", 0);
  ASSERT_EQ(linear.shape(), (Dims{1, 1, 1, 1, 2}));
  expect_near_all(linear, {4.165, 2.4255009}, 1e-5);
  expect_near_all(grid_sample(x, grid, "nearest", "zeros", 0), {4, 0}, 0);
}

TEST(GridSample, RejectsBadAttributesAndShapes) {
  const Tensor x = arange_image();
  const Tensor grid = sample_grid();
  EXPECT_THROW(grid_sample(x, grid, "bilinear", "zeros", 0), Error);  // opset-16 spelling
  EXPECT_THROW(grid_sample(x, grid, "linear", "wrap", 0), Error);
  EXPECT_THROW(grid_sample(x, grid, "linear", "zeros", 2), Error);
  // A 3-component grid for a 2-D image, and a batch mismatch.
  EXPECT_THROW(grid_sample(x, f32({1, 1, 1, 3}, {0, 0, 0}), "linear", "zeros", 0), Error);
  EXPECT_THROW(grid_sample(x, f32({2, 1, 1, 2}, {0, 0, 0, 0}), "linear", "zeros", 0), Error);
  // bool images only with nearest.
  const uint8_t flags[2] = {1, 0};
  const Tensor b = Tensor::from_bytes(DataType::kBool, {1, 1, 1, 2}, flags, 2);
  EXPECT_THROW(grid_sample(b, f32({1, 1, 1, 2}, {0, 0}), "linear", "zeros", 0), Error);
}

TEST(AffineGrid, TwoDimensionalMatchesHandComputation) {
  // size (1, 2, 2, 3): base x = -2/3, 0, 2/3 and y = -1/2, 1/2 (pixel centers), or x = -1, 0, 1
  // and y = -1, 1 with align_corners. Each entry is theta @ (x, y, 1).
  const Tensor theta = f32({1, 2, 3}, {0.5f, -0.25f, 0.1f, 0.2f, 1.5f, -0.3f});
  const std::vector<double> t = {0.5, -0.25, 0.1, 0.2, 1.5, -0.3};
  for (int64_t align : {0, 1}) {
    const std::vector<double> xs =
        align ? std::vector<double>{-1, 0, 1} : std::vector<double>{-2.0 / 3, 0, 2.0 / 3};
    const std::vector<double> ys =
        align ? std::vector<double>{-1, 1} : std::vector<double>{-0.5, 0.5};
    std::vector<double> expected;
    for (double y : ys) {
      for (double x : xs) {
        expected.push_back(t[0] * x + t[1] * y + t[2]);
        expected.push_back(t[3] * x + t[4] * y + t[5]);
      }
    }
    auto out = run_op("AffineGrid", {theta, i64({4}, {1, 2, 2, 3})}, {{"align_corners", align}});
    ASSERT_EQ(out[0].shape(), (Dims{1, 2, 3, 2}));
    expect_near_all(out[0], expected, 1e-6);
  }
}

TEST(AffineGrid, ThreeDimensionalMatchesOnnxReference) {
  const Tensor theta = f32({1, 3, 4}, {1, 0, 0, 0.5f, 0, 2, 0, 0, 0.5f, 0, 1, -1});
  auto out = run_op("AffineGrid", {theta, i64({5}, {1, 1, 2, 1, 2})});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 1, 2, 3}));
  expect_near_all(out[0], {0, 0, -1.75, 1, 0, -1.25, 0, 0, -0.75, 1, 0, -0.25}, 1e-6);
}

TEST(AffineGrid, RejectsMismatchedThetaAndSize) {
  const Tensor theta2d = f32({1, 2, 3}, {1, 0, 0, 0, 1, 0});
  EXPECT_THROW(run_op("AffineGrid", {theta2d, i64({5}, {1, 1, 2, 2, 2})}), Error);
  EXPECT_THROW(run_op("AffineGrid", {theta2d, i64({4}, {2, 1, 2, 2})}), Error);
  EXPECT_THROW(run_op("AffineGrid", {theta2d, i64({4}, {1, 1, -2, 2})}), Error);
  EXPECT_THROW(run_op("AffineGrid", {theta2d, i64({3}, {1, 1, 2})}), Error);
}

}  // namespace
}  // namespace kiln
