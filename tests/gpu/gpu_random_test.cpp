// The CUDA random ops against the CPU backend: both draw the same stream (ops/random_stream.h),
// so RandomUniform and Bernoulli must match exactly (their arithmetic is the CPU's, rounding for
// rounding) and RandomNormal within the ulp or two by which CUDA's log, sin and cos may differ
// from the C library's. Without a GPU each case still builds its GPU engine and skips.
// RandomUniform and RandomNormal have no inputs: outputs of up to ops::kMaxShapeTimeElements
// are computed at build time (the same values: the streams are deterministic) and become
// constants, so these tests ask for more elements than that.
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::random_tensor;

constexpr double kExact = 0.0;
constexpr double kTranscendental = 1e-12;  // relative L2, float64 outputs

TEST(GpuRandom, UniformEveryFloatTypeWithAndWithoutSeed) {
  for (DataType t :
       {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    for (bool seeded : {true, false}) {
      const std::string d = check_op(
          "RandomUniform", {},
          [=](ILayer& l) {
            l.set_ints("shape", {3, 1000, 23});  // 69000 elements, odd extents
            l.set_int("dtype", int64_t(t));
            l.set_float("low", -2.5);
            l.set_float("high", 4.0);
            if (seeded) l.set_float("seed", 17.0);
          },
          GpuOptions{kExact});
      EXPECT_TRUE(has(d, "cuda_random_uniform")) << d;
    }
  }
}

TEST(GpuRandom, NormalOddAndEvenCounts) {
  for (DataType t : {DataType::kFloat64, DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(to_string(t));
    for (int64_t n : {70001, 70002}) {  // the last pair incomplete, or not
      const std::string d = check_op(
          "RandomNormal", {},
          [=](ILayer& l) {
            l.set_ints("shape", {n});
            l.set_int("dtype", int64_t(t));
            l.set_float("mean", 1.5);
            l.set_float("scale", 0.25);
            l.set_float("seed", 3.0);
          },
          GpuOptions{t == DataType::kFloat64 ? kTranscendental : 1e-6});
      EXPECT_TRUE(has(d, "cuda_random_normal")) << d;
    }
  }
}

TEST(GpuRandom, LikeFormsTakeTheInputsShape) {
  const Tensor x = random_tensor(DataType::kFloat16, {5, 33}, 1);
  std::string d = check_op("RandomUniformLike", {in(x)}, {}, GpuOptions{kExact});
  EXPECT_TRUE(has(d, "cuda_random_uniform")) << d;
  d = check_op(
      "RandomNormalLike", {in(x)},
      [](ILayer& l) { l.set_int("dtype", int64_t(DataType::kFloat32)); }, GpuOptions{1e-6});
  EXPECT_TRUE(has(d, "cuda_random_normal")) << d;
}

TEST(GpuRandom, BernoulliEveryOutputType) {
  const Tensor p = random_tensor(DataType::kFloat32, {64, 65}, 2, 0.0, 1.0);
  for (DataType t : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBool,
                     DataType::kInt8, DataType::kInt32, DataType::kInt64, DataType::kUInt16}) {
    SCOPED_TRACE(to_string(t));
    const std::string d = check_op(
        "Bernoulli", {in(p)},
        [=](ILayer& l) {
          l.set_int("dtype", int64_t(t));
          l.set_float("seed", 5.0);
        },
        GpuOptions{kExact});
    EXPECT_TRUE(has(d, "cuda_bernoulli")) << d;
  }
  // float64 probabilities, the output in the input's type.
  const std::string d =
      check_op("Bernoulli", {in(random_tensor(DataType::kFloat64, {999}, 3, 0.0, 1.0))}, {},
               GpuOptions{kExact});
  EXPECT_TRUE(has(d, "cuda_bernoulli")) << d;
}

}  // namespace
}  // namespace kiln
