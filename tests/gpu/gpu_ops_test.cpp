// Every op with a CUDA kernel against the CPU backend, on random inputs, through one-node
// networks built with the public API. float32 must agree to 1e-5 relative L2 (5e-3 for TF32
// matrix products); float16/bfloat16 (float32 math, rounded on store) to a few ulps of their
// precision; integer and bool results exactly. Where there is no GPU, each test still builds
// its GPU engine (checking the tactic choice) and then skips.
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

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
using gpu_test::scalar;

// ---------------------------------------------------------------------------------------------
// Elementwise

TEST(GpuOps, BinaryArithmeticWithBroadcasting) {
  const Tensor a = random_tensor(DataType::kFloat32, {2, 3, 4}, 1);
  const Tensor b = random_tensor(DataType::kFloat32, {3, 1}, 2);
  const Tensor positive = random_tensor(DataType::kFloat32, {2, 3, 4}, 3, 0.5, 2.0);
  for (const char* op : {"Add", "Sub", "Mul", "Max", "Min"}) {
    const std::string d = check_op(op, {in(a), in(b)});
    EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
    check_op(op, {in(a), in(random_tensor(DataType::kFloat32, {2, 3, 4}, 4))});  // same shapes
    check_op(op, {in(random_tensor(DataType::kFloat32, {}, 5)), in(a)});         // scalar
  }
  check_op("Div", {in(a), in(random_tensor(DataType::kFloat32, {4}, 6, 0.5, 2.0))});
  check_op("Pow", {in(positive), in(random_tensor(DataType::kFloat32, {1, 4}, 7, -2.0, 2.0))});
  check_op("Pow", {in(positive), cst(scalar(2.0f))});  // x^2, as layer norms export it
  check_op("PRelu", {in(a), cst(random_tensor(DataType::kFloat32, {4}, 8))});
}

TEST(GpuOps, BinaryFloat16AndBfloat16) {
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    for (const char* op : {"Add", "Mul", "Div", "Max"}) {
      check_op(op, {in(random_tensor(t, {4, 5, 6}, 1)), in(random_tensor(t, {6}, 2, 0.5, 2.0))}, {},
               GpuOptions{2e-3});
    }
  }
}

TEST(GpuOps, BinaryIntegersWrapAndTruncate) {
  for (DataType t : {DataType::kInt32, DataType::kInt64}) {
    const Tensor a = random_tensor(t, {3, 7}, 1, -1000, 1000);
    const Tensor b = random_tensor(t, {7}, 2, 1, 9);
    const Tensor neg = random_tensor(t, {3, 1}, 3, -9, -1);
    for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
      check_op(op, {in(a), in(b)});
      check_op(op, {in(a), in(neg)});
    }
  }
  // int32 overflow wraps as on the CPU.
  const Tensor big =
      Tensor::from_vector<int32_t>(DataType::kInt32, {3}, {2147483647, -2147483647 - 1, 7});
  check_op("Add", {in(big), in(big)});
  check_op("Mul", {in(big), in(big)});
}

TEST(GpuOps, VariadicMaxMinSum) {
  const Tensor a = random_tensor(DataType::kFloat32, {2, 1, 4}, 1);
  const Tensor b = random_tensor(DataType::kFloat32, {3, 1}, 2);
  const Tensor c = random_tensor(DataType::kFloat32, {2, 3, 4}, 3);
  for (const char* op : {"Max", "Min", "Sum"}) check_op(op, {in(a), in(b), in(c)});
}

TEST(GpuOps, ComparisonsAndLogic) {
  // Small integers as floats, so that equal pairs occur.
  const Tensor a = random_tensor(DataType::kInt32, {4, 6}, 1, -2, 2).cast(DataType::kFloat32);
  const Tensor b = random_tensor(DataType::kInt32, {6}, 2, -2, 2).cast(DataType::kFloat32);
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
    check_op(op, {in(a), in(b)});
    check_op(op, {in(a.cast(DataType::kInt64)), in(b.cast(DataType::kInt64))});
    check_op(op, {in(a.cast(DataType::kFloat16)), in(b.cast(DataType::kFloat16))});
  }
  const Tensor p = random_tensor(DataType::kBool, {3, 4}, 3);
  const Tensor q = random_tensor(DataType::kBool, {4}, 4);
  for (const char* op : {"And", "Or", "Xor", "Equal"}) check_op(op, {in(p), in(q)});
  check_op("Not", {in(p)});
}

