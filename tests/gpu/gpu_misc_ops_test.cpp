// The CUDA kernels of TopK, Range, NonMaxSuppression, Unique, Einsum, Det and TfIdfVectorizer
// against the CPU backend. Ops with fixed output shapes go through check_op; NonMaxSuppression
// and Unique (data-dependent extents) through a small runner with output allocators, which
// compares every output exactly. Without a GPU the engines are still built (checking that a
// CUDA kernel is chosen, or that the node is resolved as it runs) and the runs are skipped.
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>

#include "gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::cst;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::ints;
using gpu_test::random_tensor;

Tensor floats(const Dims& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v);
}

// Small integers as floats: many ties.
Tensor tied(DataType dtype, const Dims& shape, uint32_t seed, int levels = 4) {
  return random_tensor(DataType::kInt32, shape, seed, 0, levels).cast(dtype);
}

// One `op` node over network inputs (nullopt: omitted), `outputs` outputs marked, run with
// output allocators (the extents may depend on the inputs' values); the GPU outputs must equal
// the CPU's exactly, shapes included, or floats within `float_tolerance` relative L2 where it
// is positive.
// (Defined with the allocators below, under KILN_HAVE_CUDA, as are the tests that use it.)
void check_dynamic(const std::string& op, const std::vector<std::optional<Tensor>>& inputs,
                   const std::function<void(ILayer&)>& attrs, int outputs,
                   double float_tolerance = 0);

// ---------------------------------------------------------------------------------------------
// TopK

std::function<void(ILayer&)> topk_attrs(int64_t axis, int64_t largest) {
  return [=](ILayer& l) {
    l.set_int("axis", axis);
    l.set_int("largest", largest);
  };
}

void check_topk(const Tensor& x, int64_t k, int64_t axis, int64_t largest, double tol = 0) {
  SCOPED_TRACE(cat(to_string(x.dtype()), " ", to_string(x.shape()), " k=", k, " axis=", axis,
                   " largest=", largest));
  const std::string d =
      check_op("TopK", {in(x), cst(ints({k}))}, topk_attrs(axis, largest), GpuOptions{tol}, 2);
  EXPECT_TRUE(has(d, "cuda_top_k")) << d;
}

TEST(GpuMiscOps, TopKLargestSmallestAnyAxis) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 50}, 1);
  for (int64_t largest : {1, 0}) {
    check_topk(x, 5, -1, largest);
    check_topk(x, 1, 1, largest);
    check_topk(x, 3, 0, largest);  // along the outer axis: strided rows
    check_topk(random_tensor(DataType::kFloat32, {4, 6, 5}, 2), 4, -2, largest);
  }
}

TEST(GpuMiscOps, TopKTiesKeepTheLowerIndex) {
  for (int64_t largest : {1, 0}) {
    check_topk(tied(DataType::kFloat32, {4, 300}, 3), 20, -1, largest);
    check_topk(tied(DataType::kFloat16, {7, 9, 11}, 4, 2), 6, 1, largest);
    check_topk(tied(DataType::kInt32, {5, 2000}, 5, 3), 64, -1, largest);
    // Large k: the sorting path must be stable too.
    check_topk(tied(DataType::kFloat32, {3, 3000}, 6), 1500, -1, largest);
  }
  // -0.0 ties with +0.0; NaN is above every number.
  Tensor z =
      floats({1, 6}, {0.0f, -0.0f, 1.0f, std::numeric_limits<float>::quiet_NaN(), -0.0f, -1.0f});
  check_topk(z, 6, -1, 1);
  check_topk(z, 6, -1, 0);
  check_topk(z, 3, -1, 1);
}

TEST(GpuMiscOps, TopKZeroAndFullLength) {
  const Tensor x = random_tensor(DataType::kFloat32, {4, 37}, 7);
  check_topk(x, 0, -1, 1);
  check_topk(x, 37, -1, 1);
  check_topk(x, 37, -1, 0);
  check_topk(x, 4, 0, 1);
}

