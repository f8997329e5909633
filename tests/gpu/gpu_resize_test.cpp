// The CUDA Resize kernel against the CPU backend, through one-node networks on random inputs:
// every nearest_mode and coordinate_transformation_mode, linear and cubic (cubic_coeff_a,
// exclude_outside), antialiasing, tf_crop_and_resize with roi and extrapolation_value, axes,
// keep_aspect_ratio_policy, 1-D to 5-D inputs, and the fast paths (nearest replication by
// integer factors, 2x linear) next to the general one. Tolerances (relative L2 against the CPU
// reference, which interpolates in double): float32 1e-5 (the GPU sums in float32); float16
// 3e-3 and bfloat16 2e-2 (a few units of their rounding); nearest copies elements, so any
// wrong index shows as an error of the order of the values themselves, and integer and bool
// results must match exactly. Without a GPU each case still builds its GPU engine (checking
// that the CUDA tactic is chosen) and skips.
#include <functional>
#include <optional>
#include <string>
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
using gpu_test::Operand;
using gpu_test::random_tensor;

constexpr double kHalfTolerance = 3e-3;
constexpr double kBfloatTolerance = 2e-2;

Tensor floats(const std::vector<float>& v) {
  return Tensor::from_vector<float>(DataType::kFloat32, {int64_t(v.size())}, v);
}

// The operands of a Resize: X, then roi, scales, sizes where given (trailing ones left out).
struct ResizeOperands {
  std::optional<Tensor> roi, scales, sizes;
};

std::string check_resize(const Tensor& x, const ResizeOperands& o,
                         const std::function<void(ILayer&)>& attrs, double tolerance = 1e-5) {
  std::vector<std::optional<Operand>> operands = {in(x)};
  operands.push_back(o.roi ? std::optional<Operand>(cst(*o.roi)) : std::nullopt);
  operands.push_back(o.scales ? std::optional<Operand>(cst(*o.scales)) : std::nullopt);
  if (o.sizes) operands.push_back(cst(*o.sizes));
  while (!operands.back()) operands.pop_back();
  const std::string d = check_op("Resize", operands, attrs, GpuOptions{tolerance});
  EXPECT_TRUE(has(d, "cuda_resize")) << d;
  return d;
}

ResizeOperands scales(const std::vector<float>& v) {
  return {std::nullopt, floats(v), std::nullopt};
}
ResizeOperands sizes(const std::vector<int64_t>& v) {
  return {std::nullopt, std::nullopt, ints(v)};
}

std::function<void(ILayer&)> attrs(const std::string& mode, const std::string& coordinates,
                                   const std::function<void(ILayer&)>& more = {}) {
  return [=](ILayer& l) {
    l.set_string("mode", mode);
    l.set_string("coordinate_transformation_mode", coordinates);
    if (more) more(l);
  };
}

const std::vector<std::string> kCoordinateModes = {
    "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"};

// Upsampling by non-integer and integer factors, downsampling, a resize to extent 1.
const std::vector<std::vector<float>> kScaleSets = {
    {1, 1, 1.7f, 2.5f}, {1, 1, 2, 3}, {1, 1, 0.6f, 0.45f}, {1, 1, 0.2f, 1.25f}};

TEST(GpuResize, NearestEveryRoundingAndCoordinateMode) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 5, 7}, 1);
  for (const char* rounding : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    for (const std::string& coordinates : kCoordinateModes) {
      for (const auto& s : kScaleSets) {
        SCOPED_TRACE(cat(rounding, " ", coordinates, " ", s[2], "x", s[3]));
        check_resize(x, scales(s), attrs("nearest", coordinates, [=](ILayer& l) {
                       l.set_string("nearest_mode", rounding);
                     }));
      }
    }
    // The opset-11 mode old models keep.
    check_resize(x, scales({1, 1, 1.5f, 0.5f}),
                 attrs("nearest", "tf_half_pixel_for_nn",
                       [=](ILayer& l) { l.set_string("nearest_mode", rounding); }));
  }
}