TEST(GpuOps, WhereWithBroadcasting) {
  const Tensor cond = random_tensor(DataType::kBool, {2, 1, 4}, 1);
  check_op("Where", {in(cond), in(random_tensor(DataType::kFloat32, {3, 4}, 2)),
                     in(random_tensor(DataType::kFloat32, {2, 3, 1}, 3))});
  check_op("Where", {in(cond), in(random_tensor(DataType::kInt64, {3, 4}, 4, -9, 9)),
                     in(random_tensor(DataType::kInt64, {1}, 5, -9, 9))});
  check_op("Where", {in(cond), in(random_tensor(DataType::kFloat16, {4}, 6)),
                     in(random_tensor(DataType::kFloat16, {3, 1}, 7))});
}

TEST(GpuOps, UnaryMath) {
  const Tensor x = random_tensor(DataType::kFloat32, {5, 33}, 1, -3.0, 3.0);
  const Tensor positive = random_tensor(DataType::kFloat32, {5, 33}, 2, 0.1, 4.0);
  for (const char* op :
       {"Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Neg", "Abs", "Sign", "Floor", "Ceil", "Round",
        "Sin", "Cos", "Softplus", "Softsign", "HardSwish", "Mish"}) {
    const std::string d = check_op(op, {in(x)});
    EXPECT_TRUE(has(d, "cuda_unary")) << d;
  }
  for (const char* op : {"Log", "Sqrt", "Reciprocal"}) check_op(op, {in(positive)});
}

TEST(GpuOps, ActivationsWithAttributes) {
  const Tensor x = random_tensor(DataType::kFloat32, {4, 50}, 1, -4.0, 4.0);
  check_op("LeakyRelu", {in(x)}, [](ILayer& l) { l.set_float("alpha", 0.2); });
  check_op("LeakyRelu", {in(x)});
  check_op("Elu", {in(x)}, [](ILayer& l) { l.set_float("alpha", 0.5); });
  check_op("Selu", {in(x)});
  check_op("HardSigmoid", {in(x)}, [](ILayer& l) {
    l.set_float("alpha", 0.3);
    l.set_float("beta", 0.4);
  });
  check_op("ThresholdedRelu", {in(x)}, [](ILayer& l) { l.set_float("alpha", 0.3); });
  check_op("Gelu", {in(x)});
  check_op("Gelu", {in(x)}, [](ILayer& l) { l.set_string("approximate", "tanh"); });
  check_op("Clip", {in(x), cst(scalar(-1.0f)), cst(scalar(2.5f))});
  check_op("Clip", {in(x), std::nullopt, cst(scalar(1.0f))});
  check_op("Clip", {in(x), cst(scalar(0.0f))});
}

TEST(GpuOps, UnaryFloat16AndBfloat16) {
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    const Tensor x = random_tensor(t, {8, 17}, 1, -3.0, 3.0);
    for (const char* op : {"Relu", "Sigmoid", "Tanh", "Exp", "Gelu", "Erf"}) {
      check_op(op, {in(x)}, {}, GpuOptions{3e-3});
    }
  }
}

TEST(GpuOps, IntegerUnary) {
  for (DataType t : {DataType::kInt32, DataType::kInt64}) {
    for (const char* op : {"Relu", "Neg", "Abs", "Sign"}) {
      check_op(op, {in(random_tensor(t, {3, 9}, 1, -100, 100))});
    }
  }
}