TEST(GpuMiscOps, TopKTypes) {
  for (DataType t : {DataType::kFloat64, DataType::kBFloat16, DataType::kInt64, DataType::kUInt8,
                     DataType::kInt8, DataType::kUInt64, DataType::kInt16}) {
    const Tensor x = t == DataType::kFloat64 || t == DataType::kBFloat16
                         ? random_tensor(t, {6, 130}, 8)
                         : random_tensor(t, {6, 130}, 8, 0, 100);
    check_topk(x, 10, -1, 1);
    check_topk(x, 4, 0, 0);  // axis 0 has 6 elements
  }
  Tensor neg = random_tensor(DataType::kInt64, {3, 40}, 9, -1000000, 1000000);
  check_topk(neg, 7, -1, 1);
  check_topk(neg, 7, -1, 0);
}

TEST(GpuMiscOps, TopKLongRowsAndManyRows) {
  // Chunked rows and the merge pass: classification heads and one long row.
  check_topk(random_tensor(DataType::kFloat16, {64, 32000}, 10), 5, -1, 1);
  check_topk(random_tensor(DataType::kFloat32, {1, 100000}, 11), 100, -1, 1);
  check_topk(random_tensor(DataType::kFloat32, {2, 70000}, 12), 1024, -1, 0);
  // Ascending data: every element beats the threshold (the buffer is sorted often).
  Tensor ramp = Tensor::zeros(DataType::kFloat32, {2, 5000});
  for (int64_t i = 0; i < ramp.numel(); ++i) ramp.data<float>()[i] = float(i % 5000);
  check_topk(ramp, 50, -1, 1);
  check_topk(ramp, 50, -1, 0);
  // Many short rows.
  check_topk(random_tensor(DataType::kFloat32, {5000, 12}, 13), 3, -1, 1);
  // Large k through the sort.
  check_topk(random_tensor(DataType::kFloat32, {4, 9000}, 14), 2000, -1, 1);
  check_topk(random_tensor(DataType::kFloat64, {3, 1500, 2}, 15), 1200, 1, 0);
}

#ifdef KILN_HAVE_CUDA
TEST(GpuMiscOps, TopKWithKGivenAtRunTime) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 40}, 16);
  // K is a network input: the outputs' extents are known only at run time.
  check_dynamic("TopK", {x, ints({7})}, topk_attrs(-1, 1), 2);
}
#endif  // KILN_HAVE_CUDA

// ---------------------------------------------------------------------------------------------
// Range (the output is large, so it is not computed at shape time)

template <typename T>
Tensor scalar_of(DataType dtype, T v) {
  return Tensor::from_vector<T>(dtype, {}, {v});
}

#ifdef KILN_HAVE_CUDA
TEST(GpuMiscOps, RangeAllTypes) {
  // Operands given at run time: the output's extent is known only then (output allocators).
  auto dynamic = [](const Tensor& start, const Tensor& limit, const Tensor& delta,
                    std::function<void(ILayer&)> attrs = {}) {
    check_dynamic("Range", {start, limit, delta}, attrs, 1, 1e-5);
  };
  dynamic(scalar_of<float>(DataType::kFloat32, -3.5f),
          scalar_of<float>(DataType::kFloat32, 20000.0f),
          scalar_of<float>(DataType::kFloat32, 0.3f));
  // Constant operands: the extent is known at build time.
  check_op("Range", {cst(scalar_of<float>(DataType::kFloat32, 1.0f)),
                     cst(scalar_of<float>(DataType::kFloat32, 100001.0f)),
                     cst(scalar_of<float>(DataType::kFloat32, 1.0f))});
  dynamic(scalar_of<double>(DataType::kFloat64, 0.1),
          scalar_of<double>(DataType::kFloat64, -7000.0),
          scalar_of<double>(DataType::kFloat64, -0.07));
  dynamic(scalar_of<int32_t>(DataType::kInt32, 5), scalar_of<int32_t>(DataType::kInt32, 400000),
          scalar_of<int32_t>(DataType::kInt32, 3));
  dynamic(scalar_of<int64_t>(DataType::kInt64, 1000000),
          scalar_of<int64_t>(DataType::kInt64, -1000000), scalar_of<int64_t>(DataType::kInt64, -7));
  dynamic(scalar_of<int16_t>(DataType::kInt16, -30000), scalar_of<int16_t>(DataType::kInt16, 30000),
          scalar_of<int16_t>(DataType::kInt16, 1));
  for (int64_t stash : {1, 11}) {
    dynamic(scalar_of<float>(DataType::kFloat32, 0.0f).cast(DataType::kFloat16),
            scalar_of<float>(DataType::kFloat32, 30000.0f).cast(DataType::kFloat16),
            scalar_of<float>(DataType::kFloat32, 0.375f).cast(DataType::kFloat16),
            [=](ILayer& l) { l.set_int("stash_type", stash); });
  }
}
#endif  // KILN_HAVE_CUDA

