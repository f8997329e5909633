// The CUDA indexing and data-movement kernels against the CPU backend (check_op: one-node
// networks on random inputs): the Transpose paths (row copies, tiled transposes, odd sizes),
// Slice/Split/Expand/Concat/Gather word-wide copies, GatherElements, ScatterElements and
// ScatterND with every reduction, Trilu, CumSum/CumProd, EyeLike, ConstantOfShape,
// DepthToSpace/SpaceToDepth, ReverseSequence, Hardmax, MaxUnpool and OneHot. Moved elements
// must match exactly; float reductions (scatter add/mul with duplicates, scans) within a few
// ulps. Out-of-range indices, an error on the CPU, are checked on the GPU alone: they must not
// fault, and give the documented zeros / dropped updates.
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

Tensor int64_tensor(const Dims& shape, const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, shape, v);
}

Tensor int64_scalar(int64_t v) { return Tensor::from_vector<int64_t>(DataType::kInt64, {}, {v}); }

auto perm_attr(std::vector<int64_t> perm) {
  return [perm](ILayer& l) { l.set_ints("perm", perm); };
}

// ---------------------------------------------------------------------------------------------
// Transpose: each path of the strided copy, on sizes that leave partial tiles and words.

TEST(GpuIndexing, TransposeKeepingTheInnermostDim) {
  // Rows of 8 float16 (16-byte words), 3 int8 (bytes), 64 float16 (a ViT attention head).
  const std::string d =
      check_op("Transpose", {in(random_tensor(DataType::kFloat16, {5, 7, 3, 8}, 1))},
               perm_attr({0, 2, 1, 3}));
  EXPECT_TRUE(has(d, "cuda_strided_copy")) << d;
  check_op("Transpose", {in(random_tensor(DataType::kInt8, {4, 5, 6, 3}, 2, -100, 100))},
           perm_attr({2, 0, 1, 3}));
  check_op("Transpose", {in(random_tensor(DataType::kFloat16, {4, 197, 12, 64}, 3))},
           perm_attr({0, 2, 1, 3}));
  check_op("Transpose", {in(random_tensor(DataType::kFloat32, {2, 9, 3, 4, 5}, 4))},
           perm_attr({2, 0, 3, 1, 4}));
  check_op("Transpose", {in(random_tensor(DataType::kInt64, {3, 5, 2}, 5, -9, 9))},
           perm_attr({1, 0, 2}));
}

TEST(GpuIndexing, TransposeMovingTheInnermostDimTiled) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt8,
                     DataType::kBool}) {
    const Tensor x = random_tensor(t, {3, 37, 45}, 6, -100, 100);
    check_op("Transpose", {in(x)}, perm_attr({0, 2, 1}));
    check_op("Transpose", {in(x)});  // dims reversed
  }
  // The attention-score K^T of a transformer, with 197 tokens (7 partial tiles of 32).
  check_op("Transpose", {in(random_tensor(DataType::kFloat16, {2, 12, 197, 64}, 7))},
           perm_attr({0, 1, 3, 2}));
  // NCHW <-> NHWC with few channels (below the tile threshold: the element-wise path).
  check_op("Transpose", {in(random_tensor(DataType::kFloat32, {2, 3, 17, 19}, 8))},
           perm_attr({0, 2, 3, 1}));
  check_op("Transpose", {in(random_tensor(DataType::kFloat32, {2, 17, 19, 3}, 9))},
           perm_attr({0, 3, 1, 2}));
  // Six batch dims around the tile, and a 6-D permutation of every dim.
  check_op("Transpose", {in(random_tensor(DataType::kFloat32, {2, 3, 2, 3, 2, 9, 33}, 10))},
           perm_attr({1, 0, 3, 2, 4, 6, 5}));
  check_op("Transpose", {in(random_tensor(DataType::kFloat16, {3, 4, 5, 6, 7, 8}, 11))},
           perm_attr({5, 3, 1, 0, 4, 2}));
  check_op("Transpose", {in(random_tensor(DataType::kFloat32, {1, 40, 1, 9}, 12))},
           perm_attr({3, 2, 1, 0}));
}

// ---------------------------------------------------------------------------------------------
// Other strided copies: Slice, Split, Expand; Concat; Gather.