TEST(GpuOps, Cast) {
  auto to = [](DataType t) { return [t](ILayer& l) { l.set_int("to", int64_t(t)); }; };
  const Tensor x = random_tensor(DataType::kFloat32, {6, 7}, 1, -100.0, 100.0);
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16, DataType::kInt32, DataType::kInt64,
                     DataType::kInt8, DataType::kBool}) {
    const std::string d = check_op("Cast", {in(x)}, to(t));
    EXPECT_TRUE(has(d, "cuda_cast")) << d;
  }
  const Tensor small = random_tensor(DataType::kInt64, {5, 5}, 2, -1, 1);
  check_op("Cast", {in(small.cast(DataType::kFloat32))}, to(DataType::kBool));  // zeros too
  check_op("Cast", {in(small)}, to(DataType::kFloat32));
  check_op("Cast", {in(small)}, to(DataType::kInt32));
  check_op("Cast", {in(random_tensor(DataType::kInt64, {9}, 3, -100000, 100000))},
           to(DataType::kInt32));
  check_op("Cast", {in(random_tensor(DataType::kBool, {9}, 4))}, to(DataType::kFloat32));
  check_op("Cast", {in(x.cast(DataType::kFloat16))}, to(DataType::kFloat32));
  check_op("Cast", {in(x.cast(DataType::kBFloat16))}, to(DataType::kFloat16));
  check_op("Cast", {in(x)}, to(DataType::kFloat32));  // same type: a copy
}

// ---------------------------------------------------------------------------------------------
// Softmax, normalization, reductions

TEST(GpuOps, SoftmaxAndLogSoftmax) {
  auto axis = [](int64_t a) { return [a](ILayer& l) { l.set_int("axis", a); }; };
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    check_op(op, {in(random_tensor(DataType::kFloat32, {4, 37}, 1, -5.0, 5.0))});
    check_op(op, {in(random_tensor(DataType::kFloat32, {3, 1000}, 2, -5.0, 5.0))});
    check_op(op, {in(random_tensor(DataType::kFloat32, {2, 5, 7}, 3, -5.0, 5.0))}, axis(1));
    check_op(op, {in(random_tensor(DataType::kFloat32, {6, 4}, 4, -5.0, 5.0))}, axis(0));
    check_op(op, {in(random_tensor(DataType::kFloat16, {4, 300}, 5, -5.0, 5.0))}, {},
             GpuOptions{3e-3});
  }
}

TEST(GpuOps, Float64SoftmaxMatMulAndGemm) {
  auto axis = [](int64_t a) { return [a](ILayer& l) { l.set_int("axis", a); }; };
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    SCOPED_TRACE(op);
    const Tensor x = random_tensor(DataType::kFloat64, {3, 5, 40}, 8, -30.0, 30.0);
    const std::string d = check_op(op, {in(x)}, {}, GpuOptions{1e-13});
    EXPECT_TRUE(has(d, "cuda_softmax")) << d;
    check_op(op, {in(x)}, axis(1), GpuOptions{1e-13});
  }
  const Tensor a = random_tensor(DataType::kFloat64, {2, 3, 6, 9}, 9);
  std::string d =
      check_op("MatMul", {in(a), in(random_tensor(DataType::kFloat64, {2, 1, 9, 4}, 10))}, {},
               GpuOptions{1e-13});
  EXPECT_TRUE(has(d, "cublaslt_matmul")) << d;
  check_op("MatMul", {in(a), cst(random_tensor(DataType::kFloat64, {9, 5}, 11))}, {},
           GpuOptions{1e-13});
  // Gemm's bias goes through the copy into Y (no cuBLASLt epilogue for double).
  d = check_op(
      "Gemm",
      {in(random_tensor(DataType::kFloat64, {5, 7}, 12)),
       cst(random_tensor(DataType::kFloat64, {7, 4}, 13)),
       cst(random_tensor(DataType::kFloat64, {4}, 14))},
      [](ILayer& l) { l.set_float("alpha", 0.5); }, GpuOptions{1e-13});
  EXPECT_TRUE(has(d, "cublaslt_gemm")) << d;
}