// ---------------------------------------------------------------------------------------------
// Data-dependent outputs: a runner with output allocators

#ifdef KILN_HAVE_CUDA

using gpu_test::GrowingAllocator;

// Every output of one run of `engine` on the host.
std::vector<Tensor> run_with_allocators(const Engine& engine, const std::vector<Tensor>& inputs) {
  const bool gpu = engine.device() == DeviceType::kGPU;
  auto ctx = engine.create_execution_context();
  std::vector<Tensor> host_inputs = inputs;
  std::vector<void*> device_buffers;
  auto buffer_with = [&](Tensor& t) -> void* {
    if (!gpu) return t.raw();
    void* p = nullptr;
    EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(t.nbytes(), 1)), cudaSuccess);
    device_buffers.push_back(p);
    if (t.nbytes()) cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice);
    return p;
  };
  int input_index = 0;
  std::vector<std::string> outputs;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    Tensor& t = host_inputs.at(size_t(input_index++));
    ctx->set_input_shape(name, t.shape());
    ctx->set_tensor_address(name, buffer_with(t));
  }
  std::map<std::string, std::unique_ptr<GrowingAllocator>> allocators;
  std::map<std::string, std::pair<Tensor, void*>> known;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kOUTPUT) continue;
    outputs.push_back(name);
    if (ctx->has_data_dependent_shape(name)) {
      allocators[name] = std::make_unique<GrowingAllocator>(gpu);
      ctx->set_output_allocator(name, allocators[name].get());
    } else {
      Tensor t = Tensor::zeros(engine.tensor_dtype(name), ctx->tensor_shape(name));
      void* at = buffer_with(t);
      ctx->set_tensor_address(name, at);
      known[name] = {std::move(t), at};
    }
  }
  if (gpu) {
    cudaStream_t stream = nullptr;
    cudaStreamCreate(&stream);
    try {
      ctx->enqueue(stream);
    } catch (...) {
      cudaStreamDestroy(stream);
      for (void* p : device_buffers) cudaFree(p);
      throw;
    }
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    cudaStreamDestroy(stream);
  } else {
    ctx->execute();
  }
  std::vector<Tensor> got;
  for (const std::string& name : outputs) {
    if (allocators.count(name)) {
      got.push_back(allocators[name]->read(engine.tensor_dtype(name)));
      continue;
    }
    auto& [t, at] = known[name];
    if (gpu && t.nbytes()) cudaMemcpy(t.raw(), at, t.nbytes(), cudaMemcpyDeviceToHost);
    got.push_back(t);
  }
  for (void* p : device_buffers) cudaFree(p);
  return got;
}

