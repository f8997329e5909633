// The CUDA normalization, softmax, pooling, reduction and loss families (and RotaryEmbedding,
// GridSample, RoiAlign) against the CPU backend, through one-node networks on random inputs.
// Tolerances (relative L2 against the CPU reference, which keeps statistics in double): float32
// 1e-5 (the GPU keeps statistics in float32); float16 3e-3 and bfloat16 2e-2 (a few units of
// their rounding, since both sides compute in float32 or wider and round once); integer
// outputs (pooling indices, integer reductions, ArgMax) exactly. The shapes are chosen to reach
// every variant of the row kernels (one warp per row with scalar or 16-byte accesses, one block
// per row, and rows too long for registers). Without a GPU each case still builds its GPU engine
// (checking the tactic choice) and skips.
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
constexpr double kBfloat16Tolerance = 2e-2;

GpuOptions tolerance_for(DataType t) {
  if (t == DataType::kFloat16) return GpuOptions{kHalfTolerance};
  if (t == DataType::kBFloat16) return GpuOptions{kBfloat16Tolerance};
  return GpuOptions{};
}

Tensor floats(const Dims& shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, values);
}

std::function<void(ILayer&)> axis(int64_t a) {
  return [a](ILayer& l) { l.set_int("axis", a); };
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax

TEST(GpuNormalization, SoftmaxRowKernelsEveryShape) {
  // Row lengths reaching each row-kernel variant for float32 (vector width 4) and float16 (8):
  // 1, 197 (odd: scalar warp), 64 / 768 (vectorized warp), 1001 (scalar warp, 32 per lane),
  // 2001 (scalar block), 3000 / 4096 (vectorized block), 20000 (too long: three passes).
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    for (int64_t n : {1, 197, 64, 768, 1001, 2001, 3000, 4096, 20000}) {
      const Tensor x = random_tensor(t, {3, n}, uint32_t(n), -8.0, 8.0);
      for (const char* op : {"Softmax", "LogSoftmax"}) {
        SCOPED_TRACE(n);
        const std::string d = check_op(op, {in(x)}, {}, tolerance_for(t));
        EXPECT_TRUE(has(d, "cuda_softmax")) << d;
      }
    }
  }
}

TEST(GpuNormalization, SoftmaxAttentionShapeAndOtherAxes) {
  // Attention scores [batch, heads, tokens, tokens] (ViT's 197 tokens, smaller batch).
  const Tensor scores = random_tensor(DataType::kFloat16, {2, 3, 197, 197}, 1, -6.0, 6.0);
  check_op("Softmax", {in(scores)}, {}, GpuOptions{kHalfTolerance});
  const Tensor x = random_tensor(DataType::kFloat32, {4, 6, 5}, 2, -5.0, 5.0);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    check_op(op, {in(x)}, axis(1));
    check_op(op, {in(x)}, axis(0));
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization, RMSNormalization

TEST(GpuNormalization, LayerNormRowKernelsEveryShape) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    for (int64_t n : {1, 5, 197, 768, 1001, 4096, 20000}) {
      SCOPED_TRACE(n);
      const Tensor x = random_tensor(t, {4, n}, uint32_t(n), -3.0, 5.0);
      const std::string d = check_op(
          "LayerNormalization",
          {in(x), cst(random_tensor(t, {n}, 2, 0.5, 1.5)), cst(random_tensor(t, {n}, 3))},
          [](ILayer& l) { l.set_float("epsilon", 1e-5); }, tolerance_for(t));
      EXPECT_TRUE(has(d, "cuda_layer_norm")) << d;
    }
  }
}