TEST(GpuOps, LayerNormalization) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 5, 16}, 1);
  const std::string d =
      check_op("LayerNormalization", {in(x), cst(random_tensor(DataType::kFloat32, {16}, 2)),
                                      cst(random_tensor(DataType::kFloat32, {16}, 3))});
  EXPECT_TRUE(has(d, "cuda_layer_norm")) << d;
  check_op("LayerNormalization", {in(x), cst(random_tensor(DataType::kFloat32, {5, 16}, 4))},
           [](ILayer& l) {
             l.set_int("axis", 1);
             l.set_float("epsilon", 1e-3);
           });
  check_op("LayerNormalization", {in(random_tensor(DataType::kFloat32, {2, 700}, 5)),
                                  in(random_tensor(DataType::kFloat32, {700}, 6)),
                                  in(random_tensor(DataType::kFloat32, {700}, 7))});
  const Tensor h = random_tensor(DataType::kFloat16, {4, 64}, 8);
  check_op("LayerNormalization",
           {in(h), cst(random_tensor(DataType::kFloat16, {64}, 9)),
            cst(random_tensor(DataType::kFloat16, {64}, 10))},
           {}, GpuOptions{3e-3});
}

TEST(GpuOps, BatchNormalization) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 5, 6}, 1);
  auto param = [](uint32_t seed, double lo, double hi) {
    return cst(random_tensor(DataType::kFloat32, {3}, seed, lo, hi));
  };
  const std::string d = check_op(
      "BatchNormalization",
      {in(x), param(2, 0.5, 2.0), param(3, -1.0, 1.0), param(4, -1.0, 1.0), param(5, 0.1, 2.0)},
      [](ILayer& l) { l.set_float("epsilon", 1e-3); });
  EXPECT_TRUE(has(d, "cuda_batch_norm")) << d;
  check_op("BatchNormalization",
           {in(random_tensor(DataType::kFloat32, {4, 3}, 6)), param(2, 0.5, 2.0),
            param(3, -1.0, 1.0), param(4, -1.0, 1.0), param(5, 0.1, 2.0)});
}

TEST(GpuOps, Reductions) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 4, 5}, 1, 0.5, 1.5);
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                         "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum"}) {
    const std::string d = check_op(op, {in(x), cst(ints({1}))});
    EXPECT_TRUE(has(d, "cuda_reduce")) << d;
    check_op(op, {in(x), cst(ints({0, 2}))}, [](ILayer& l) { l.set_int("keepdims", 0); });
    check_op(op, {in(x), cst(ints({-1}))});
    check_op(op, {in(x)});  // every axis
  }
  // Long contiguous rows take the block-per-row kernel.
  const Tensor wide = random_tensor(DataType::kFloat32, {4, 3000}, 2);
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2"}) {
    check_op(op, {in(wide), cst(ints({1}))});
    check_op(op, {in(wide), cst(ints({0}))});
  }
  check_op("ReduceMean", {in(random_tensor(DataType::kFloat16, {8, 300}, 3)), cst(ints({-1}))}, {},
           GpuOptions{3e-3});
}

TEST(GpuOps, Float64ReductionsKeepDoublePrecision) {
  // Sums of values that float32 would round: 1 + 1e-12 survives only in double.
  const Tensor x = random_tensor(DataType::kFloat64, {3, 4, 500}, 4, 0.5, 1.5);
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceProd", "ReduceL2",
                         "ReduceLogSumExp", "ReduceSumSquare"}) {
    SCOPED_TRACE(op);
    const std::string d = check_op(op, {in(x), cst(ints({1}))}, {}, GpuOptions{1e-12});
    EXPECT_TRUE(has(d, "cuda_reduce")) << d;
    check_op(op, {in(x), cst(ints({-1}))}, {}, GpuOptions{1e-12});  // the block-per-row kernel
    check_op(op, {in(x)}, {}, GpuOptions{1e-12});                   // every axis
  }
  const Tensor tiny = Tensor::from_vector<double>(DataType::kFloat64, {2}, {1.0, 1e-12});
  check_op("ReduceSum", {in(tiny)}, {}, GpuOptions{1e-15});
}

// ---------------------------------------------------------------------------------------------
// Data movement