void check_dynamic(const std::string& op, const std::vector<std::optional<Tensor>>& inputs,
                   const std::function<void(ILayer&)>& attrs, int outputs, double float_tolerance) {
  SCOPED_TRACE(op);
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  std::vector<ITensor*> ins;
  std::vector<Tensor> given;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      ins.push_back(nullptr);
      continue;
    }
    ins.push_back(network->add_input(cat("in", i), inputs[i]->dtype(), inputs[i]->shape()));
    given.push_back(*inputs[i]);
  }
  ILayer* layer = network->add_layer(op, ins, outputs);
  if (attrs) attrs(*layer);
  for (int i = 0; i < outputs; ++i) network->mark_output(*layer->output(i));
  BuilderConfig cpu_config;
  auto cpu = builder.build_engine(*network, cpu_config);
  BuilderConfig gpu_config;
  gpu_config.set_device(DeviceType::kGPU);
  auto gpu = builder.build_engine(*network, gpu_config);
  const std::vector<Tensor> want = run_with_allocators(*cpu, given);
  KILN_SKIP_WITHOUT_GPU();
  std::vector<Tensor> got;
  try {
    got = run_with_allocators(*gpu, given);
  } catch (const Error& e) {
    FAIL() << "the GPU engine failed: " << e.what();
  }
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    ASSERT_EQ(got[i].dtype(), want[i].dtype()) << "output " << i;
    if (float_tolerance > 0 && is_floating_point(want[i].dtype())) {
      EXPECT_LE(gpu_test::relative_l2(got[i], want[i]), float_tolerance) << "output " << i;
    } else {
      EXPECT_EQ(std::memcmp(got[i].raw(), want[i].raw(), got[i].nbytes()), 0) << "output " << i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression

// [batches, n, 4] boxes with many overlaps: corners in either order, or centers and sizes.
Tensor random_boxes(DataType dtype, int64_t batches, int64_t n, uint32_t seed, bool center) {
  Tensor pos = random_tensor(DataType::kFloat32, {batches, n, 2}, seed, 0.0, 10.0);
  Tensor size = random_tensor(DataType::kFloat32, {batches, n, 2}, seed + 1, 0.5, 4.0);
  Tensor b = Tensor::zeros(DataType::kFloat32, {batches, n, 4});
  for (int64_t i = 0; i < batches * n; ++i) {
    const float y = pos.data<float>()[2 * i], x = pos.data<float>()[2 * i + 1];
    const float h = size.data<float>()[2 * i], w = size.data<float>()[2 * i + 1];
    float* o = b.data<float>() + 4 * i;
    if (center) {
      o[0] = x, o[1] = y, o[2] = w, o[3] = h;
    } else if (i % 3 == 0) {  // second corner first
      o[0] = y + h, o[1] = x + w, o[2] = y, o[3] = x;
    } else {
      o[0] = y, o[1] = x, o[2] = y + h, o[3] = x + w;
    }
  }
  return b.cast(dtype);
}

Tensor one_float(float v) { return Tensor::from_vector<float>(DataType::kFloat32, {1}, {v}); }
Tensor one_int(int64_t v) { return Tensor::from_vector<int64_t>(DataType::kInt64, {1}, {v}); }

std::function<void(ILayer&)> center_attr(int64_t center) {
  return [=](ILayer& l) { l.set_int("center_point_box", center); };
}

TEST(GpuMiscOps, NonMaxSuppressionThresholdsAndBoxFormats) {
  for (int64_t center : {0, 1}) {
    SCOPED_TRACE(cat("center_point_box ", center));
    const Tensor boxes = random_boxes(DataType::kFloat32, 2, 60, 20, center == 1);
    const Tensor scores = random_tensor(DataType::kFloat32, {2, 3, 60}, 22, 0.0, 1.0);
    check_dynamic("NonMaxSuppression",
                  {boxes, scores, one_int(10), one_float(0.4f), one_float(0.3f)},
                  center_attr(center), 1);
    check_dynamic("NonMaxSuppression",
                  {boxes, scores, one_int(1000), one_float(0.0f), std::nullopt},
                  center_attr(center), 1);
    check_dynamic("NonMaxSuppression",
                  {boxes, scores, one_int(5), one_float(0.9f), one_float(0.5f)},
                  center_attr(center), 1);
  }
}

TEST(GpuMiscOps, NonMaxSuppressionEdgeCases) {
  const Tensor boxes = random_boxes(DataType::kFloat32, 1, 40, 23, false);
  // Tied scores (lower box first), a NaN score, max_output 0 (nothing), omitted inputs.
  Tensor scores = tied(DataType::kFloat32, {1, 2, 40}, 24, 3);
  scores.data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  check_dynamic("NonMaxSuppression", {boxes, scores, one_int(40), one_float(0.2f), one_float(0.5f)},
                center_attr(0), 1);
  check_dynamic("NonMaxSuppression", {boxes, scores, one_int(0), one_float(0.2f), std::nullopt},
                center_attr(0), 1);
  check_dynamic("NonMaxSuppression", {boxes, scores}, center_attr(0), 1);
  check_dynamic("NonMaxSuppression", {boxes, scores, one_int(7)}, center_attr(0), 1);
  // Every score below the threshold: an empty result.
  check_dynamic("NonMaxSuppression", {boxes, scores, one_int(5), one_float(0.5f), one_float(10.f)},
                center_attr(0), 1);
  // Other float types, and more boxes than a block holds.
  check_dynamic("NonMaxSuppression",
                {random_boxes(DataType::kFloat16, 1, 700, 25, false),
                 random_tensor(DataType::kFloat16, {1, 2, 700}, 26, 0.0, 1.0), one_int(300),
                 one_float(0.5f), std::nullopt},
                center_attr(0), 1);
  check_dynamic("NonMaxSuppression",
                {random_boxes(DataType::kFloat64, 3, 30, 27, true),
                 random_tensor(DataType::kFloat64, {3, 1, 30}, 28, 0.0, 1.0), one_int(30),
                 one_float(0.3f), one_float(0.1f)},
                center_attr(1), 1);
}

// ---------------------------------------------------------------------------------------------
// Unique

std::function<void(ILayer&)> unique_attrs(std::optional<int64_t> axis, int64_t sorted) {
  return [=](ILayer& l) {
    if (axis) l.set_int("axis", *axis);
    l.set_int("sorted", sorted);
  };
}

TEST(GpuMiscOps, UniqueFlattened) {
  Tensor f = tied(DataType::kFloat32, {5, 13}, 30, 9);
  f.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  f.data<float>()[17] = std::numeric_limits<float>::quiet_NaN();
  f.data<float>()[4] = -0.0f;
  for (int64_t sorted : {1, 0}) {
    check_dynamic("Unique", {f}, unique_attrs(std::nullopt, sorted), 4);
    check_dynamic("Unique", {random_tensor(DataType::kInt64, {200}, 31, -20, 20)},
                  unique_attrs(std::nullopt, sorted), 4);
    check_dynamic("Unique", {random_tensor(DataType::kInt8, {3, 4, 5}, 32, -3, 3)},
                  unique_attrs(std::nullopt, sorted), 2);
    check_dynamic("Unique", {tied(DataType::kFloat16, {40000}, 33, 1000)},
                  unique_attrs(std::nullopt, sorted), 4);
  }
  check_dynamic("Unique", {random_tensor(DataType::kBool, {17}, 34)}, unique_attrs(std::nullopt, 1),
                4);
  check_dynamic("Unique", {Tensor::zeros(DataType::kFloat32, {0, 3})},
                unique_attrs(std::nullopt, 1), 4);
}

TEST(GpuMiscOps, UniqueAlongAnAxis) {
  // Rows repeated on purpose, with ties in the leading elements.
  Tensor x = tied(DataType::kFloat32, {6, 4, 3}, 35, 2);
  std::memcpy(x.data<float>() + 4 * 12, x.data<float>() + 1 * 12, 12 * sizeof(float));
  for (int64_t sorted : {1, 0}) {
    for (int64_t axis : {0, 1, -1}) {
      SCOPED_TRACE(cat("axis ", axis, " sorted ", sorted));
      check_dynamic("Unique", {x}, unique_attrs(axis, sorted), 4);
    }
    check_dynamic("Unique", {random_tensor(DataType::kInt32, {3, 50}, 36, 0, 1)},
                  unique_attrs(1, sorted), 4);
  }
  check_dynamic("Unique", {tied(DataType::kFloat64, {2000, 2}, 37, 3)}, unique_attrs(0, 1), 4);
}

#endif  // KILN_HAVE_CUDA

// ---------------------------------------------------------------------------------------------
// Einsum

std::function<void(ILayer&)> equation(const std::string& e) {
  return [=](ILayer& l) { l.set_string("equation", e); };
}

void check_einsum(const std::string& e, const std::vector<Tensor>& inputs, double tol = 1e-5) {
  SCOPED_TRACE(e);
  std::vector<std::optional<gpu_test::Operand>> operands;
  for (const Tensor& t : inputs) operands.push_back(in(t));
  const std::string d = check_op("Einsum", operands, equation(e), GpuOptions{tol});
  EXPECT_TRUE(has(d, "cuda_einsum")) << d;
}

TEST(GpuMiscOps, EinsumBatchedProducts) {
  const auto r = [](const Dims& s, uint32_t seed) {
    return random_tensor(DataType::kFloat32, s, seed);
  };
  check_einsum("ij,jk->ik", {r({5, 7}, 1), r({7, 3}, 2)});
  check_einsum("ij,jk", {r({5, 7}, 1), r({7, 3}, 2)});               // implicit output
  check_einsum("bij,bkj->bik", {r({2, 5, 7}, 3), r({2, 4, 7}, 4)});  // transposed B
  check_einsum("bji,bjk->bik", {r({2, 7, 5}, 3), r({2, 7, 4}, 4)});  // transposed A
  check_einsum("bhqd,bhkd->bhqk", {r({2, 3, 5, 8}, 5), r({2, 3, 6, 8}, 6)});
  check_einsum("bqhd,bkhd->bhqk", {r({2, 5, 3, 8}, 7), r({2, 6, 3, 8}, 8)});  // permuted
  check_einsum("ik,jk->ji", {r({4, 6}, 9), r({5, 6}, 10)});                   // permuted output
  check_einsum("i,j->ij", {r({4}, 11), r({5}, 12)});                          // outer product
  check_einsum("abc,cd->abd", {r({2, 3, 4}, 13), r({4, 5}, 14)});
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    check_einsum("bij,bjk->bik",
                 {random_tensor(t, {3, 16, 32}, 15), random_tensor(t, {3, 32, 8}, 16)}, 1e-2);
  }
}

