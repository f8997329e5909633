// Outputs whose extents depend on the data (NonZero), and ops computed from them, through the
// builder and an execution context with an OutputAllocator.
#include <gtest/gtest.h>

#include <cstdlib>

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

}  // namespace
}  // namespace kiln