TEST(GpuOps, TransposeAnyElementSize) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kBool}) {
    const Tensor x = random_tensor(t, {2, 3, 4, 5}, 1, -50, 50);
    const std::string d = check_op("Transpose", {in(x)}, [](ILayer& l) {
      l.set_ints("perm", {0, 2, 1, 3});
    });
    EXPECT_TRUE(has(d, "cuda_strided_copy")) << d;
    check_op("Transpose", {in(x)});  // dims reversed
  }
}

TEST(GpuOps, ConcatSliceSplit) {
  const Tensor a = random_tensor(DataType::kFloat32, {2, 3, 4}, 1);
  const Tensor b = random_tensor(DataType::kFloat32, {2, 1, 4}, 2);
  const Tensor c = random_tensor(DataType::kFloat32, {2, 5, 4}, 3);
  check_op("Concat", {in(a), in(b), in(c)}, [](ILayer& l) { l.set_int("axis", 1); });
  check_op("Concat", {in(a), in(a)}, [](ILayer& l) { l.set_int("axis", -1); });
  check_op("Concat", {in(a), in(a)}, [](ILayer& l) { l.set_int("axis", 0); });
  const Tensor x = random_tensor(DataType::kFloat32, {6, 7, 8}, 4);
  check_op("Slice",
           {in(x), cst(ints({1, -2})), cst(ints({5, 1})), cst(ints({0, 2})), cst(ints({2, -3}))});
  check_op("Slice",
           {in(x), cst(ints({0})), cst(ints({INT64_MAX})), cst(ints({1})), cst(ints({3}))});
  check_op("Slice", {in(x), cst(ints({-1})), cst(ints({-100})), cst(ints({0})), cst(ints({-1}))});
  check_op("Slice", {in(x.cast(DataType::kInt64)), cst(ints({2})), cst(ints({4})), cst(ints({2}))});
  check_op(
      "Split", {in(x), cst(ints({2, 1, 5}))}, [](ILayer& l) { l.set_int("axis", 2); }, {}, 3);
}

TEST(GpuOps, Gather) {
  const Tensor table = random_tensor(DataType::kFloat32, {10, 6}, 1);
  const Tensor idx = Tensor::from_vector<int64_t>(DataType::kInt64, {2, 3}, {0, 9, -1, 4, 4, -10});
  const std::string d = check_op("Gather", {in(table), in(idx)});
  EXPECT_TRUE(has(d, "cuda_gather")) << d;
  check_op("Gather", {in(table), cst(idx)});
  const Tensor idx32 = Tensor::from_vector<int32_t>(DataType::kInt32, {4}, {4, 0, -2, 3});
  check_op("Gather", {in(table), in(idx32)}, [](ILayer& l) { l.set_int("axis", 1); });
  check_op("Gather",
           {in(random_tensor(DataType::kFloat16, {3, 4, 5}, 2)), in(idx32.cast(DataType::kInt64))},
           [](ILayer& l) { l.set_int("axis", -1); });
}

TEST(GpuOps, IsNaNAndIsInf) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::from_vector<float>(DataType::kFloat32, {6},
                                              {1.0f, std::nanf(""), inf, -inf, 0.0f, -2.5f});
  const std::string d = check_op("IsNaN", {in(x)});
  EXPECT_TRUE(has(d, "cuda_float_class")) << d;
  check_op("IsInf", {in(x)});
  check_op("IsInf", {in(x)}, [](ILayer& l) { l.set_int("detect_negative", 0); });
  check_op("IsNaN", {in(x.cast(DataType::kFloat16))});
}

