// Outputs whose extents depend on the data (NonZero), and ops computed from them, through the
// builder and an execution context with an OutputAllocator.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/tensor.h"
#include "kiln/kiln.h"

namespace kiln {
namespace {

class VectorAllocator : public OutputAllocator {
 public:
  std::vector<uint8_t> storage;
  Dims shape;
  int reallocations = 0;
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    ++reallocations;
    storage.resize(std::max<uint64_t>(size, 1));
    return storage.data();
  }
  void notify_shape(const std::string&, const Dims& dims) override { shape = dims; }
};

TEST(DataDependentShapes, NonZeroThenCastThroughTheEngine) {
  StderrLogger logger(Logger::Severity::kError);
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {-1, 3});
  ILayer* nz = net.add_layer("NonZero", {x});
  ILayer* cast = net.add_cast(*nz->output(0), DataType::kFloat32);  // downstream of the data
  cast->output(0)->set_name("indices");
  net.mark_output(*cast->output(0));
  BuilderConfig config;
  OptimizationProfile p;
  p.set_dimensions("x", OptProfileSelector::kMIN, {1, 3});
  p.set_dimensions("x", OptProfileSelector::kOPT, {2, 3});
  p.set_dimensions("x", OptProfileSelector::kMAX, {4, 3});
  config.add_optimization_profile(p);
  auto engine = Builder(logger).build_engine(net, config);
  auto ctx = engine->create_execution_context();

  std::vector<float> xs{0, 5, 0, 1, 0, 2};
  ctx->set_input_shape("x", {2, 3});
  ctx->set_tensor_address("x", xs.data());
  EXPECT_THROW(ctx->execute(), Error);  // no allocator for the data-dependent output
  VectorAllocator alloc;
  ctx->set_output_allocator("indices", &alloc);
  ctx->execute();
  // non-zeros at (0,1), (1,0), (1,2)
  EXPECT_EQ(alloc.shape, (Dims{2, 3}));
  EXPECT_EQ(ctx->tensor_shape("indices"), (Dims{2, 3}));
  const float* got = reinterpret_cast<const float*>(alloc.storage.data());
  EXPECT_EQ(std::vector<float>(got, got + 6), (std::vector<float>{0, 1, 1, 1, 0, 2}));

  xs = {1, 1, 1, 1, 1, 1};
  ctx->execute();
  EXPECT_EQ(alloc.shape, (Dims{2, 6}));
}

TEST(DataDependentShapes, ReshapeToAShapeGivenAsInput) {
  // The target shape is an engine input: known only at run time, so Reshape (and the Relu
  // after it) are resolved by the executor.
  StderrLogger logger(Logger::Severity::kError);
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {6});
  ITensor* shape = net.add_input("shape", DataType::kInt64, {2});
  ILayer* reshape = net.add_reshape(*x, *shape);
  ILayer* relu = net.add_activation(*reshape->output(0), ActivationType::kRELU);
  relu->output(0)->set_name("y");
  net.mark_output(*relu->output(0));
  auto engine = Builder(logger).build_engine(net, BuilderConfig{});
  EXPECT_EQ(engine->tensor_shape("y"), Dims{});  // rank unknown until it runs
  auto ctx = engine->create_execution_context();
  std::vector<float> xs{-1, 2, -3, 4, -5, 6};
  std::vector<int64_t> target{3, -1};
  ctx->set_tensor_address("x", xs.data());
  ctx->set_tensor_address("shape", target.data());
  EXPECT_TRUE(ctx->has_data_dependent_shape("y"));
  VectorAllocator alloc;
  ctx->set_output_allocator("y", &alloc);
  ctx->execute();
  EXPECT_EQ(alloc.shape, (Dims{3, 2}));
  const float* got = reinterpret_cast<const float*>(alloc.storage.data());
  EXPECT_EQ(std::vector<float>(got, got + 6), (std::vector<float>{0, 2, 0, 4, 0, 6}));
  target = {1, 6};
  ctx->execute();
  EXPECT_EQ(ctx->tensor_shape("y"), (Dims{1, 6}));
}

TEST(DataDependentShapes, TypesAreKnownBeforeTheExtents) {
  // Range over engine inputs: its length waits for the data, its type does not. The network's
  // tensors and the engine's outputs carry the real types (not a float32 placeholder), so a
  // caller sizes and reads the output right; so do ops after it, and a NonZero's consumers.
  StderrLogger logger(Logger::Severity::kError);
  for (DataType dtype :
       {DataType::kInt16, DataType::kInt64, DataType::kFloat64, DataType::kFloat16}) {
    SCOPED_TRACE(to_string(dtype));
    NetworkDefinition net;
    ITensor* start = net.add_input("start", dtype, {});
    ITensor* limit = net.add_input("limit", dtype, {});
    ITensor* delta = net.add_input("delta", dtype, {});
    ILayer* range = net.add_layer("Range", {start, limit, delta});
    range->output(0)->set_name("range");
    ILayer* twice =
        net.add_elementwise(*range->output(0), *range->output(0), ElementWiseOperation::kSUM);
    twice->output(0)->set_name("twice");
    ILayer* nz = net.add_layer("NonZero", {range->output(0)});
    ILayer* count = net.add_layer("Shape", {nz->output(0)});
    count->output(0)->set_name("count");
    EXPECT_EQ(range->output(0)->type(), dtype);
    EXPECT_EQ(twice->output(0)->type(), dtype);
    EXPECT_EQ(nz->output(0)->type(), DataType::kInt64);
    EXPECT_EQ(count->output(0)->type(), DataType::kInt64);
    for (const char* name : {"range", "twice", "count"}) net.mark_output(*net.tensor(name));
    auto engine = Builder(logger).build_engine(net, BuilderConfig{});
    EXPECT_EQ(engine->tensor_dtype("range"), dtype);
    EXPECT_EQ(engine->tensor_dtype("twice"), dtype);
    EXPECT_EQ(engine->tensor_dtype("count"), DataType::kInt64);

    // A run writes as many bytes as the type says: 0, 1, 2 (start 0, limit 3, delta 1).
    auto ctx = engine->create_execution_context();
    Tensor zero = Tensor::from_vector<double>(DataType::kFloat64, {}, {0.0}).cast(dtype);
    Tensor three = Tensor::from_vector<double>(DataType::kFloat64, {}, {3.0}).cast(dtype);
    Tensor one = Tensor::from_vector<double>(DataType::kFloat64, {}, {1.0}).cast(dtype);
    ctx->set_tensor_address("start", zero.raw());
    ctx->set_tensor_address("limit", three.raw());
    ctx->set_tensor_address("delta", one.raw());
    VectorAllocator range_out, twice_out, count_out;
    ctx->set_output_allocator("range", &range_out);
    ctx->set_output_allocator("twice", &twice_out);
    ctx->set_output_allocator("count", &count_out);
    ctx->execute();
    ASSERT_EQ(range_out.shape, Dims{3});
    ASSERT_EQ(range_out.storage.size(), 3 * element_size(dtype));
    Tensor got = Tensor::from_bytes(dtype, {3}, twice_out.storage.data(), 3 * element_size(dtype));
    EXPECT_EQ(got.to_double_vector(), (std::vector<double>{0, 2, 4}));
    EXPECT_EQ(count_out.shape, Dims{2});
  }
}

}  // namespace
}  // namespace kiln
