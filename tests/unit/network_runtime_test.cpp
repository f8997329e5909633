// The network API -> builder -> engine -> execution context path on the CPU backend, checked
// against float64 computations written out in the tests.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <random>
#include <thread>

#include "kiln/kiln.h"

namespace kiln {
namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// y = softmax(relu(x @ W + b)) along the last axis, in float64.
std::vector<double> mlp_reference(const std::vector<float>& x, const std::vector<float>& w,
                                  const std::vector<float>& b, int64_t batch, int64_t k,
                                  int64_t n) {
  std::vector<double> y(size_t(batch * n));
  for (int64_t r = 0; r < batch; ++r) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      double acc = b[size_t(j)];
      for (int64_t i = 0; i < k; ++i) acc += double(x[size_t(r * k + i)]) * w[size_t(i * n + j)];
      y[size_t(r * n + j)] = std::max(acc, 0.0);
      mx = std::max(mx, y[size_t(r * n + j)]);
    }
    double sum = 0;
    for (int64_t j = 0; j < n; ++j)
      sum += (y[size_t(r * n + j)] = std::exp(y[size_t(r * n + j)] - mx));
    for (int64_t j = 0; j < n; ++j) y[size_t(r * n + j)] /= sum;
  }
  return y;
}

struct Mlp {
  static constexpr int64_t K = 16, N = 10;
  std::vector<float> w = random_values(K * N, 1), b = random_values(N, 2);
  std::unique_ptr<NetworkDefinition> network = std::make_unique<NetworkDefinition>();

  Mlp() {
    ITensor* x = network->add_input("x", DataType::kFloat32, {-1, K});
    ILayer* wl = network->add_constant({K, N}, Weights{DataType::kFloat32, w.data(), K * N});
    ILayer* bl = network->add_constant({1, N}, Weights{DataType::kFloat32, b.data(), N});
    ILayer* mm = network->add_matrix_multiply(*x, MatrixOperation::kNONE, *wl->output(0),
                                              MatrixOperation::kNONE);
    ILayer* add =
        network->add_elementwise(*mm->output(0), *bl->output(0), ElementWiseOperation::kSUM);
    ILayer* relu = network->add_activation(*add->output(0), ActivationType::kRELU);
    ILayer* sm = network->add_softmax(*relu->output(0), -1);
    sm->output(0)->set_name("y");
    network->mark_output(*sm->output(0));
  }

  BuilderConfig config(int64_t min, int64_t opt, int64_t max) const {
    BuilderConfig c;
    OptimizationProfile p;
    p.set_dimensions("x", OptProfileSelector::kMIN, {min, K});
    p.set_dimensions("x", OptProfileSelector::kOPT, {opt, K});
    p.set_dimensions("x", OptProfileSelector::kMAX, {max, K});
    c.add_optimization_profile(p);
    return c;
  }
};

void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

std::vector<float> run(ExecutionContext& ctx, const std::vector<float>& x, int64_t batch) {
  ctx.set_input_shape("x", {batch, Mlp::K});
  std::vector<float> y(size_t(batch * Mlp::N), NAN);
  ctx.set_tensor_address("x", const_cast<float*>(x.data()));
  ctx.set_tensor_address("y", y.data());
  ctx.execute();
  return y;
}

TEST(NetworkRuntime, DynamicBatchMlpMatchesFloat64) {
  StderrLogger logger;
  Mlp mlp;
  Builder builder(logger);
  auto engine = builder.build_engine(*mlp.network, mlp.config(1, 4, 8));
  EXPECT_EQ(engine->tensor_shape("x"), (Dims{-1, Mlp::K}));
  EXPECT_EQ(engine->tensor_shape("y"), (Dims{-1, Mlp::N}));
  EXPECT_EQ(engine->tensor_io_mode("y"), TensorIOMode::kOUTPUT);
  auto ctx = engine->create_execution_context();
  for (int64_t batch : {1, 3, 8}) {
    auto x = random_values(size_t(batch * Mlp::K), uint32_t(10 + batch));
    auto y = run(*ctx, x, batch);
    EXPECT_EQ(ctx->tensor_shape("y"), (Dims{batch, Mlp::N}));
    expect_close(y, mlp_reference(x, mlp.w, mlp.b, batch, Mlp::K, Mlp::N), 1e-6);
  }
}