TEST(GpuOps, GatherND) {
  const Tensor data = random_tensor(DataType::kFloat32, {2, 3, 4}, 1);
  // Pairs of (i, j) picking rows of 4; one negative index.
  const Tensor pairs =
      Tensor::from_vector<int64_t>(DataType::kInt64, {2, 2, 2}, {0, 1, 1, 2, -1, 0, 0, 0});
  const std::string d = check_op("GatherND", {in(data), in(pairs)});
  EXPECT_TRUE(has(d, "cuda_gather_nd")) << d;
  // batch_dims = 1: one index per batch entry picks a row of that entry.
  const Tensor rows = Tensor::from_vector<int64_t>(DataType::kInt64, {2, 1}, {2, 0});
  check_op("GatherND", {in(data), cst(rows)}, [](ILayer& l) { l.set_int("batch_dims", 1); });
  // What torch's exporter writes for BERT's attention mask: bool data, full index tuples.
  std::vector<int64_t> tuples;
  for (int64_t j = 0; j < 16; ++j) tuples.insert(tuples.end(), {0, 15 - j});
  check_op("GatherND", {in(random_tensor(DataType::kBool, {1, 16}, 3)),
                        in(Tensor::from_vector<int64_t>(DataType::kInt64, {1, 1, 16, 2}, tuples))});
}

TEST(GpuOps, ReshapeFamilyAndExpand) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 4}, 1);
  const std::string d = check_op("Reshape", {in(x), cst(ints({-1, 6}))});
  EXPECT_TRUE(has(d, "device_copy")) << d;
  check_op("Flatten", {in(x)}, [](ILayer& l) { l.set_int("axis", 2); });
  check_op("Unsqueeze", {in(x), cst(ints({0, 3}))});
  check_op("Squeeze", {in(random_tensor(DataType::kFloat32, {2, 1, 4, 1}, 2)), cst(ints({1}))});
  check_op("Identity", {in(x)});
  check_op("Expand", {in(random_tensor(DataType::kFloat32, {3, 1}, 3)), cst(ints({2, 3, 4}))});
  check_op("Expand", {in(random_tensor(DataType::kInt64, {1, 4}, 4, -9, 9)), cst(ints({3, 1}))});
}

TEST(GpuOps, PadAndTile) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 4, 5}, 1);
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    auto set_mode = [mode](ILayer& l) { l.set_string("mode", mode); };
    const std::string d = check_op("Pad", {in(x), cst(ints({1, 0, 2, 2, 3, 1}))}, set_mode);
    EXPECT_TRUE(has(d, "cuda_pad")) << d;
    check_op("Pad", {in(x), cst(ints({0, -1, 3, 1, 2, -2}))}, set_mode);  // crops too
  }
  check_op("Pad", {in(x), cst(ints({2, 1, 0, 3})), cst(scalar(1.25f)), cst(ints({0, -1}))});
  check_op("Pad", {in(random_tensor(DataType::kInt64, {2, 3}, 2, -9, 9)), cst(ints({1, 1, 1, 1}))},
           [](ILayer& l) { l.set_string("mode", "reflect"); });
  const std::string d = check_op("Tile", {in(x), cst(ints({2, 1, 3}))});
  EXPECT_TRUE(has(d, "cuda_pad")) << d;
  check_op("Tile", {in(random_tensor(DataType::kFloat16, {2, 3}, 3)), cst(ints({3, 2}))});
}