TEST(GpuResize, LinearAndCubicEveryCoordinateMode) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 6, 5}, 2);
  for (const char* mode : {"linear", "cubic"}) {
    for (const std::string& coordinates : kCoordinateModes) {
      for (const auto& s : kScaleSets) {
        SCOPED_TRACE(cat(mode, " ", coordinates, " ", s[2], "x", s[3]));
        check_resize(x, scales(s), attrs(mode, coordinates));
      }
      // sizes instead of scales
      check_resize(x, sizes({2, 3, 9, 4}), attrs(mode, coordinates));
    }
  }
}

TEST(GpuResize, CubicCoefficientAndExcludeOutside) {
  const Tensor x = random_tensor(DataType::kFloat32, {1, 2, 7, 6}, 3);
  for (double a : {-0.5, -0.75}) {
    for (int64_t exclude : {0, 1}) {
      for (const auto& s : kScaleSets) {
        SCOPED_TRACE(cat(a, " ", exclude, " ", s[2], "x", s[3]));
        check_resize(x, scales(s), attrs("cubic", "half_pixel", [=](ILayer& l) {
                       l.set_float("cubic_coeff_a", a);
                       l.set_int("exclude_outside", exclude);
                     }));
      }
    }
  }
  // exclude_outside with linear too
  check_resize(x, scales({1, 1, 0.7f, 1.6f}),
               attrs("linear", "asymmetric", [](ILayer& l) { l.set_int("exclude_outside", 1); }));
}

TEST(GpuResize, Antialias) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 2, 13, 11}, 4);
  for (const char* mode : {"linear", "cubic"}) {
    for (const std::string& coordinates : {std::string("half_pixel"), std::string("align_corners"),
                                           std::string("pytorch_half_pixel")}) {
      for (const auto& s : std::vector<std::vector<float>>{
               {1, 1, 0.6f, 0.35f}, {1, 1, 0.5f, 0.5f}, {1, 1, 0.25f, 1.5f}, {1, 1, 2, 2}}) {
        SCOPED_TRACE(cat(mode, " ", coordinates, " ", s[2], "x", s[3]));
        check_resize(x, scales(s),
                     attrs(mode, coordinates, [](ILayer& l) { l.set_int("antialias", 1); }));
      }
    }
    check_resize(x, sizes({2, 2, 5, 3}), attrs(mode, "half_pixel", [](ILayer& l) {
                   l.set_int("antialias", 1);
                   l.set_int("exclude_outside", 1);
                 }));
  }
}

TEST(GpuResize, TfCropAndResizeWithExtrapolation) {
  const Tensor x = random_tensor(DataType::kFloat32, {1, 2, 6, 7}, 5);
  // The roi reaches outside the image along W, so some outputs are extrapolated.
  const Tensor roi = floats({0, 0, 0.2f, -0.3f, 1, 1, 0.8f, 1.2f});
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (float value : {0.0f, 7.5f}) {
      SCOPED_TRACE(cat(mode, " ", value));
      auto a = attrs(mode, "tf_crop_and_resize",
                     [=](ILayer& l) { l.set_float("extrapolation_value", value); });
      check_resize(x, {roi, floats({1, 1, 1.5f, 1.3f}), std::nullopt}, a);
      check_resize(x, {roi, std::nullopt, ints({1, 2, 4, 9})}, a);
      check_resize(x, {roi, std::nullopt, ints({1, 2, 1, 5})}, a);  // an output extent of 1
    }
  }
  // roi over the resized axes only
  check_resize(x, {floats({0.1f, 0.25f, 0.9f, 0.75f}), std::nullopt, ints({3, 5})},
               attrs("linear", "tf_crop_and_resize", [](ILayer& l) {
                 l.set_ints("axes", {2, 3});
               }));
}