TEST(GpuMiscOps, EinsumTracesDiagonalsSumsAndEllipsis) {
  const auto r = [](const Dims& s, uint32_t seed) {
    return random_tensor(DataType::kFloat32, s, seed);
  };
  check_einsum("ii->i", {r({5, 5}, 1)});
  check_einsum("ii", {r({5, 5}, 2)});  // trace
  check_einsum("ij->", {r({30, 40}, 3)});
  check_einsum("ij->ji", {r({3, 4}, 4)});
  check_einsum("iij->j", {r({4, 4, 3}, 5)});
  check_einsum("...ij,...jk->...ik", {r({2, 3, 4, 5}, 6), r({3, 5, 2}, 7)});  // batch broadcast
  check_einsum("...ij,...jk", {r({1, 4, 5}, 8), r({3, 5, 2}, 9)});            // extent-1 batch
  check_einsum("b...i,b...i->b...", {r({2, 3, 4, 6}, 10), r({2, 1, 4, 6}, 11)});
  check_einsum("ij,jk,kl->il", {r({3, 4}, 12), r({4, 5}, 13), r({5, 2}, 14)});
  check_einsum("ij,ij->ij", {r({3, 4}, 15), r({1, 4}, 16)});  // Hadamard with broadcasting
  check_einsum("i,i", {r({1000}, 17), r({1000}, 18)});        // dot: a long sum
  check_einsum("ij,j->i", {r({6, 300}, 19), r({300}, 20)});
  check_einsum("ijk->", {random_tensor(DataType::kFloat64, {5, 6, 7}, 21)});
  // Integers wrap as on the CPU.
  check_einsum("ij,jk->ik", {random_tensor(DataType::kInt32, {4, 5}, 22, -100, 100),
                             random_tensor(DataType::kInt32, {5, 3}, 23, -100, 100)});
  check_einsum("ii->", {random_tensor(DataType::kInt64, {6, 6}, 24, -9, 9)});
  // An empty summed extent gives zeros.
  check_einsum("ij,jk->ik", {r({3, 0}, 25), r({0, 4}, 26)});
}