TEST(GpuOps, ArgMaxArgMinCumSum) {
  // Small integers (as floats too) so that ties occur.
  const Tensor x = random_tensor(DataType::kInt64, {4, 6, 5}, 1, -3, 3);
  for (const char* op : {"ArgMax", "ArgMin"}) {
    for (const Tensor& t : {x, x.cast(DataType::kFloat32), x.cast(DataType::kFloat16)}) {
      const std::string d = check_op(op, {in(t)}, [](ILayer& l) { l.set_int("axis", 1); });
      EXPECT_TRUE(has(d, "cuda_arg_extreme")) << d;
      check_op(op, {in(t)}, [](ILayer& l) {
        l.set_int("axis", -1);
        l.set_int("keepdims", 0);
        l.set_int("select_last_index", 1);
      });
    }
  }
  const Tensor y = random_tensor(DataType::kFloat32, {3, 7, 4}, 2);
  for (int64_t exclusive : {0, 1}) {
    for (int64_t reverse : {0, 1}) {
      auto attrs = [=](ILayer& l) {
        l.set_int("exclusive", exclusive);
        l.set_int("reverse", reverse);
      };
      const std::string d = check_op("CumSum", {in(y), cst(ints({1}))}, attrs);
      EXPECT_TRUE(has(d, "cuda_cumsum")) << d;
      check_op("CumSum", {in(x), cst(ints({-1}))}, attrs);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix products (cuBLASLt)

TEST(GpuOps, MatMulFloat32Exact) {
  struct Case {
    Dims a, b;
  };
  for (const Case& c : std::vector<Case>{{{7, 13}, {13, 5}},
                                         {{3, 7, 13}, {3, 13, 5}},      // batched
                                         {{3, 7, 13}, {13, 5}},         // folded into rows
                                         {{2, 1, 4, 6}, {1, 3, 6, 5}},  // broadcast batches
                                         {{6}, {6, 5}},
                                         {{3, 4, 6}, {6}},
                                         {{64, 200}, {200, 48}}}) {
    SCOPED_TRACE(to_string(c.a) + " x " + to_string(c.b));
    const std::string d = check_op("MatMul", {in(random_tensor(DataType::kFloat32, c.a, 1)),
                                              in(random_tensor(DataType::kFloat32, c.b, 2))});
    EXPECT_TRUE(has(d, "cublaslt_matmul")) << d;
  }
  // Weights as a constant, as in every model.
  check_op("MatMul", {in(random_tensor(DataType::kFloat32, {2, 5, 16}, 3)),
                      cst(random_tensor(DataType::kFloat32, {16, 8}, 4))});
}

TEST(GpuOps, MatMulTf32AndHalfPrecision) {
  const Tensor a = random_tensor(DataType::kFloat32, {64, 256}, 1);
  const Tensor b = random_tensor(DataType::kFloat32, {256, 32}, 2);
  check_op("MatMul", {in(a), in(b)}, {}, GpuOptions{5e-3, true});
  check_op("MatMul", {in(a.cast(DataType::kFloat16)), in(b.cast(DataType::kFloat16))}, {},
           GpuOptions{3e-3});
  check_op("MatMul", {in(a.cast(DataType::kBFloat16)), in(b.cast(DataType::kBFloat16))}, {},
           GpuOptions{8e-3});
}

TEST(GpuOps, Gemm) {
  const Tensor at = random_tensor(DataType::kFloat32, {7, 5}, 1);  // A^T: A is [5, 7]
  const Tensor bt = random_tensor(DataType::kFloat32, {4, 7}, 2);  // B^T: B is [7, 4]
  const std::string d = check_op(
      "Gemm", {in(at), cst(bt), cst(random_tensor(DataType::kFloat32, {4}, 3))}, [](ILayer& l) {
        l.set_int("transA", 1);
        l.set_int("transB", 1);
        l.set_float("alpha", 0.5);
        l.set_float("beta", 2.0);
      });
  EXPECT_TRUE(has(d, "cublaslt_gemm")) << d;
  const Tensor a = random_tensor(DataType::kFloat32, {5, 7}, 4);
  check_op("Gemm", {in(a), in(random_tensor(DataType::kFloat32, {7, 4}, 5))});
  check_op("Gemm", {in(a), in(random_tensor(DataType::kFloat32, {7, 4}, 5)),
                    in(random_tensor(DataType::kFloat32, {5, 1}, 6))});
  check_op("Gemm",
           {in(a), in(random_tensor(DataType::kFloat32, {7, 4}, 5)),
            in(random_tensor(DataType::kFloat32, {5, 4}, 7))},
           [](ILayer& l) { l.set_float("beta", 0.0); });
}

// ---------------------------------------------------------------------------------------------
// Convolution and pooling

// kiln's own convolution kernels (cuDNN's, preferred where allowed, are tested in
// gpu_cudnn_conv_test.cpp): built without the cuDNN tactic source.
GpuOptions own_kernels(double tolerance = 1e-5) {
  GpuOptions o{tolerance};
  o.tactic_sources = 1u << uint32_t(TacticSource::kCUBLAS_LT);
  return o;
}

TEST(GpuOps, ConvImplicitGemm) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 8, 9, 9}, 1);
  const std::string d = check_op(
      "Conv",
      {in(x), cst(random_tensor(DataType::kFloat32, {32, 8, 3, 3}, 2)),
       cst(random_tensor(DataType::kFloat32, {32}, 3))},
      [](ILayer& l) {
        l.set_ints("pads", {1, 1, 1, 1});
      },
      own_kernels());
  EXPECT_TRUE(has(d, "cuda_conv_implicit_gemm")) << d;
  // Strided, dilated, grouped, asymmetric padding, no bias.
  check_op(
      "Conv",
      {in(random_tensor(DataType::kFloat32, {1, 4, 11, 10}, 4)),
       cst(random_tensor(DataType::kFloat32, {32, 2, 3, 3}, 5))},
      [](ILayer& l) {
        l.set_int("group", 2);
        l.set_ints("strides", {2, 2});
        l.set_ints("dilations", {2, 1});
        l.set_ints("pads", {1, 0, 2, 1});
      },
      own_kernels());
  // 1-D with automatic padding; 1x1 with many channels.
  check_op(
      "Conv",
      {in(random_tensor(DataType::kFloat32, {2, 4, 20}, 6)),
       cst(random_tensor(DataType::kFloat32, {16, 4, 5}, 7))},
      [](ILayer& l) {
        l.set_string("auto_pad", "SAME_UPPER");
        l.set_ints("strides", {2});
      },
      own_kernels());
  check_op("Conv",
           {in(random_tensor(DataType::kFloat32, {1, 96, 7, 7}, 8)),
            cst(random_tensor(DataType::kFloat32, {80, 96, 1, 1}, 9))},
           {}, own_kernels());
  check_op(
      "Conv",
      {in(x.cast(DataType::kFloat16)), cst(random_tensor(DataType::kFloat16, {32, 8, 3, 3}, 2))},
      [](ILayer& l) {
        l.set_ints("pads", {1, 1, 1, 1});
      },
      own_kernels(3e-3));
}