TEST(NetworkRuntime, TwoContextsOnOneEngine) {
  StderrLogger logger;
  Mlp mlp;
  auto engine = Builder(logger).build_engine(*mlp.network, mlp.config(1, 2, 6));
  auto a = engine->create_execution_context();
  auto b = engine->create_execution_context();
  auto xa = random_values(2 * Mlp::K, 7), xb = random_values(5 * Mlp::K, 8);
  a->set_input_shape("x", {2, Mlp::K});
  b->set_input_shape("x", {5, Mlp::K});
  std::vector<float> ya(2 * Mlp::N), yb(5 * Mlp::N);
  a->set_tensor_address("x", xa.data());
  a->set_tensor_address("y", ya.data());
  b->set_tensor_address("x", xb.data());
  b->set_tensor_address("y", yb.data());
  b->execute();
  a->execute();
  expect_close(ya, mlp_reference(xa, mlp.w, mlp.b, 2, Mlp::K, Mlp::N), 1e-6);
  expect_close(yb, mlp_reference(xb, mlp.w, mlp.b, 5, Mlp::K, Mlp::N), 1e-6);
}

// A profiler that holds the running thread inside the first layer report until released, so
// that another thread's call provably overlaps the run.
class BlockingProfiler : public Profiler {
 public:
  void report_layer_time(const std::string&, float) override {
    if (reports_++ > 0) return;
    entered_.set_value();
    release_.get_future().wait();
  }
  std::promise<void> entered_, release_;

 private:
  std::atomic<int> reports_{0};
};

TEST(NetworkRuntime, ConcurrentUseOfOneContextIsRefused) {
  StderrLogger logger;
  Mlp mlp;
  auto engine = Builder(logger).build_engine(*mlp.network, mlp.config(1, 2, 4));
  auto ctx = engine->create_execution_context();
  auto x = random_values(2 * Mlp::K, 5);
  BlockingProfiler profiler;
  ctx->set_profiler(&profiler);
  std::vector<float> y;
  std::thread runner([&] { y = run(*ctx, x, 2); });
  profiler.entered_.get_future().wait();  // the runner is inside execute()
  std::string message;
  try {
    ctx->set_input_shape("x", {3, Mlp::K});
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("in use by another thread"), std::string::npos) << message;
  EXPECT_THROW(ctx->execute(), Error);
  EXPECT_THROW(ctx->tensor_shape("y"), Error);
  profiler.release_.set_value();
  runner.join();
  // The refused calls changed nothing: the run finished with its own shapes and values, and
  // the context serves the next caller.
  expect_close(y, mlp_reference(x, mlp.w, mlp.b, 2, Mlp::K, Mlp::N), 1e-6);
  ctx->set_profiler(nullptr);
  auto x3 = random_values(3 * Mlp::K, 6);
  expect_close(run(*ctx, x3, 3), mlp_reference(x3, mlp.w, mlp.b, 3, Mlp::K, Mlp::N), 1e-6);
}

TEST(NetworkRuntime, SerializedEngineGivesTheSameResults) {
  StderrLogger logger;
  Mlp mlp;
  Builder builder(logger);
  std::vector<uint8_t> plan = builder.build_serialized_network(*mlp.network, mlp.config(1, 2, 4));
  auto engine = Runtime(logger).deserialize_engine(plan.data(), plan.size());
  auto ctx = engine->create_execution_context();
  auto x = random_values(3 * Mlp::K, 99);
  expect_close(run(*ctx, x, 3), mlp_reference(x, mlp.w, mlp.b, 3, Mlp::K, Mlp::N), 1e-6);
  EXPECT_EQ(engine->serialize(), plan);
}