// ---------------------------------------------------------------------------------------------
// Det

TEST(GpuMiscOps, DetBatchedAndSingular) {
  check_op("Det", {in(random_tensor(DataType::kFloat32, {3, 4, 4}, 1))});
  check_op("Det", {in(random_tensor(DataType::kFloat32, {2, 3, 1, 1}, 2))});
  check_op("Det", {in(random_tensor(DataType::kFloat32, {7, 7}, 3))});
  check_op("Det", {in(random_tensor(DataType::kFloat64, {5, 12, 12}, 4))});
  check_op("Det", {in(random_tensor(DataType::kFloat16, {4, 3, 3}, 5))}, {}, GpuOptions{2e-3});
  check_op("Det", {in(random_tensor(DataType::kBFloat16, {4, 3, 3}, 6))}, {}, GpuOptions{1e-2});
  // Singular (repeated rows), ties in the pivot search, and integer-valued matrices.
  Tensor s = tied(DataType::kFloat32, {6, 5, 5}, 7, 3);
  std::memcpy(s.data<float>() + 5, s.data<float>(), 5 * sizeof(float));
  check_op("Det", {in(s)});
  // Too large for shared memory: the matrices live in scratch memory.
  const std::string d =
      check_op("Det", {in(random_tensor(DataType::kFloat64, {2, 90, 90}, 8, -1, 1))});
  EXPECT_TRUE(has(d, "cuda_det")) << d;
  check_op("Det", {in(Tensor::zeros(DataType::kFloat32, {3, 0, 0}))});  // empty matrices: 1
}