TEST(GpuNormalization, LayerNormStatisticsOutputsAxisAndNoBias) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 5, 16}, 1, -2.0, 4.0);
  // Mean and inverse standard deviation as outputs 1 and 2 (float32).
  check_op("LayerNormalization",
           {in(x), cst(random_tensor(DataType::kFloat32, {16}, 2)),
            cst(random_tensor(DataType::kFloat32, {16}, 3))},
           {}, GpuOptions{}, 3);
  check_op(
      "LayerNormalization", {in(x), in(random_tensor(DataType::kFloat32, {5, 16}, 4))},
      [](ILayer& l) {
        l.set_int("axis", 1);
        l.set_float("epsilon", 1e-3);
      },
      GpuOptions{}, 3);
  // BERT/ViT hidden size in float16, with statistics outputs.
  const Tensor h = random_tensor(DataType::kFloat16, {2, 197, 768}, 5);
  check_op("LayerNormalization",
           {in(h), cst(random_tensor(DataType::kFloat16, {768}, 6)),
            cst(random_tensor(DataType::kFloat16, {768}, 7))},
           {}, GpuOptions{kHalfTolerance}, 3);
}

TEST(GpuNormalization, RmsNormalization) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 4, 5}, 1);
  for (int64_t a : {0, 1, 2, 3, -1}) {
    SCOPED_TRACE(a);
    const Dims scale_shape(x.shape().begin() + (a < 0 ? a + 4 : a), x.shape().end());
    const std::string d =
        check_op("RMSNormalization",
                 {in(x), cst(random_tensor(DataType::kFloat32, scale_shape, 2))}, axis(a));
    EXPECT_TRUE(has(d, "cuda_rms_norm")) << d;
  }
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    check_op(
        "RMSNormalization", {in(random_tensor(t, {8, 4096}, 3)), cst(random_tensor(t, {4096}, 4))},
        [](ILayer& l) { l.set_float("epsilon", 1e-6); }, tolerance_for(t));
  }
  check_op("RMSNormalization", {in(random_tensor(DataType::kFloat32, {3, 20000}, 5)),
                                in(random_tensor(DataType::kFloat32, {20000}, 6))});
}

// ---------------------------------------------------------------------------------------------
// Instance, group, Lp and mean-variance normalization, LRN

TEST(GpuNormalization, InstanceAndGroupNormalization) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    const Tensor x = random_tensor(t, {2, 6, 5, 7}, 1, -1.0, 3.0);
    const std::string d = check_op(
        "InstanceNormalization",
        {in(x), cst(random_tensor(t, {6}, 2)), cst(random_tensor(t, {6}, 3))},
        [](ILayer& l) { l.set_float("epsilon", 1e-3); }, tolerance_for(t));
    EXPECT_TRUE(has(d, "cuda_group_norm")) << d;
    for (int64_t groups : {1, 2, 3, 6}) {
      check_op(
          "GroupNormalization",
          {in(x), cst(random_tensor(t, {6}, 4)), cst(random_tensor(t, {6}, 5))},
          [groups](ILayer& l) { l.set_int("num_groups", groups); }, tolerance_for(t));
    }
  }
  // A large group (the one-block-per-group path with many elements) and a 3-D input.
  check_op("GroupNormalization",
           {in(random_tensor(DataType::kFloat32, {1, 8, 64, 64}, 6)),
            cst(random_tensor(DataType::kFloat32, {8}, 7)),
            cst(random_tensor(DataType::kFloat32, {8}, 8))},
           [](ILayer& l) { l.set_int("num_groups", 2); });
  check_op("InstanceNormalization", {in(random_tensor(DataType::kFloat32, {3, 4, 9}, 9)),
                                     cst(random_tensor(DataType::kFloat32, {4}, 10)),
                                     cst(random_tensor(DataType::kFloat32, {4}, 11))});
}

TEST(GpuNormalization, LpNormalization) {
  Tensor x = random_tensor(DataType::kFloat32, {4, 6, 5}, 1);
  // A line of zeros along the last axis: its norm is 0 and the output 0.
  for (int64_t i = 0; i < 5; ++i) x.data<float>()[i] = 0.0f;
  for (int64_t p : {1, 2}) {
    for (int64_t a : {-1, 1, 0}) {
      const std::string d = check_op("LpNormalization", {in(x)}, [=](ILayer& l) {
        l.set_int("p", p);
        l.set_int("axis", a);
      });
      EXPECT_TRUE(has(d, "cuda_slot_norm")) << d;
    }
  }
  check_op("LpNormalization", {in(random_tensor(DataType::kFloat16, {8, 300}, 2))}, {},
           GpuOptions{kHalfTolerance});
}