TEST(GpuResize, AxesAndAspectRatioPolicy) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 5, 8}, 6);
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    SCOPED_TRACE(mode);
    auto with_axes = [=](std::vector<int64_t> axes) {
      return attrs(mode, "half_pixel", [=](ILayer& l) { l.set_ints("axes", axes); });
    };
    check_resize(x, scales({2, 0.5f}), with_axes({2, 3}));
    check_resize(x, scales({0.5f, 2}), with_axes({3, 2}));
    check_resize(x, scales({1.5f}), with_axes({-1}));
    check_resize(x, scales({1.7f}), with_axes({1}));  // across channels
    check_resize(x, sizes({7, 3}), with_axes({2, 3}));
    for (const char* policy : {"stretch", "not_larger", "not_smaller"}) {
      SCOPED_TRACE(policy);
      check_resize(x, sizes({7, 11}), attrs(mode, "half_pixel", [=](ILayer& l) {
                     l.set_ints("axes", {2, 3});
                     l.set_string("keep_aspect_ratio_policy", policy);
                   }));
      check_resize(x, sizes({2, 3, 3, 20}), attrs(mode, "asymmetric", [=](ILayer& l) {
                     l.set_string("keep_aspect_ratio_policy", policy);
                   }));
    }
  }
}

TEST(GpuResize, OneToFiveDimensions) {
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    SCOPED_TRACE(mode);
    check_resize(random_tensor(DataType::kFloat32, {10}, 7), scales({1.5f}),
                 attrs(mode, "half_pixel"));
    check_resize(random_tensor(DataType::kFloat32, {2, 5, 6}, 8), scales({1, 0.7f, 2.2f}),
                 attrs(mode, "align_corners"));
    check_resize(random_tensor(DataType::kFloat32, {1, 2, 3, 4, 5}, 9),
                 scales({1, 1, 2, 1.5f, 0.8f}), attrs(mode, "pytorch_half_pixel"));
    check_resize(random_tensor(DataType::kFloat32, {1, 2, 4, 5, 6}, 10), sizes({1, 2, 2, 10, 3}),
                 attrs(mode, "half_pixel", [](ILayer& l) { l.set_int("antialias", 1); }));
  }
  // An unchanged tensor is a copy.
  check_resize(random_tensor(DataType::kFloat32, {2, 3, 4}, 11), scales({1, 1, 1}),
               attrs("cubic", "half_pixel"));
}

TEST(GpuResize, NearestReplicationFastPath) {
  // 2x (YOLO/FPN upsampling) with 16-byte stores, other integer factors, one axis only, rows
  // whose length does not allow wide stores; Upsample's asymmetric/floor and Resize's defaults.
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
                     DataType::kUInt8, DataType::kInt32, DataType::kInt64, DataType::kBool}) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = random_tensor(t, {2, 3, 8, 16}, 12, 0, 100);
    check_resize(x, scales({1, 1, 2, 2}), attrs("nearest", "asymmetric", [](ILayer& l) {
                   l.set_string("nearest_mode", "floor");
                 }));
    check_resize(x, scales({1, 1, 2, 2}), attrs("nearest", "half_pixel"));
    check_resize(x, scales({1, 1, 3, 1}), attrs("nearest", "asymmetric"));
    check_resize(x, scales({1, 1, 1, 4}), attrs("nearest", "half_pixel"));
    check_resize(random_tensor(t, {1, 2, 5, 7}, 13, 0, 100), scales({1, 1, 2, 2}),
                 attrs("nearest", "half_pixel"));
    check_resize(random_tensor(t, {3, 5, 7}, 14, 0, 100), scales({1, 2, 3}),
                 attrs("nearest", "asymmetric"));
    // Not a replication (round_prefer_ceil moves every odd output): the general path.
    check_resize(x, scales({1, 1, 2, 2}), attrs("nearest", "asymmetric", [](ILayer& l) {
                   l.set_string("nearest_mode", "round_prefer_ceil");
                 }));
  }
}