TEST(NetworkRuntime, MemoryPlanReusesActivations) {
  StderrLogger logger;
  Mlp mlp;
  auto engine = Builder(logger).build_engine(*mlp.network, mlp.config(1, 8, 64));
  EXPECT_GT(engine->arena_bytes(), 0u);
  EXPECT_LT(engine->arena_bytes(), engine->total_activation_bytes());
}

TEST(NetworkRuntime, ConstantSubgraphsAreFolded) {
  StderrLogger logger;
  Mlp mlp;
  auto engine = Builder(logger).build_engine(*mlp.network, mlp.config(1, 1, 1));
  // The constant layers (Identity on weights) fold away: MatMul, Add, Relu, Softmax remain.
  EXPECT_EQ(engine->num_layers(), 4);
}

TEST(NetworkRuntime, ShapeArithmeticWithDynamicBatch) {
  // y = Reshape(x, Concat(Shape(x)[0], [-1])): flattens [b, 2, 3] to [b, 6] for any b.
  StderrLogger logger;
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {-1, 2, 3});
  ILayer* shape = net.add_shape(*x);
  int64_t zero = 0, minus_one = -1;
  ILayer* idx = net.add_constant({1}, Weights{DataType::kInt64, &zero, 1});
  ILayer* rest = net.add_constant({1}, Weights{DataType::kInt64, &minus_one, 1});
  ILayer* batch = net.add_gather(*shape->output(0), *idx->output(0), 0);
  ILayer* target = net.add_concatenation({batch->output(0), rest->output(0)}, 0);
  ILayer* reshape = net.add_reshape(*x, *target->output(0));
  reshape->output(0)->set_name("y");
  net.mark_output(*reshape->output(0));
  BuilderConfig config;
  OptimizationProfile p;
  p.set_dimensions("x", OptProfileSelector::kMIN, {1, 2, 3});
  p.set_dimensions("x", OptProfileSelector::kOPT, {2, 2, 3});
  p.set_dimensions("x", OptProfileSelector::kMAX, {4, 2, 3});
  config.add_optimization_profile(p);
  auto engine = Builder(logger).build_engine(net, config);
  EXPECT_EQ(engine->tensor_shape("y"), (Dims{-1, 6}));
  auto ctx = engine->create_execution_context();
  std::vector<float> xs = random_values(18, 5), ys(18);
  ctx->set_input_shape("x", {3, 2, 3});
  ctx->set_tensor_address("x", xs.data());
  ctx->set_tensor_address("y", ys.data());
  ctx->execute();
  EXPECT_EQ(ctx->tensor_shape("y"), (Dims{3, 6}));
  EXPECT_EQ(ys, xs);
}

TEST(NetworkRuntime, ClearErrors) {
  StderrLogger logger(Logger::Severity::kError);
  Mlp mlp;
  Builder builder(logger);
  try {
    builder.build_engine(*mlp.network, BuilderConfig{});
    FAIL() << "a dynamic input with no profile must not build";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("input 'x'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("optimization profile"), std::string::npos) << e.what();
  }
  auto engine = builder.build_engine(*mlp.network, mlp.config(1, 2, 4));
  auto ctx = engine->create_execution_context();
  EXPECT_THROW(ctx->set_input_shape("x", {5, Mlp::K}), Error);     // above the profile's max
  EXPECT_THROW(ctx->set_input_shape("x", {2, Mlp::K, 1}), Error);  // wrong rank
  EXPECT_THROW(ctx->set_input_shape("nope", {2, Mlp::K}), Error);
  EXPECT_THROW(ctx->set_tensor_address("nope", nullptr), Error);
  ctx->set_input_shape("x", {2, Mlp::K});
  try {
    ctx->execute();
    FAIL() << "running without addresses must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set_tensor_address"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