TEST(GpuNormalization, MeanVarianceNormalization) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 4, 5, 6}, 1, -1.0, 3.0);
  const std::string d = check_op("MeanVarianceNormalization", {in(x)});  // axes 0, 2, 3
  EXPECT_TRUE(has(d, "cuda_slot_norm")) << d;
  for (const std::vector<int64_t>& axes :
       {std::vector<int64_t>{1}, {2, 3}, {0, 1, 2, 3}, {-1}, {0}}) {
    check_op("MeanVarianceNormalization", {in(x)}, [axes](ILayer& l) { l.set_ints("axes", axes); });
  }
  check_op("MeanVarianceNormalization", {in(random_tensor(DataType::kFloat16, {2, 3, 40, 50}, 2))},
           {}, GpuOptions{kHalfTolerance});
}

TEST(GpuNormalization, Lrn) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 7, 4, 5}, 1);
  for (int64_t size : {1, 2, 3, 5, 9}) {
    const std::string d = check_op("LRN", {in(x)}, [size](ILayer& l) {
      l.set_int("size", size);
      l.set_float("alpha", 2e-3);
      l.set_float("beta", 0.6);
      l.set_float("bias", 1.5);
    });
    EXPECT_TRUE(has(d, "cuda_lrn")) << d;
  }
  check_op(
      "LRN", {in(random_tensor(DataType::kFloat16, {1, 16, 9, 9}, 2))},
      [](ILayer& l) { l.set_int("size", 5); }, GpuOptions{kHalfTolerance});
}

// ---------------------------------------------------------------------------------------------
// Pooling

std::function<void(ILayer&)> window(const std::vector<int64_t>& kernel,
                                    const std::vector<int64_t>& strides,
                                    const std::vector<int64_t>& pads,
                                    const std::vector<int64_t>& dilations, bool ceil) {
  return [=](ILayer& l) {
    l.set_ints("kernel_shape", kernel);
    if (!strides.empty()) l.set_ints("strides", strides);
    if (!pads.empty()) l.set_ints("pads", pads);
    if (!dilations.empty()) l.set_ints("dilations", dilations);
    l.set_int("ceil_mode", ceil ? 1 : 0);
  };
}

TEST(GpuNormalization, MaxPoolVariantsAndIndices) {
  // Small integers as floats: ties, which the first maximum in window order wins.
  const Tensor x2 =
      random_tensor(DataType::kInt32, {2, 3, 9, 10}, 1, -3, 3).cast(DataType::kFloat32);
  const Tensor x3 = random_tensor(DataType::kFloat32, {1, 2, 7, 8, 9}, 2);
  for (int64_t order : {0, 1}) {
    SCOPED_TRACE(order);
    auto with_order = [order](std::function<void(ILayer&)> f) {
      return [=](ILayer& l) {
        f(l);
        l.set_int("storage_order", order);
      };
    };
    const std::string d = check_op(
        "MaxPool", {in(x2)}, with_order(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false)), {}, 2);
    EXPECT_TRUE(has(d, "cuda_pool_direct")) << d;
    check_op("MaxPool", {in(x2)}, with_order(window({3, 2}, {2, 3}, {1, 0, 1, 1}, {2, 1}, true)),
             {}, 2);
    check_op("MaxPool", {in(x3)}, with_order(window({2, 3, 2}, {2, 1, 2}, {}, {2, 1, 3}, false)),
             {}, 2);
    check_op("MaxPool", {in(random_tensor(DataType::kFloat32, {2, 3, 15}, 3))},
             with_order(window({4}, {3}, {2, 1}, {2}, true)), {}, 2);
  }
  for (const char* pad : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    check_op("MaxPool", {in(x3)}, [pad](ILayer& l) {
      l.set_ints("kernel_shape", {3, 2, 2});
      l.set_ints("strides", {2, 2, 1});
      l.set_string("auto_pad", pad);
    });
  }
  for (DataType t : {DataType::kInt8, DataType::kUInt8}) {
    const Tensor q = random_tensor(t, {1, 2, 6, 7}, 4, t == DataType::kInt8 ? -128 : 0,
                                   t == DataType::kInt8 ? 127 : 255);
    check_op("MaxPool", {in(q)}, window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true), {}, 2);
  }
  check_op("MaxPool", {in(random_tensor(DataType::kFloat16, {2, 4, 11, 11}, 5))},
           window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false), GpuOptions{kHalfTolerance}, 2);
}

