// The CUDA DeformConv kernel against the CPU backend (which sums in double), through one-node
// networks on random inputs: offsets of a few pixels either way (fractional positions, taps
// outside the image), with and without bias and mask, groups, offset groups, strides,
// dilations and pads. float32 to 1e-5 relative L2 (the kernel sums in float32), float64 to
// 1e-12, float16/bfloat16 (summed in float32, rounded once, as the reference) to 3e-3/2e-2.
// Without a GPU each case still builds its GPU engine and skips.
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
using gpu_test::random_tensor;

struct DeformCase {
  int64_t n, channels, height, width, out_channels, kh, kw;
  int64_t group = 1, offset_group = 1;
  std::vector<int64_t> strides{1, 1}, dilations{1, 1}, pads{0, 0, 0, 0};
  bool bias = true, mask = true;
};

int64_t out_extent(int64_t size, int64_t k, int64_t stride, int64_t dilation, int64_t pads) {
  return (size + pads - (k - 1) * dilation - 1) / stride + 1;
}

TEST(GpuDeformConv, GeometriesAndTypes) {
  const std::vector<DeformCase> cases = {
      {1, 3, 7, 6, 4, 3, 3},
      {2, 4, 9, 8, 6, 3, 2, 2, 2, {2, 1}, {1, 2}, {1, 0, 2, 1}},  // groups, strides, dilations,
                                                                  // pads
      {2, 6, 5, 5, 3, 2, 2, 3, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, false, true},   // no bias
      {1, 4, 6, 7, 2, 3, 3, 1, 4, {1, 2}, {1, 1}, {1, 1, 1, 1}, true, false},   // no mask
      {1, 2, 4, 4, 2, 1, 1, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, false, false},  // 1x1 taps
  };
  for (DataType t :
       {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
    const double tolerance = t == DataType::kFloat32   ? 1e-5
                             : t == DataType::kFloat64 ? 1e-12
                             : t == DataType::kFloat16 ? 3e-3
                                                       : 2e-2;
    for (size_t k = 0; k < cases.size(); ++k) {
      const DeformCase& c = cases[k];
      SCOPED_TRACE(cat(to_string(t), " case ", k));
      const int64_t oh =
          out_extent(c.height, c.kh, c.strides[0], c.dilations[0], c.pads[0] + c.pads[2]);
      const int64_t ow =
          out_extent(c.width, c.kw, c.strides[1], c.dilations[1], c.pads[1] + c.pads[3]);
      const uint32_t seed = 10 * uint32_t(k);
      const int64_t taps = c.kh * c.kw;
      std::vector<std::optional<gpu_test::Operand>> operands = {
          in(random_tensor(t, {c.n, c.channels, c.height, c.width}, seed + 1)),
          cst(random_tensor(t, {c.out_channels, c.channels / c.group, c.kh, c.kw}, seed + 2, -0.5,
                            0.5)),
          in(random_tensor(t, {c.n, c.offset_group * taps * 2, oh, ow}, seed + 3, -2.5, 2.5)),
          c.bias ? std::optional(cst(random_tensor(t, {c.out_channels}, seed + 4))) : std::nullopt,
      };
      if (c.mask)
        operands.push_back(
            in(random_tensor(t, {c.n, c.offset_group * taps, oh, ow}, seed + 5, 0, 1)));
      const std::string d = check_op(
          "DeformConv", operands,
          [&](ILayer& l) {
            l.set_int("group", c.group);
            l.set_int("offset_group", c.offset_group);
            l.set_ints("strides", c.strides);
            l.set_ints("dilations", c.dilations);
            l.set_ints("pads", c.pads);
          },
          GpuOptions{tolerance});
      EXPECT_TRUE(has(d, "cuda_deform_conv")) << d;
    }
  }
}

}  // namespace
}  // namespace kiln
