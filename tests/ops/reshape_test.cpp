// Reshape, Flatten, Squeeze, Unsqueeze: output shapes from the ONNX spec's rules, values kept
// in row-major order, and the errors for bad shape inputs.
#include <gtest/gtest.h>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

std::vector<float> iota_values(int64_t n) {
  std::vector<float> v(size_t(n), 0.0f);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i);
  return v;
}

std::vector<float> as_floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(Reshape, ZeroCopiesInputDimAndMinusOneInfers) {
  Tensor x = f32({2, 3, 4}, iota_values(24));
  auto out = run_op("Reshape", {x, i64({2}, {0, -1})});
  EXPECT_EQ(out[0].shape(), (Dims{2, 12}));
  EXPECT_EQ(as_floats(out[0]), iota_values(24));

  out = run_op("Reshape", {x, i64({3}, {4, 0, -1})});
  EXPECT_EQ(out[0].shape(), (Dims{4, 3, 2}));
  out = run_op("Reshape", {x, i64({4}, {1, 24, 1, 1})});
  EXPECT_EQ(out[0].shape(), (Dims{1, 24, 1, 1}));
}

TEST(Reshape, ToScalarAndFromScalar) {
  auto out = run_op("Reshape", {f32({1, 1}, {7}), i64({0}, {})});
  EXPECT_EQ(out[0].shape(), Dims{});
  EXPECT_EQ(out[0].data<float>()[0], 7.0f);
  out = run_op("Reshape", {f32({}, {5}), i64({2}, {1, -1})});
  EXPECT_EQ(out[0].shape(), (Dims{1, 1}));
}

TEST(Reshape, AllowZeroKeepsZeroExtent) {
  Tensor empty = Tensor::zeros(DataType::kFloat32, {0, 3});
  auto out = run_op("Reshape", {empty, i64({2}, {3, 0})}, {{"allowzero", int64_t{1}}});
  EXPECT_EQ(out[0].shape(), (Dims{3, 0}));
  // without allowzero the 0 copies input dim 1 (3): 3x3 != 0 elements
  EXPECT_THROW(run_op("Reshape", {empty, i64({2}, {3, 0})}), Error);
}

TEST(Reshape, MovesBytesOfAnyType) {
  std::vector<uint16_t> halves = {float_to_fp16(1.5f), float_to_fp16(-2.0f), float_to_fp16(3.25f),
                                  float_to_fp16(0.5f)};
  Tensor h = Tensor::from_vector<uint16_t>(DataType::kFloat16, {4}, halves);
  auto out = run_op("Reshape", {h, i64({2}, {2, 2})});
  EXPECT_EQ(out[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(fp16_to_float(out[0].data<uint16_t>()[2]), 3.25f);

  Tensor ints = i64({2, 2}, {-1, 1LL << 40, 3, 4});
  out = run_op("Reshape", {ints, i64({1}, {-1})});
  EXPECT_EQ(out[0].data<int64_t>()[1], 1LL << 40);
}

TEST(Reshape, RejectsBadShapes) {
  Tensor x = f32({2, 3, 4}, iota_values(24));
  EXPECT_THROW(run_op("Reshape", {x, i64({2}, {-1, -1})}), Error);      // two -1
  EXPECT_THROW(run_op("Reshape", {x, i64({2}, {5, -1})}), Error);       // 24 % 5 != 0
  EXPECT_THROW(run_op("Reshape", {x, i64({2}, {5, 5})}), Error);        // 25 != 24
  EXPECT_THROW(run_op("Reshape", {x, i64({2}, {-2, 12})}), Error);      // negative extent
  EXPECT_THROW(run_op("Reshape", {x, i64({4}, {1, 1, 1, 0})}), Error);  // 0 beyond input rank
  EXPECT_THROW(run_op("Reshape", {Tensor::zeros(DataType::kFloat32, {0, 3}), i64({2}, {0, -1})},
                      {{"allowzero", int64_t{1}}}),
               Error);  // allowzero forbids 0 together with -1
  try {
    run_op("Reshape", {x, i64({2}, {5, 5})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Reshape 'node'"), std::string::npos) << e.what();
  }
}

TEST(Flatten, SplitsAtAxis) {
  Tensor x = f32({2, 3, 4}, iota_values(24));
  EXPECT_EQ(run_op("Flatten", {x})[0].shape(), (Dims{2, 12}));  // default axis 1
  EXPECT_EQ(run_op("Flatten", {x}, {{"axis", int64_t{0}}})[0].shape(), (Dims{1, 24}));
  EXPECT_EQ(run_op("Flatten", {x}, {{"axis", int64_t{3}}})[0].shape(), (Dims{24, 1}));
  auto out = run_op("Flatten", {x}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(out[0].shape(), (Dims{6, 4}));
  EXPECT_EQ(as_floats(out[0]), iota_values(24));
  EXPECT_THROW(run_op("Flatten", {x}, {{"axis", int64_t{4}}}), Error);
  EXPECT_THROW(run_op("Flatten", {x}, {{"axis", int64_t{-4}}}), Error);
}

TEST(Squeeze, AllUnitDimsOrGivenAxes) {
  Tensor x = f32({1, 3, 1, 2}, iota_values(6));
  auto out = run_op("Squeeze", {x});
  EXPECT_EQ(out[0].shape(), (Dims{3, 2}));
  EXPECT_EQ(as_floats(out[0]), iota_values(6));
  EXPECT_EQ(run_op("Squeeze", {x, i64({1}, {-2})})[0].shape(), (Dims{1, 3, 2}));
  EXPECT_EQ(run_op("Squeeze", {x, i64({2}, {2, 0})})[0].shape(), (Dims{3, 2}));
  EXPECT_EQ(run_op("Squeeze", {f32({1}, {4})})[0].shape(), Dims{});
}

TEST(Squeeze, RejectsNonUnitAndRepeatedAxes) {
  Tensor x = f32({1, 3, 1, 2}, iota_values(6));
  EXPECT_THROW(run_op("Squeeze", {x, i64({1}, {1})}), Error);
  EXPECT_THROW(run_op("Squeeze", {x, i64({2}, {0, -4})}), Error);
  EXPECT_THROW(run_op("Squeeze", {x, i64({1}, {4})}), Error);
  EXPECT_THROW(run_op("Squeeze", {f32({}, {1}), i64({1}, {0})}), Error);
}

TEST(Unsqueeze, InsertsUnitDimsAtOutputPositions) {
  Tensor x = f32({3, 4}, iota_values(12));
  auto out = run_op("Unsqueeze", {x, i64({2}, {0, -1})});
  EXPECT_EQ(out[0].shape(), (Dims{1, 3, 4, 1}));
  EXPECT_EQ(as_floats(out[0]), iota_values(12));
  EXPECT_EQ(run_op("Unsqueeze", {x, i64({2}, {3, 1})})[0].shape(), (Dims{3, 1, 4, 1}));
  EXPECT_EQ(run_op("Unsqueeze", {f32({}, {2}), i64({1}, {0})})[0].shape(), (Dims{1}));
  EXPECT_THROW(run_op("Unsqueeze", {x, i64({2}, {1, 1})}), Error);
  EXPECT_THROW(run_op("Unsqueeze", {x, i64({1}, {3})}), Error);  // output rank is 3
  EXPECT_THROW(run_op("Unsqueeze", {x}), Error);                 // axes are required
}

}  // namespace
}  // namespace kiln