// kiln's channels-last pools (layout NHWC: x [N, H, W, C]), as transpose cancellation makes
// them between NHWC convolutions: vectors of 8 (16-bit), 4 (float32) and 16 (int8) channels, and
// one channel at a time where C is not a multiple.
TEST(GpuNormalization, ChannelsLastPools) {
  auto nhwc = [](std::function<void(ILayer&)> f, int64_t include_pad = -1) {
    return [=](ILayer& l) {
      f(l);
      l.set_string("layout", "NHWC");
      if (include_pad >= 0) l.set_int("count_include_pad", include_pad);
    };
  };
  const GpuOptions half{kHalfTolerance};
  for (int64_t channels : {16, 6}) {
    SCOPED_TRACE(channels);
    const Tensor h = random_tensor(DataType::kFloat16, {2, 11, 11, channels}, 1);
    const std::string d =
        check_op("MaxPool", {in(h)}, nhwc(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false)), half);
    EXPECT_TRUE(has(d, "cuda_pool_direct")) << d;
    check_op("MaxPool", {in(h.cast(DataType::kBFloat16))},
             nhwc(window({2, 3}, {1, 2}, {0, 1, 1, 0}, {2, 1}, true)), GpuOptions{3e-2});
    check_op("AveragePool", {in(h)}, nhwc(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true), 1), half);
    check_op("AveragePool", {in(h)}, nhwc(window({2, 2}, {2, 2}, {0, 0, 1, 1}, {}, false), 0),
             half);
  }
  const Tensor f = random_tensor(DataType::kFloat32, {3, 7, 9, 12}, 2);
  check_op("MaxPool", {in(f)}, nhwc(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false)));
  check_op("AveragePool", {in(f)}, nhwc(window({3, 2}, {2, 1}, {1, 0, 1, 1}, {}, true), 1));
  const Tensor q = random_tensor(DataType::kInt8, {1, 6, 7, 32}, 3, -128, 127);
  check_op("MaxPool", {in(q)}, nhwc(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false)));
}

TEST(GpuNormalization, AverageAndLpPoolVariants) {
  const Tensor x2 = random_tensor(DataType::kFloat32, {2, 3, 10, 11}, 1);
  const Tensor x3 = random_tensor(DataType::kFloat32, {1, 2, 9, 8, 7}, 2);
  for (int64_t include_pad : {0, 1}) {
    auto avg = [include_pad](std::function<void(ILayer&)> f) {
      return [=](ILayer& l) {
        f(l);
        l.set_int("count_include_pad", include_pad);
      };
    };
    check_op("AveragePool", {in(x2)}, avg(window({3, 3}, {2, 2}, {1, 1, 2, 2}, {}, true)));
    check_op("AveragePool", {in(x2)}, avg(window({2, 3}, {1, 2}, {1, 1, 1, 1}, {2, 2}, false)));
    check_op("AveragePool", {in(x3)},
             avg(window({3, 2, 3}, {2, 2, 2}, {1, 0, 1, 1, 1, 0}, {2, 1, 1}, true)));
    check_op("AveragePool", {in(x3)}, avg([](ILayer& l) {
               l.set_ints("kernel_shape", {2, 3, 3});
               l.set_string("auto_pad", "SAME_UPPER");
             }));
  }
  for (int64_t p : {1, 2, 3}) {
    auto lp = [p](std::function<void(ILayer&)> f) {
      return [=](ILayer& l) {
        f(l);
        l.set_int("p", p);
      };
    };
    const std::string d =
        check_op("LpPool", {in(x2)}, lp(window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, false)));
    EXPECT_TRUE(has(d, "cuda_pool_direct")) << d;
    check_op("LpPool", {in(x2)}, lp(window({2, 2}, {1, 1}, {}, {2, 2}, false)));
    check_op("LpPool", {in(x3)}, lp(window({2, 2, 2}, {2, 2, 2}, {}, {}, false)));
    check_op("LpPool", {in(random_tensor(DataType::kFloat32, {1, 3, 32}, 3))},
             lp(window({3}, {2}, {1, 1}, {}, false)));
    check_op("GlobalLpPool", {in(random_tensor(DataType::kFloat32, {2, 3, 7, 9}, 4))},
             [p](ILayer& l) { l.set_int("p", p); });
  }
  check_op("AveragePool", {in(random_tensor(DataType::kFloat16, {2, 4, 12, 12}, 5))},
           window({3, 3}, {2, 2}, {1, 1, 1, 1}, {}, true), GpuOptions{kHalfTolerance});
}