TEST(GpuResize, Linear2xFastPath) {
  const std::vector<std::string> modes = {"half_pixel", "pytorch_half_pixel",
                                          "half_pixel_symmetric", "asymmetric", "align_corners"};
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    const double tolerance = t == DataType::kFloat32
                                 ? 1e-5
                                 : (t == DataType::kFloat16 ? kHalfTolerance : kBfloatTolerance);
    for (const std::string& coordinates : modes) {
      SCOPED_TRACE(cat(to_string(t), " ", coordinates));
      const Tensor x = random_tensor(t, {2, 4, 8, 16}, 15);
      check_resize(x, scales({1, 1, 2, 2}), attrs("linear", coordinates), tolerance);
      check_resize(x, scales({1, 1, 2, 1}), attrs("linear", coordinates), tolerance);
      check_resize(x, scales({1, 1, 1, 2}), attrs("linear", coordinates), tolerance);
      check_resize(random_tensor(t, {1, 3, 5, 7}, 16), scales({1, 1, 2, 2}),
                   attrs("linear", coordinates), tolerance);
      check_resize(random_tensor(t, {3, 1, 9}, 17), scales({1, 2, 2}), attrs("linear", coordinates),
                   tolerance);
    }
    // antialias on upsampling keeps the plain linear filter; a 2x cubic takes the general path
    check_resize(random_tensor(t, {2, 4, 8, 16}, 18), scales({1, 1, 2, 2}),
                 attrs("linear", "half_pixel", [](ILayer& l) { l.set_int("antialias", 1); }),
                 tolerance);
    check_resize(random_tensor(t, {2, 4, 8, 16}, 19), scales({1, 1, 2, 2}),
                 attrs("cubic", "half_pixel"), tolerance);
  }
}

TEST(GpuResize, Float16AndBfloat16GeneralPath) {
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    const double tolerance = t == DataType::kFloat16 ? kHalfTolerance : kBfloatTolerance;
    const Tensor x = random_tensor(t, {2, 3, 9, 10}, 20);
    for (const char* mode : {"nearest", "linear", "cubic"}) {
      SCOPED_TRACE(cat(to_string(t), " ", mode));
      check_resize(x, scales({1, 1, 1.7f, 0.6f}), attrs(mode, "half_pixel"), tolerance);
      check_resize(x, sizes({2, 3, 4, 3}),
                   attrs(mode, "align_corners", [](ILayer& l) { l.set_int("antialias", 1); }),
                   tolerance);
      check_resize(
          x, {floats({0, 0, -0.2f, 0.1f, 1, 1, 1.1f, 0.9f}), std::nullopt, ints({2, 3, 5, 6})},
          attrs(mode, "tf_crop_and_resize",
                [](ILayer& l) { l.set_float("extrapolation_value", -1.5); }),
          tolerance);
    }
  }
}

TEST(GpuResize, IntegerNearestWithExtrapolation) {
  for (DataType t : {DataType::kInt8, DataType::kUInt8, DataType::kInt32, DataType::kInt64,
                     DataType::kFloat64, DataType::kBool}) {
    SCOPED_TRACE(to_string(t));
    const Tensor x = random_tensor(t, {2, 3, 6, 5}, 21, 0, 100);
    check_resize(x, scales({1, 1, 0.7f, 1.9f}), attrs("nearest", "half_pixel"));
    check_resize(x,
                 {floats({0, 0, -0.25f, 0.2f, 1, 1, 1.0f, 1.3f}), std::nullopt, ints({2, 3, 5, 6})},
                 attrs("nearest", "tf_crop_and_resize",
                       [](ILayer& l) { l.set_float("extrapolation_value", 3); }));
  }
}

TEST(GpuResize, MixedPrecisionMovesResizeToFloat16) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 8, 8, 16}, 22);
  for (const char* mode : {"nearest", "linear"}) {
    const std::string d = check_op(
        "Resize", {in(x), std::nullopt, cst(floats({1, 1, 2, 2}))},
        [=](ILayer& l) { l.set_string("mode", mode); },
        GpuOptions{kHalfTolerance, false, kAllTacticSources, true});
    EXPECT_TRUE(has(d, "cuda_resize")) << d;
  }
}

}  // namespace
}  // namespace kiln