TEST(GpuIndexing, SliceSplitExpandWordWide) {
  const Tensor x = random_tensor(DataType::kFloat16, {6, 7, 16}, 1);
  check_op("Slice", {in(x), cst(ints({2})), cst(ints({6})), cst(ints({2}))});   // 4-byte words
  check_op("Slice", {in(x), cst(ints({8})), cst(ints({16})), cst(ints({2}))});  // 16-byte words
  check_op("Slice", {in(x), cst(ints({1, 8})), cst(ints({5, 16})), cst(ints({1, 2}))});
  check_op("Slice", {in(x), cst(ints({15})), cst(ints({-100})), cst(ints({2})), cst(ints({-3}))});
  check_op(
      "Split", {in(random_tensor(DataType::kFloat16, {3, 10, 16}, 2)), cst(ints({8, 3, 5}))},
      [](ILayer& l) { l.set_int("axis", 2); }, {}, 3);
  check_op(
      "Split", {in(random_tensor(DataType::kInt32, {9, 4}, 3, -50, 50)), cst(ints({4, 5}))},
      [](ILayer& l) { l.set_int("axis", 0); }, {}, 2);
  check_op("Expand", {in(random_tensor(DataType::kFloat16, {4, 1, 16}, 4)), cst(ints({4, 6, 16}))});
  check_op("Expand", {in(random_tensor(DataType::kFloat32, {1, 5, 1}, 5)), cst(ints({3, 5, 7}))});
  check_op("Expand", {in(random_tensor(DataType::kFloat32, {37, 1}, 6)), cst(ints({2, 37, 40}))});
}

TEST(GpuIndexing, ConcatManyInputsAndWords) {
  // Ten int8 inputs (two kernel groups), rows of odd byte counts: 1-byte words.
  std::vector<std::optional<gpu_test::Operand>> operands;
  for (int k = 0; k < 10; ++k) {
    operands.push_back(in(random_tensor(DataType::kInt8, {2, 1 + k % 3, 3}, uint32_t(k), -90, 90)));
  }
  const std::string d = check_op("Concat", operands, [](ILayer& l) { l.set_int("axis", 1); });
  EXPECT_TRUE(has(d, "cuda_copy_2d")) << d;
  // float16 rows of 8 and 16 elements: 16-byte words.
  check_op("Concat",
           {in(random_tensor(DataType::kFloat16, {4, 8}, 11)),
            in(random_tensor(DataType::kFloat16, {4, 16}, 12))},
           [](ILayer& l) { l.set_int("axis", -1); });
  // ViT's class token before the patches.
  check_op("Concat",
           {in(random_tensor(DataType::kFloat32, {3, 1, 24}, 13)),
            in(random_tensor(DataType::kFloat32, {3, 49, 24}, 14))},
           [](ILayer& l) { l.set_int("axis", 1); });
  check_op("Concat",
           {in(random_tensor(DataType::kInt64, {2, 3}, 15, -5, 5)),
            in(random_tensor(DataType::kInt64, {0, 3}, 16, -5, 5)),
            in(random_tensor(DataType::kInt64, {1, 3}, 17, -5, 5))},
           [](ILayer& l) { l.set_int("axis", 0); });
}

TEST(GpuIndexing, GatherSlabs) {
  // q/k/v selected from a stacked tensor with a scalar index (constant and runtime).
  const Tensor qkv = random_tensor(DataType::kFloat16, {3, 4, 5, 8}, 1);
  for (int64_t index : {0, 2, -1}) {
    const std::string d = check_op("Gather", {in(qkv), cst(int64_scalar(index))});
    EXPECT_TRUE(has(d, "cuda_gather")) << d;
    check_op("Gather", {in(qkv), in(int64_scalar(index))});
  }
  const Tensor idx32 = Tensor::from_vector<int32_t>(DataType::kInt32, {2}, {-1, 0});
  check_op("Gather", {in(qkv), in(idx32)}, [](ILayer& l) { l.set_int("axis", 2); });
  check_op("Gather",
           {in(random_tensor(DataType::kFloat32, {4, 6, 3}, 2)),
            in(int64_tensor({2, 2}, {5, -6, 0, 3}))},
           [](ILayer& l) { l.set_int("axis", 1); });
  check_op("Gather", {in(random_tensor(DataType::kInt8, {7, 5}, 3, -9, 9)),
                      in(int64_tensor({3}, {6, 0, -7}))});
}

// ---------------------------------------------------------------------------------------------
// GatherElements, ScatterElements, ScatterND