// ---------------------------------------------------------------------------------------------
// TfIdfVectorizer

std::function<void(ILayer&)> tfidf_attrs(const std::string& mode, int64_t min_gram,
                                         int64_t max_gram, int64_t max_skip) {
  return [=](ILayer& l) {
    l.set_string("mode", mode);
    l.set_int("min_gram_length", min_gram);
    l.set_int("max_gram_length", max_gram);
    l.set_int("max_skip_count", max_skip);
    // 1-grams 2, 3, 5, 7; 2-grams (5, 6), (7, 8), (2, 3), (3, 3); 3-gram (1, 2, 3).
    l.set_ints("pool_int64s", {2, 3, 5, 7, 5, 6, 7, 8, 2, 3, 3, 3, 1, 2, 3});
    l.set_ints("ngram_counts", {0, 4, 12});
    l.set_ints("ngram_indexes", {0, 1, 2, 3, 4, 5, 6, 7, 8});
  };
}

TEST(GpuMiscOps, TfIdfVectorizerModesAndSkips) {
  const Tensor rows = random_tensor(DataType::kInt32, {3, 40}, 1, 1, 8);
  const Tensor line = random_tensor(DataType::kInt64, {50}, 2, 1, 8);
  for (const char* mode : {"TF", "IDF", "TFIDF"}) {
    for (auto [lo, hi, skip] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 0}, {1, 2, 0}, {2, 2, 3}, {1, 3, 2}, {3, 3, 1}}) {
      SCOPED_TRACE(cat(mode, " ", lo, "-", hi, " skip ", skip));
      const std::string d =
          check_op("TfIdfVectorizer", {in(rows)}, tfidf_attrs(mode, lo, hi, skip));
      EXPECT_TRUE(has(d, "cuda_tfidf_vectorizer")) << d;
      check_op("TfIdfVectorizer", {in(line)}, tfidf_attrs(mode, lo, hi, skip));
    }
  }
}

}  // namespace
}  // namespace kiln
