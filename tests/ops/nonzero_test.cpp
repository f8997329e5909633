#include <gtest/gtest.h>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

TEST(NonZero, IndicesInRowMajorOrder) {
  // numpy: np.array(np.nonzero([[1, 0, 2], [0, 3, 0]])) == [[0, 0, 1], [0, 2, 1]]
  auto out = run_op("NonZero", {f32({2, 3}, {1, 0, 2, 0, 3, 0})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 1, 0, 2, 1}));
}

TEST(NonZero, NoHitsGivesEmptyColumns) {
  auto out = run_op("NonZero", {f32({4}, {0, 0, 0, 0})});
  EXPECT_EQ(out[0].shape(), (Dims{1, 0}));
}

}  // namespace
}  // namespace kiln