TEST(GpuIndexing, GatherElements) {
  const Tensor data = random_tensor(DataType::kFloat32, {4, 5}, 1);
  const std::string d =
      check_op("GatherElements", {in(data), in(random_tensor(DataType::kInt64, {3, 5}, 2, -4, 3))});
  EXPECT_TRUE(has(d, "cuda_gather_elements")) << d;
  check_op("GatherElements", {in(data), in(random_tensor(DataType::kInt32, {4, 7}, 3, -5, 4))},
           [](ILayer& l) { l.set_int("axis", 1); });
  check_op("GatherElements",
           {in(random_tensor(DataType::kFloat16, {3, 4, 6}, 4)),
            in(random_tensor(DataType::kInt64, {2, 3, 9}, 5, -6, 5))},
           [](ILayer& l) { l.set_int("axis", -1); });
  check_op("GatherElements", {in(random_tensor(DataType::kBool, {5, 2}, 6)),
                              in(random_tensor(DataType::kInt64, {8, 2}, 7, 0, 4))});
}

// Indices [rows, cols] along axis 0 of a [4, cols] tensor, distinct within each column (and
// some negative), for reduction "none", where duplicates are undefined.
Tensor distinct_rows(int64_t rows, int64_t cols) {
  std::vector<int64_t> v;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t row = (r + c) % 4;
      v.push_back((r + c) % 2 ? row - 4 : row);
    }
  }
  return int64_tensor({rows, cols}, v);
}

TEST(GpuIndexing, ScatterElementsEveryReduction) {
  const Tensor data = random_tensor(DataType::kFloat32, {4, 5}, 1);
  const std::string d = check_op(
      "ScatterElements",
      {in(data), in(distinct_rows(3, 5)), in(random_tensor(DataType::kFloat32, {3, 5}, 2))});
  EXPECT_TRUE(has(d, "cuda_scatter_elements")) << d;
  // Duplicates (6 updates per column of 4) with every reduction and several dtypes.
  const Tensor dup = random_tensor(DataType::kInt64, {6, 5}, 3, -4, 3);
  for (const char* reduction : {"add", "mul", "max", "min"}) {
    for (DataType t :
         {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kInt32,
          DataType::kInt64, DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kBool}) {
      SCOPED_TRACE(std::string(reduction) + " " + to_string(t));
      const bool mul = std::string(reduction) == "mul";
      const double lo = is_integer(t) ? (mul ? -3 : -40) : (mul ? 0.5 : -2);
      const double hi = is_integer(t) ? (mul ? 3 : 40) : (mul ? 1.5 : 2);
      const double lo_u = t == DataType::kUInt8 ? 0 : lo;
      check_op(
          "ScatterElements",
          {in(random_tensor(t, {4, 5}, 4, lo_u, hi)), in(dup),
           in(random_tensor(t, {6, 5}, 5, lo_u, hi))},
          [=](ILayer& l) { l.set_string("reduction", reduction); },
          GpuOptions{t == DataType::kFloat16 ? 2e-3 : 1e-5});
    }
  }
  // axis 1, int32 indices, 3-D.
  check_op("ScatterElements",
           {in(random_tensor(DataType::kFloat32, {2, 6, 3}, 6)),
            in(random_tensor(DataType::kInt32, {2, 4, 3}, 7, -6, 5)),
            in(random_tensor(DataType::kFloat32, {2, 4, 3}, 8))},
           [](ILayer& l) {
             l.set_int("axis", 1);
             l.set_string("reduction", "add");
           });
}

TEST(GpuIndexing, ScatterNDEveryReduction) {
  const Tensor data = random_tensor(DataType::kFloat32, {4, 4, 4}, 1);
  const std::string d =
      check_op("ScatterND", {in(data), in(int64_tensor({2, 1}, {0, -2})),
                             in(random_tensor(DataType::kFloat32, {2, 4, 4}, 2))});
  EXPECT_TRUE(has(d, "cuda_scatter_nd")) << d;
  // Whole-tuple indices (single elements) with duplicates, and slices with duplicates.
  const Tensor elements = int64_tensor({5, 3}, {0, 1, 2, 3, 3, 3, 0, 1, 2, -1, 0, 0, 3, 3, 3});
  const Tensor slices = int64_tensor({3, 1}, {1, 1, -4});
  for (const char* reduction : {"add", "mul", "max", "min"}) {
    for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt8,
                       DataType::kUInt16}) {
      SCOPED_TRACE(std::string(reduction) + " " + to_string(t));
      const double lo = t == DataType::kUInt16 ? 0 : (is_integer(t) ? -3 : 0.5);
      const double hi = is_integer(t) ? 3 : 1.5;
      const GpuOptions options{t == DataType::kFloat16 ? 2e-3 : 1e-5};
      auto attrs = [=](ILayer& l) { l.set_string("reduction", reduction); };
      check_op("ScatterND",
               {in(random_tensor(t, {4, 4, 4}, 3, lo, hi)), in(elements),
                in(random_tensor(t, {5}, 4, lo, hi))},
               attrs, options);
      check_op("ScatterND",
               {in(random_tensor(t, {4, 4, 4}, 5, lo, hi)), in(slices),
                in(random_tensor(t, {3, 4, 4}, 6, lo, hi))},
               attrs, options);
    }
  }
  check_op("ScatterND",
           {in(random_tensor(DataType::kBool, {3, 5}, 7)), in(int64_tensor({2, 2}, {0, 4, 2, -1})),
            in(random_tensor(DataType::kBool, {2}, 8))});
}