// ---------------------------------------------------------------------------------------------
// Reductions

TEST(GpuNormalization, ReduceLogSumExpAndKeepdims) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 4, 5}, 1, -20.0, 20.0);
  for (const std::vector<int64_t>& axes : {std::vector<int64_t>{1}, {0, 2}, {-1}}) {
    for (int64_t keep : {0, 1}) {
      const std::string d = check_op("ReduceLogSumExp", {in(x), cst(ints(axes))},
                                     [keep](ILayer& l) { l.set_int("keepdims", keep); });
      EXPECT_TRUE(has(d, "cuda_reduce")) << d;
    }
  }
  check_op("ReduceLogSumExp", {in(x)});  // every axis
  check_op("ReduceLogSumExp", {in(random_tensor(DataType::kFloat32, {4, 3000}, 2, -50.0, 50.0)),
                               cst(ints({1}))});  // block per slot
  check_op("ReduceLogSumExp", {in(random_tensor(DataType::kFloat16, {6, 200}, 3)), cst(ints({1}))},
           {}, GpuOptions{kHalfTolerance});
  // noop_with_empty_axes: no axes copies the input.
  check_op("ReduceSum", {in(x)}, [](ILayer& l) { l.set_int("noop_with_empty_axes", 1); });
}

TEST(GpuNormalization, IntegerReductions) {
  for (DataType t : {DataType::kInt32, DataType::kInt64}) {
    const Tensor x = random_tensor(t, {3, 4, 5}, 1, -9, 9);
    const Tensor positive = random_tensor(t, {3, 4, 5}, 2, 1, 9);
    for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                           "ReduceSumSquare", "ReduceL1", "ReduceL2"}) {
      SCOPED_TRACE(op);
      const std::string d = check_op(op, {in(x), cst(ints({1}))});
      EXPECT_TRUE(has(d, "cuda_reduce")) << d;
      check_op(op, {in(x), cst(ints({0, 2}))}, [](ILayer& l) { l.set_int("keepdims", 0); });
      check_op(op, {in(x)});
    }
    for (const char* op : {"ReduceLogSum", "ReduceLogSumExp"}) {
      check_op(op, {in(positive), cst(ints({2}))});
    }
  }
  // int32 products wrap as on the CPU.
  check_op("ReduceProd",
           {in(random_tensor(DataType::kInt32, {2, 40}, 3, 100, 1000)), cst(ints({1}))});
  for (DataType t : {DataType::kInt8, DataType::kUInt8, DataType::kBool}) {
    const Tensor x = random_tensor(t, {4, 6}, 4, 0, 100);
    for (const char* op : {"ReduceMax", "ReduceMin"}) check_op(op, {in(x), cst(ints({1}))});
  }
}