TEST(GpuOps, ConvDirectForDepthwise) {
  const std::string d = check_op(
      "Conv",
      {in(random_tensor(DataType::kFloat32, {2, 6, 8, 8}, 1)),
       cst(random_tensor(DataType::kFloat32, {6, 1, 3, 3}, 2)),
       cst(random_tensor(DataType::kFloat32, {6}, 3))},
      [](ILayer& l) {
        l.set_int("group", 6);
        l.set_ints("pads", {1, 1, 1, 1});
        l.set_ints("strides", {2, 2});
      },
      own_kernels());
  EXPECT_TRUE(has(d, "cuda_conv_direct")) << d;
}

TEST(GpuOps, Pooling) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 10, 11}, 1);
  auto window = [](bool include_pad, bool ceil) {
    return [=](ILayer& l) {
      l.set_ints("kernel_shape", {3, 3});
      l.set_ints("strides", {2, 2});
      l.set_ints("pads", {1, 1, 1, 1});
      l.set_int("ceil_mode", ceil ? 1 : 0);
      if (l.type() == "AveragePool") l.set_int("count_include_pad", include_pad ? 1 : 0);
    };
  };
  for (const char* op : {"MaxPool", "AveragePool"}) {
    const std::string d = check_op(op, {in(x)}, window(false, false));
    EXPECT_TRUE(has(d, "cuda_pool_direct")) << d;
    check_op(op, {in(x)}, window(true, false));
    check_op(op, {in(x)}, window(true, true));
    check_op(op, {in(random_tensor(DataType::kFloat32, {2, 3, 15}, 2))}, [](ILayer& l) {
      l.set_ints("kernel_shape", {4});
      l.set_ints("strides", {3});
      l.set_string("auto_pad", "SAME_LOWER");
    });
  }
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    check_op(op, {in(random_tensor(DataType::kFloat32, {2, 5, 7, 9}, 3))});
  }
}

}  // namespace
}  // namespace kiln
