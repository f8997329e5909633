#include <gtest/gtest.h>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

TEST(Identity, CopiesValues) {
  auto out = run_op("Identity", {f32({2, 2}, {1, 2, 3, 4})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(out[0].data<float>()[3], 4.0f);
}

TEST(Dropout, IsIdentityWithTrueMask) {
  auto out = run_op("Dropout", {f32({3}, {1, -2, 3})}, {}, 2);
  EXPECT_EQ(out[0].data<float>()[1], -2.0f);
  EXPECT_EQ(out[1].dtype(), DataType::kBool);
  EXPECT_EQ(out[1].data<uint8_t>()[2], 1);
}

TEST(Dropout, TrainingModeNeedsZeroRatio) {
  Tensor yes = Tensor::from_vector<uint8_t>(DataType::kBool, {}, {1});
  auto out = run_op("Dropout", {f32({2}, {1, 2}), f32({}, {0.0f}), yes});
  EXPECT_EQ(out[0].data<float>()[1], 2.0f);
  EXPECT_THROW(run_op("Dropout", {f32({2}, {1, 2}), f32({}, {0.5f}), yes}), Error);
}

}  // namespace
}  // namespace kiln