TEST(GpuNormalization, ArgExtremesOfSmallIntegers) {
  for (DataType t : {DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt32}) {
    const Tensor x = random_tensor(t, {4, 6, 5}, 1, 0, 3);  // ties
    for (const char* op : {"ArgMax", "ArgMin"}) {
      for (int64_t last : {0, 1}) {
        const std::string d = check_op(op, {in(x)}, [last](ILayer& l) {
          l.set_int("axis", 1);
          l.set_int("select_last_index", last);
        });
        EXPECT_TRUE(has(d, "cuda_arg_extreme")) << d;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Losses

TEST(GpuNormalization, NegativeLogLikelihoodAndSoftmaxCrossEntropy) {
  struct Case {
    Dims input;
    Dims target;
  };
  const std::vector<Case> cases = {{{6, 5}, {6}}, {{3, 5, 2}, {3, 2}}, {{2, 4, 3, 5}, {2, 3, 5}}};
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const Tensor input = random_tensor(DataType::kFloat32, c.input, seed++, -3.0, 1.0);
    const Tensor target = random_tensor(DataType::kInt64, c.target, seed++, 0, c.input[1] - 1);
    const Tensor weight = random_tensor(DataType::kFloat32, {c.input[1]}, seed++, 0.2, 2.0);
    for (const char* reduction : {"none", "sum", "mean"}) {
      for (bool weighted : {false, true}) {
        for (bool ignore : {false, true}) {
          SCOPED_TRACE(cat(to_string(c.input), " ", reduction, weighted ? " weighted" : "",
                           ignore ? " ignore_index" : ""));
          auto attrs = [=](ILayer& l) {
            l.set_string("reduction", reduction);
            if (ignore) l.set_int("ignore_index", 2);
          };
          std::vector<std::optional<gpu_test::Operand>> operands = {in(input), in(target)};
          if (weighted) operands.push_back(cst(weight));
          const std::string d = check_op("NegativeLogLikelihoodLoss", operands, attrs);
          EXPECT_TRUE(has(d, "cuda_loss")) << d;
          check_op("SoftmaxCrossEntropyLoss", operands, attrs);
          check_op("SoftmaxCrossEntropyLoss", operands, attrs, GpuOptions{}, 2);  // log_prob
        }
      }
    }
  }
  // int32 targets, a negative ignore_index, float16.
  const Tensor target32 = random_tensor(DataType::kInt32, {4, 3}, 20, -1, 4);
  check_op(
      "SoftmaxCrossEntropyLoss",
      {in(random_tensor(DataType::kFloat32, {4, 5, 3}, 21)), in(target32)},
      [](ILayer& l) { l.set_int("ignore_index", -1); }, GpuOptions{}, 2);
  check_op(
      "NegativeLogLikelihoodLoss",
      {in(random_tensor(DataType::kFloat16, {8, 10}, 22, -4.0, 0.0)),
       in(random_tensor(DataType::kInt64, {8}, 23, 0, 9))},
      [](ILayer& l) { l.set_string("reduction", "sum"); }, GpuOptions{kHalfTolerance});
  // Every sample ignored: mean is NaN on both sides.
  check_op("NegativeLogLikelihoodLoss",
           {in(random_tensor(DataType::kFloat32, {3, 4}, 24)), in(ints({1, 1, 1}))},
           [](ILayer& l) { l.set_int("ignore_index", 1); });
}

// ---------------------------------------------------------------------------------------------
// RotaryEmbedding, GridSample, RoiAlign

TEST(GpuNormalization, RotaryEmbedding) {
  const Tensor x4 = random_tensor(DataType::kFloat32, {2, 4, 3, 8}, 1);
  const Tensor positions = random_tensor(DataType::kInt64, {2, 3}, 2, 0, 49);
  for (int64_t interleaved : {0, 1}) {
    for (int64_t rotary_dim : {0, 4}) {
      const int64_t half = (rotary_dim == 0 ? 8 : rotary_dim) / 2;
      auto attrs = [=](ILayer& l) {
        l.set_int("interleaved", interleaved);
        if (rotary_dim) l.set_int("rotary_embedding_dim", rotary_dim);
      };
      const std::string d =
          check_op("RotaryEmbedding",
                   {in(x4), cst(random_tensor(DataType::kFloat32, {50, half}, 3)),
                    cst(random_tensor(DataType::kFloat32, {50, half}, 4)), in(positions)},
                   attrs);
      EXPECT_TRUE(has(d, "cuda_rotary_embedding")) << d;
      // Without position_ids: caches per (batch, seq).
      check_op("RotaryEmbedding",
               {in(x4), in(random_tensor(DataType::kFloat32, {2, 3, half}, 5)),
                in(random_tensor(DataType::kFloat32, {2, 3, half}, 6))},
               attrs);
    }
  }
  // 3-D input [batch, seq, heads * head_size], float16.
  check_op(
      "RotaryEmbedding",
      {in(random_tensor(DataType::kFloat16, {2, 3, 32}, 7)),
       cst(random_tensor(DataType::kFloat16, {50, 4}, 8)),
       cst(random_tensor(DataType::kFloat16, {50, 4}, 9)), in(positions)},
      [](ILayer& l) { l.set_int("num_heads", 4); }, GpuOptions{kHalfTolerance});
}

TEST(GpuNormalization, GridSampleModesAndPadding) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 5, 6}, 1);
  // Positions beyond [-1, 1] exercise the padding; the exact values hit nearest's ties.
  Tensor grid = random_tensor(DataType::kFloat32, {2, 4, 7, 2}, 2, -1.6, 1.6);
  const std::vector<float> exact = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 0.2f, -0.2f, 0.6f};
  for (size_t i = 0; i < exact.size(); ++i) grid.data<float>()[i] = exact[i];
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* padding : {"zeros", "border", "reflection"}) {
      for (int64_t align : {0, 1}) {
        SCOPED_TRACE(cat(mode, " ", padding, " ", align));
        const std::string d = check_op("GridSample", {in(x), in(grid)}, [=](ILayer& l) {
          l.set_string("mode", mode);
          l.set_string("padding_mode", padding);
          l.set_int("align_corners", align);
        });
        EXPECT_TRUE(has(d, "cuda_grid_sample")) << d;
      }
    }
  }
  // Volumetric (3-D) sampling and float16 images.
  const Tensor volume = random_tensor(DataType::kFloat32, {1, 2, 3, 4, 5}, 3);
  const Tensor grid3 = random_tensor(DataType::kFloat32, {1, 2, 3, 4, 3}, 4, -1.3, 1.3);
  for (const char* mode : {"nearest", "linear"}) {
    check_op("GridSample", {in(volume), in(grid3)}, [=](ILayer& l) { l.set_string("mode", mode); });
  }
  check_op("GridSample", {in(x.cast(DataType::kFloat16)), in(grid)}, {},
           GpuOptions{kHalfTolerance});
}

TEST(GpuNormalization, RoiAlign) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 10, 12}, 1);
  const Tensor rois = floats({4, 4}, {0.0f, 0.0f, 9.0f, 9.0f,       //
                                      1.5f, 2.0f, 7.25f, 5.5f,      //
                                      5.0f, 5.0f, 5.5f, 5.2f,       // smaller than a pixel
                                      -2.0f, 8.0f, 14.0f, 11.0f});  // partly off the map
  const Tensor batch = ints({0, 1, 1, 0});
  for (const char* mode : {"avg", "max"}) {
    for (const char* transform : {"half_pixel", "output_half_pixel"}) {
      for (int64_t ratio : {0, 2}) {
        SCOPED_TRACE(cat(mode, " ", transform, " ", ratio));
        const std::string d = check_op("RoiAlign", {in(x), in(rois), in(batch)}, [=](ILayer& l) {
          l.set_string("mode", mode);
          l.set_string("coordinate_transformation_mode", transform);
          l.set_int("sampling_ratio", ratio);
          l.set_int("output_height", 3);
          l.set_int("output_width", 4);
          l.set_float("spatial_scale", 0.9);
        });
        EXPECT_TRUE(has(d, "cuda_roi_align")) << d;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