// Out-of-range indices: the CPU reports an error; the GPU must neither fault nor touch memory
// outside the tensors, and gives zeros (gathers) or drops the update (scatters).
std::vector<Tensor> run_gpu_only(const std::function<void(NetworkDefinition&)>& define,
                                 const std::vector<Tensor>& inputs) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  define(*network);
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  auto engine = builder.build_engine(*network, config);
  if (!gpu_test::no_gpu_reason().empty()) return {};
  return gpu_test::run_on_gpu(*engine, inputs);
}

TEST(GpuIndexing, OutOfRangeIndicesAreSkippedOnTheGpu) {
  const Tensor data = Tensor::from_vector<float>(DataType::kFloat32, {3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor bad = int64_tensor({2}, {7, -1});
  auto one_node = [](const std::string& op, const Dims& indices, bool updates,
                     const std::string& reduction) {
    return [=](NetworkDefinition& n) {
      std::vector<ITensor*> ins = {n.add_input("data", DataType::kFloat32, {3, 2}),
                                   n.add_input("indices", DataType::kInt64, indices)};
      if (updates) ins.push_back(n.add_input("updates", DataType::kFloat32, {2, 2}));
      ILayer* layer = n.add_layer(op, ins);
      if (!reduction.empty()) layer->set_string("reduction", reduction);
      n.mark_output(*layer->output(0));
    };
  };
  const std::vector<Tensor> gather = run_gpu_only(one_node("Gather", {2}, false, ""), {data, bad});
  const Tensor bad2x2 = int64_tensor({2, 2}, {0, 3, -4, 1});
  const Tensor updates = Tensor::from_vector<float>(DataType::kFloat32, {2, 2}, {10, 20, 30, 40});
  const std::vector<Tensor> gather_elements =
      run_gpu_only(one_node("GatherElements", {2, 2}, false, ""), {data, bad2x2});
  const std::vector<Tensor> scatter_elements =
      run_gpu_only(one_node("ScatterElements", {2, 2}, true, "add"), {data, bad2x2, updates});
  const std::vector<Tensor> scatter_nd = run_gpu_only(
      one_node("ScatterND", {2, 1}, true, ""), {data, int64_tensor({2, 1}, {-4, 1}), updates});
  KILN_SKIP_WITHOUT_GPU();
  auto values = [](const Tensor& t) {
    std::vector<double> v;
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.as_double(i));
    return v;
  };
  EXPECT_EQ(values(gather.at(0)), (std::vector<double>{0, 0, 5, 6}));
  EXPECT_EQ(values(gather_elements.at(0)), (std::vector<double>{1, 0, 0, 4}));
  EXPECT_EQ(values(scatter_elements.at(0)), (std::vector<double>{11, 2, 3, 44, 5, 6}));
  EXPECT_EQ(values(scatter_nd.at(0)), (std::vector<double>{1, 2, 30, 40, 5, 6}));
}

// ---------------------------------------------------------------------------------------------
// Patterns: Trilu, EyeLike, ConstantOfShape

TEST(GpuIndexing, Trilu) {
  const Tensor x = random_tensor(DataType::kInt64, {2, 5, 7}, 1, -50, 50);
  const std::string d = check_op("Trilu", {in(x)});
  EXPECT_TRUE(has(d, "cuda_trilu")) << d;
  for (int64_t upper : {0, 1}) {
    auto attrs = [=](ILayer& l) { l.set_int("upper", upper); };
    for (int64_t k : {-1, 2, -40, 40}) {
      check_op("Trilu", {in(x), cst(int64_scalar(k))}, attrs);
      check_op("Trilu", {in(random_tensor(DataType::kFloat16, {33, 40}, 2)), in(int64_scalar(k))},
               attrs);  // k read on the device
    }
  }
}

TEST(GpuIndexing, EyeLikeAndConstantOfShape) {
  const Tensor x = random_tensor(DataType::kFloat32, {4, 6}, 1);
  for (int64_t k : {0, 2, -1, 7}) {
    const std::string d = check_op("EyeLike", {in(x)}, [=](ILayer& l) { l.set_int("k", k); });
    EXPECT_TRUE(has(d, "cuda_eye_like")) << d;
  }
  for (DataType t : {DataType::kInt64, DataType::kFloat16, DataType::kBool}) {
    check_op("EyeLike", {in(random_tensor(DataType::kInt32, {5, 3}, 2, 0, 9))},
             [=](ILayer& l) { l.set_int("dtype", int64_t(t)); });
  }
  // The shape of a network input (known at shape time, as in exported CNN classifiers),
  // beyond the shape-time evaluation limit, so that the GPU fills it.
  const Tensor big = random_tensor(DataType::kFloat32, {300, 301}, 3);
  const std::string d = gpu_test::expect_gpu_matches_cpu(
      [](NetworkDefinition& n) {
        ITensor* x = n.add_input("x", DataType::kFloat32, {300, 301});
        ILayer* shape = n.add_layer("Shape", {x});
        ILayer* fill = n.add_layer("ConstantOfShape", {shape->output(0)});
        n.mark_output(*fill->output(0));
      },
      {big});
  EXPECT_TRUE(has(d, "cuda_fill")) << d;
}

// ---------------------------------------------------------------------------------------------
// Scans

TEST(GpuIndexing, CumSumAndCumProd) {
  for (int64_t exclusive : {0, 1}) {
    for (int64_t reverse : {0, 1}) {
      auto attrs = [=](ILayer& l) {
        l.set_int("exclusive", exclusive);
        l.set_int("reverse", reverse);
      };
      // Long contiguous lines: a block per line.
      const std::string d = check_op(
          "CumSum", {in(random_tensor(DataType::kFloat32, {3, 1500}, 1)), cst(ints({1}))}, attrs);
      EXPECT_TRUE(has(d, "cuda_cumsum_scan")) << d;
      check_op("CumProd",
               {in(random_tensor(DataType::kFloat32, {2, 700}, 2, 0.95, 1.05)), cst(ints({-1}))},
               attrs);
      check_op("CumSum",
               {in(random_tensor(DataType::kInt64, {2, 600}, 3, -1000, 1000)), cst(ints({1}))},
               attrs);
      // A thread per line, strided lines, every type.
      for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kInt32,
                         DataType::kUInt64, DataType::kBFloat16}) {
        const double lo = t == DataType::kUInt64 ? 0 : -3;
        const GpuOptions options{is_integer(t) || t == DataType::kFloat64 ? 1e-9 : 2e-3};
        check_op("CumSum", {in(random_tensor(t, {3, 4, 5}, 4, lo, 3)), cst(ints({1}))}, attrs,
                 options);
        check_op("CumProd", {in(random_tensor(t, {3, 4, 5}, 5, lo, 3)), cst(ints({0}))}, attrs,
                 options);
      }
      // The axis as a network input (read on the device).
      const Tensor axis32 = Tensor::from_vector<int32_t>(DataType::kInt32, {}, {-2});
      check_op("CumSum", {in(random_tensor(DataType::kFloat64, {3, 4, 5}, 6)), in(axis32)}, attrs,
               GpuOptions{1e-12});
      check_op("CumProd",
               {in(random_tensor(DataType::kInt32, {4, 6}, 7, -3, 3)), in(int64_scalar(1))}, attrs);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Layouts: DepthToSpace, SpaceToDepth, ReverseSequence

TEST(GpuIndexing, DepthToSpaceAndSpaceToDepth) {
  for (const char* mode : {"DCR", "CRD"}) {
    auto attrs = [=](int64_t bs) {
      return [=](ILayer& l) {
        l.set_int("blocksize", bs);
        l.set_string("mode", mode);
      };
    };
    const std::string d = check_op(
        "DepthToSpace", {in(random_tensor(DataType::kFloat32, {2, 12, 3, 5}, 1))}, attrs(2));
    EXPECT_TRUE(has(d, "cuda_permute")) << d;
    check_op("DepthToSpace", {in(random_tensor(DataType::kFloat16, {1, 18, 4, 11}, 2))}, attrs(3));
    check_op("SpaceToDepth", {in(random_tensor(DataType::kFloat32, {2, 3, 6, 10}, 3))}, attrs(2));
    check_op("SpaceToDepth", {in(random_tensor(DataType::kInt8, {1, 5, 9, 27}, 4, -9, 9))},
             attrs(3));
  }
}

TEST(GpuIndexing, ReverseSequence) {
  const std::string d = check_op(
      "ReverseSequence",
      {in(random_tensor(DataType::kFloat32, {5, 4, 3}, 1)), in(int64_tensor({4}, {5, 1, 0, 3}))});
  EXPECT_TRUE(has(d, "cuda_reverse_sequence")) << d;
  check_op(
      "ReverseSequence",
      {in(random_tensor(DataType::kBFloat16, {4, 5, 2}, 2)), in(int64_tensor({4}, {1, 5, 2, 0}))},
      [](ILayer& l) {
        l.set_int("batch_axis", 0);
        l.set_int("time_axis", 1);
      });
}

// ---------------------------------------------------------------------------------------------
// Hardmax, MaxUnpool, OneHot

TEST(GpuIndexing, Hardmax) {
  // Small integers as floats, so that ties occur: the first maximum wins.
  const Tensor ties = random_tensor(DataType::kInt32, {9, 37}, 1, 0, 3).cast(DataType::kFloat32);
  const std::string d = check_op("Hardmax", {in(ties)});
  EXPECT_TRUE(has(d, "cuda_hardmax")) << d;
  check_op("Hardmax",
           {in(random_tensor(DataType::kInt32, {4, 6, 5}, 2, 0, 2).cast(DataType::kFloat32))},
           [](ILayer& l) { l.set_int("axis", 1); });
  check_op("Hardmax", {in(random_tensor(DataType::kFloat16, {3, 70}, 3))});
  check_op("Hardmax", {in(random_tensor(DataType::kFloat64, {5, 4}, 4))},
           [](ILayer& l) { l.set_int("axis", 0); });
  // NaN: never chosen, except at position 0, where the reference keeps it.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor with_nan = Tensor::from_vector<float>(
      DataType::kFloat32, {3, 4}, {nan, 5, 7, 1, 2, nan, 9, 9, nan, nan, nan, nan});
  check_op("Hardmax", {in(with_nan)});
  check_op("Hardmax", {in(with_nan)}, [](ILayer& l) { l.set_int("axis", 0); });
}

TEST(GpuIndexing, MaxUnpool) {
  // Indices as MaxPool (kernel 2, stride 2) gives them: one position per window.
  const Dims x_shape = {1, 2, 3, 3};
  std::vector<int64_t> indices;
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t h = 0; h < 3; ++h) {
      for (int64_t w = 0; w < 3; ++w) {
        const int64_t row = 2 * h + (h + w) % 2, col = 2 * w + (c + h) % 2;
        indices.push_back((c * 6 + row) * 6 + col);
      }
    }
  }
  auto attrs = [](ILayer& l) {
    l.set_ints("kernel_shape", {2, 2});
    l.set_ints("strides", {2, 2});
  };
  const Tensor x = random_tensor(DataType::kFloat32, x_shape, 1);
  const std::string d = check_op("MaxUnpool", {in(x), in(int64_tensor(x_shape, indices))}, attrs);
  EXPECT_TRUE(has(d, "cuda_max_unpool")) << d;
  check_op(
      "MaxUnpool",
      {in(x.cast(DataType::kFloat16)), in(int64_tensor(x_shape, indices)), cst(ints({1, 2, 7, 8}))},
      attrs);
}

TEST(GpuIndexing, OneHot) {
  const Tensor indices = random_tensor(DataType::kInt64, {2, 3}, 1, -5, 5);  // some outside
  const Tensor values = Tensor::from_vector<float>(DataType::kFloat32, {2}, {-1, 3});
  for (int64_t axis : {-1, 0, 1}) {
    const std::string d = check_op("OneHot", {in(indices), cst(ints({4})), in(values)},
                                   [=](ILayer& l) { l.set_int("axis", axis); });
    EXPECT_TRUE(has(d, "cuda_one_hot")) << d;
  }
  check_op("OneHot", {in(indices.cast(DataType::kInt32)), cst(ints({6})),
                      in(Tensor::from_vector<int64_t>(DataType::kInt64, {2}, {0, 1}))});
}

}  // namespace
}  // namespace kiln
