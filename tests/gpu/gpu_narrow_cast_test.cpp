// The CUDA Cast/CastLike of the narrow storage types (int4, uint4, int2, uint2, float4e2m1,
// float8 e4m3fnuz / e5m2fnuz, e8m0) against the CPU backend: both call core/narrow_types.h, so
// every result must match exactly, specials included (±0, ±inf, NaN, float32 subnormals,
// values past each type's range and halfway between its neighbours), with and without
// saturation and in every e8m0 round_mode. Without a GPU each case builds its GPU engine and
// skips.
#include <cmath>
#include <limits>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::random_tensor;

constexpr DataType kNarrow[] = {DataType::kInt4,           DataType::kUInt4,
                                DataType::kInt2,           DataType::kUInt2,
                                DataType::kFloat4E2M1,     DataType::kFloat8E4M3FNUZ,
                                DataType::kFloat8E5M2FNUZ, DataType::kFloat8E8M0};

// float32 values that reach every branch of the conversions, then random ones.
Tensor float_samples() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f,
                          -0.0f,
                          0.25f,
                          -0.75f,
                          1.0f,
                          2.5f,
                          3.5f,
                          5.0f,
                          6.5f,
                          -7.0f,
                          240.0f,
                          248.0f,
                          -250.0f,
                          57344.0f,
                          61440.0f,
                          1e6f,
                          -1e6f,
                          1e-40f,
                          -1e-40f,
                          3e-38f,
                          1.5f * 0x1p-127f,
                          0x1p127f,
                          3e38f,
                          inf,
                          -inf,
                          std::numeric_limits<float>::quiet_NaN(),
                          7.5f,
                          -8.5f,
                          15.0f,
                          16.0f};
  const Tensor r = random_tensor(DataType::kFloat32, {400}, 3, -300, 300);
  for (int64_t i = 0; i < r.numel(); ++i) v.push_back(float(r.as_double(i)) / float(1 + i % 50));
  return Tensor::from_vector<float>(DataType::kFloat32, {int64_t(v.size())}, v);
}

void check_cast(const Tensor& x, DataType to, int64_t saturate = 1, const char* round_mode = "up") {
  SCOPED_TRACE(
      cat(to_string(x.dtype()), " -> ", to_string(to), " saturate ", saturate, " ", round_mode));
  const std::string d = check_op(
      "Cast", {in(x)},
      [&](ILayer& l) {
        l.set_int("to", int64_t(to));
        l.set_int("saturate", saturate);
        l.set_string("round_mode", round_mode);
      },
      GpuOptions{0.0});
  EXPECT_TRUE(has(d, "cuda_cast")) << d;
}

TEST(GpuNarrowCast, FromWideTypes) {
  const Tensor f32 = float_samples();
  const Tensor ints = random_tensor(DataType::kInt32, {300}, 4, -40, 40);
  for (DataType to : kNarrow) {
    for (int64_t saturate : {1, 0}) check_cast(f32, to, saturate);
    check_cast(f32.cast(DataType::kFloat16), to);
    check_cast(f32.cast(DataType::kFloat64), to);
    check_cast(ints, to);
    check_cast(ints.cast(DataType::kInt64), to);
    check_cast(ints.cast(DataType::kUInt8), to);
  }
  for (const char* mode : {"up", "down", "nearest"}) {
    for (int64_t saturate : {1, 0}) check_cast(f32, DataType::kFloat8E8M0, saturate, mode);
  }
}

TEST(GpuNarrowCast, ToWideAndNarrowTypes) {
  const Tensor f32 = float_samples();
  for (DataType from : kNarrow) {
    const Tensor x = f32.cast(from);  // every code the sample reaches, NaN codes included
    for (DataType to :
         {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64,
          DataType::kInt64, DataType::kInt8, DataType::kBool, DataType::kFloat8E4M3}) {
      check_cast(x, to);
    }
    for (DataType to : kNarrow) check_cast(x, to);
  }
}

TEST(GpuNarrowCast, CastLikeTakesTheTargetFromItsSecondInput) {
  const Tensor f32 = float_samples();
  for (DataType like : kNarrow) {
    SCOPED_TRACE(to_string(like));
    const Tensor target = Tensor::zeros(like, {2});
    const std::string d = check_op("CastLike", {in(f32), in(target)}, {}, GpuOptions{0.0});
    EXPECT_TRUE(has(d, "cuda_cast")) << d;
  }
}

}  // namespace
}  // namespace kiln
