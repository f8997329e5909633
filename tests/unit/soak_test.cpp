// Soak: several engines, several contexts per engine, several threads at once (each context
// used by one thread, as the API requires), every output compared bit for bit with a
// single-threaded run of the same engine on the same inputs. A data race in an Engine (shared,
// immutable), in the kernels' shared state or in the registries shows up as a difference or,
// under the sanitizer build (scripts/sanitize), as a report.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>

#include "kiln/kiln.h"

namespace kiln {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// One engine with a dynamic batch: `x` [batch, ...] -> `y` [batch, ...].
struct SoakEngine {
  std::unique_ptr<Engine> engine;
  Dims sample_dims;  // the input's dims after the batch
  int64_t max_batch = 0;
  std::vector<float> storage;  // weights, kept alive until the build is done
};

BuilderConfig batch_profile(const Dims& sample, int64_t max_batch) {
  Dims min{1}, opt{2}, max{max_batch};
  for (int64_t d : sample) {
    min.push_back(d);
    opt.push_back(d);
    max.push_back(d);
  }
  OptimizationProfile profile;
  profile.set_dimensions("x", OptProfileSelector::kMIN, min);
  profile.set_dimensions("x", OptProfileSelector::kOPT, opt);
  profile.set_dimensions("x", OptProfileSelector::kMAX, max);
  BuilderConfig config;
  config.add_optimization_profile(profile);
  return config;
}

// Conv -> Relu -> MaxPool (the OpenBLAS convolution, pooling).
SoakEngine conv_engine(Builder& builder) {
  SoakEngine e{nullptr, {3, 12, 12}, 6, random_floats(8 * 3 * 3 * 3 + 8, 11)};
  NetworkDefinition network;
  ITensor* x = network.add_input("x", DataType::kFloat32, {-1, 3, 12, 12});
  ILayer* conv =
      network.add_convolution(*x, 8, {3, 3}, Weights{DataType::kFloat32, e.storage.data(), 8 * 27},
                              Weights{DataType::kFloat32, e.storage.data() + 8 * 27, 8});
  ILayer* relu = network.add_activation(*conv->output(0), ActivationType::kRELU);
  ILayer* pool = network.add_pooling(*relu->output(0), PoolingType::kMAX, {2, 2});
  pool->output(0)->set_name("y");
  network.mark_output(*pool->output(0));
  e.engine = builder.build_engine(network, batch_profile(e.sample_dims, e.max_batch));
  return e;
}

// MatMul -> Add -> Softmax -> ReduceSum (GEMM, reductions).
SoakEngine mlp_engine(Builder& builder) {
  SoakEngine e{nullptr, {16}, 8, random_floats(16 * 24 + 24, 12)};
  NetworkDefinition network;
  ITensor* x = network.add_input("x", DataType::kFloat32, {-1, 16});
  ILayer* w =
      network.add_constant({16, 24}, Weights{DataType::kFloat32, e.storage.data(), 16 * 24});
  ILayer* b =
      network.add_constant({1, 24}, Weights{DataType::kFloat32, e.storage.data() + 16 * 24, 24});
  ILayer* mm = network.add_matrix_multiply(*x, MatrixOperation::kNONE, *w->output(0),
                                           MatrixOperation::kNONE);
  ILayer* add = network.add_elementwise(*mm->output(0), *b->output(0), ElementWiseOperation::kSUM);
  ILayer* sm = network.add_softmax(*add->output(0), -1);
  ILayer* sum = network.add_reduce(*sm->output(0), ReduceOperation::kSUM, {1}, true);
  ILayer* out =
      network.add_elementwise(*sm->output(0), *sum->output(0), ElementWiseOperation::kDIV);
  out->output(0)->set_name("y");
  network.mark_output(*out->output(0));
  e.engine = builder.build_engine(network, batch_profile(e.sample_dims, e.max_batch));
  return e;
}

// Transpose -> Tanh -> Concat with itself (data movement, unary math).
SoakEngine movement_engine(Builder& builder) {
  SoakEngine e{nullptr, {5, 7}, 5, {}};
  NetworkDefinition network;
  ITensor* x = network.add_input("x", DataType::kFloat32, {-1, 5, 7});
  ILayer* t = network.add_transpose(*x, {0, 2, 1});
  ILayer* tanh = network.add_activation(*t->output(0), ActivationType::kTANH);
  ILayer* cat = network.add_concatenation({tanh->output(0), t->output(0)}, 1);
  cat->output(0)->set_name("y");
  network.mark_output(*cat->output(0));
  e.engine = builder.build_engine(network, batch_profile(e.sample_dims, e.max_batch));
  return e;
}

std::vector<float> run(ExecutionContext& ctx, const SoakEngine& e, const std::vector<float>& x,
                       int64_t batch) {
  Dims dims{batch};
  dims.insert(dims.end(), e.sample_dims.begin(), e.sample_dims.end());
  ctx.set_input_shape("x", dims);
  std::vector<float> y(size_t(volume(ctx.tensor_shape("y"))));
  ctx.set_tensor_address("x", const_cast<float*>(x.data()));
  ctx.set_tensor_address("y", y.data());
  ctx.execute();
  return y;
}

TEST(Soak, ContextsOnThreadsMatchASingleThreadedRun) {
  StderrLogger logger;
  Builder builder(logger);
  std::vector<SoakEngine> engines;
  engines.push_back(conv_engine(builder));
  engines.push_back(mlp_engine(builder));
  engines.push_back(movement_engine(builder));

  // Work items: (engine, batch, input seed), with their single-threaded reference outputs.
  struct Item {
    size_t engine;
    int64_t batch;
    std::vector<float> x, want;
  };
  std::vector<Item> items;
  for (size_t e = 0; e < engines.size(); ++e) {
    auto ctx = engines[e].engine->create_execution_context();
    for (int64_t batch = 1; batch <= engines[e].max_batch; ++batch) {
      const size_t n = size_t(batch * volume(engines[e].sample_dims));
      Item item{e, batch, random_floats(n, uint32_t(100 * e + batch)), {}};
      item.want = run(*ctx, engines[e], item.x, batch);
      items.push_back(std::move(item));
    }
  }

  constexpr int kThreads = 4, kContextsPerEngine = 2, kRounds = 500;
  std::atomic<int> mismatches{0}, errors{0}, runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread owns its contexts: kContextsPerEngine per engine, used in turn.
      std::vector<std::vector<std::unique_ptr<ExecutionContext>>> contexts(engines.size());
      for (size_t e = 0; e < engines.size(); ++e) {
        for (int c = 0; c < kContextsPerEngine; ++c) {
          contexts[e].push_back(engines[e].engine->create_execution_context());
        }
      }
      std::mt19937 rng(uint32_t(1000 + t));
      for (int round = 0; round < kRounds; ++round) {
        const Item& item = items[rng() % items.size()];
        ExecutionContext& ctx = *contexts[item.engine][rng() % kContextsPerEngine];
        try {
          std::vector<float> got = run(ctx, engines[item.engine], item.x, item.batch);
          if (got.size() != item.want.size() ||
              std::memcmp(got.data(), item.want.data(), got.size() * sizeof(float)) != 0) {
            ++mismatches;
          }
        } catch (const Error&) {
          ++errors;
        }
        ++runs;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(runs.load(), kThreads * kRounds);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "outputs differ from the single-threaded run";
}

}  // namespace
}  // namespace kiln
