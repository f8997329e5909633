// The CUDA CenterCropPad, AffineGrid and Col2Im kernels against the CPU backend, through
// one-node networks on random inputs. CenterCropPad moves elements, so every result must match
// exactly (floats to 1e-12 relative L2, integers and bool exactly);
// AffineGrid computes in double on both sides and rounds once (float32 to 1e-6, float16 3e-3);
// Col2Im sums in the reference's order (float32 1e-6, float16 3e-3, integers exactly). Without
// a GPU each case still builds its GPU engine and skips.
#include <cstdint>
#include <optional>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::cst;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::ints;
using gpu_test::random_tensor;

constexpr double kHalfTolerance = 3e-3;

// ---------------------------------------------------------------------------------------------
// CenterCropPad

TEST(GpuGeometry, CenterCropPadCropsAndPads) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt8, DataType::kInt64,
                     DataType::kBool}) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = random_tensor(t, {3, 10, 7}, 1, 1, 100);
    auto check = [&](const std::vector<int64_t>& shape, std::vector<int64_t> axes) {
      const std::string d = check_op(
          "CenterCropPad", {in(x), cst(ints(shape))},
          [=](ILayer& l) {
            if (!axes.empty()) l.set_ints("axes", axes);
          },
          GpuOptions{1e-12});
      EXPECT_TRUE(has(d, "cuda_center_crop_pad")) << d;
    };
    check({2, 5, 4}, {});     // crop only: the strided copy
    check({5, 14, 9}, {});    // pad only
    check({2, 13, 3}, {});    // crop and pad
    check({6, 3}, {1, 2});    // axes
    check({8, 2}, {-1, -2});  // negative, unordered axes
    check({3, 10, 7}, {});    // unchanged
    check({0, 4, 4}, {});     // empty output
  }
}

// ---------------------------------------------------------------------------------------------
// AffineGrid

TEST(GpuGeometry, AffineGrid2dAnd3d) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
    const double tolerance = t == DataType::kFloat16 ? kHalfTolerance : 1e-6;
    for (int64_t align : {0, 1}) {
      SCOPED_TRACE(cat(to_string(t), " align_corners ", align));
      auto attrs = [=](ILayer& l) { l.set_int("align_corners", align); };
      std::string d =
          check_op("AffineGrid", {in(random_tensor(t, {2, 2, 3}, 2)), cst(ints({2, 3, 5, 7}))},
                   attrs, GpuOptions{tolerance});
      EXPECT_TRUE(has(d, "cuda_affine_grid")) << d;
      check_op("AffineGrid", {in(random_tensor(t, {3, 3, 4}, 3)), cst(ints({3, 1, 4, 1, 6}))},
               attrs, GpuOptions{tolerance});
      check_op("AffineGrid", {in(random_tensor(t, {1, 2, 3}, 4)), cst(ints({1, 1, 1, 9}))}, attrs,
               GpuOptions{tolerance});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Col2Im

struct Col2ImCase {
  std::vector<int64_t> image, block, strides, dilations, pads;
  int64_t channels = 2;
};

// Number of block positions for the case (the input's last extent).
int64_t positions(const Col2ImCase& c) {
  int64_t n = 1;
  for (size_t i = 0; i < c.image.size(); ++i) {
    const int64_t stride = c.strides.empty() ? 1 : c.strides[i];
    const int64_t dilation = c.dilations.empty() ? 1 : c.dilations[i];
    const int64_t pad = c.pads.empty() ? 0 : c.pads[i] + c.pads[c.image.size() + i];
    n *= (c.image[i] + pad - (dilation * (c.block[i] - 1) + 1)) / stride + 1;
  }
  return n;
}

TEST(GpuGeometry, Col2ImGeometries) {
  const std::vector<Col2ImCase> cases = {
      {{5, 5}, {2, 2}, {}, {}, {}},
      {{6, 7}, {3, 2}, {2, 1}, {}, {}},                                  // strides
      {{7, 6}, {2, 3}, {}, {2, 2}, {}},                                  // dilations
      {{5, 4}, {3, 3}, {1, 2}, {1, 1}, {1, 0, 2, 1}},                    // pads
      {{3, 4, 5}, {2, 2, 3}, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}},  // 3 spatial dims
      {{9}, {4}, {3}, {2}, {2, 3}},                                      // 1 spatial dim
  };
  for (DataType t :
       {DataType::kFloat32, DataType::kFloat16, DataType::kInt32, DataType::kFloat64}) {
    const double tolerance = t == DataType::kFloat16 ? kHalfTolerance : 1e-6;
    for (size_t k = 0; k < cases.size(); ++k) {
      const Col2ImCase& c = cases[k];
      SCOPED_TRACE(cat(to_string(t), " case ", k));
      int64_t block_size = 1;
      for (int64_t b : c.block) block_size *= b;
      const Tensor x =
          random_tensor(t, {2, c.channels * block_size, positions(c)}, 5 + uint32_t(k), -20, 20);
      const std::string d = check_op(
          "Col2Im", {in(x), cst(ints(c.image)), cst(ints(c.block))},
          [&](ILayer& l) {
            if (!c.strides.empty()) l.set_ints("strides", c.strides);
            if (!c.dilations.empty()) l.set_ints("dilations", c.dilations);
            if (!c.pads.empty()) l.set_ints("pads", c.pads);
          },
          GpuOptions{tolerance});
      EXPECT_TRUE(has(d, "cuda_col2im")) << d;
    }
  }
}

}  // namespace
}  // namespace kiln
