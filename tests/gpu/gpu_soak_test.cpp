// GPU soak: several engines shared by several threads, each run with its own context and
// stream (run_on_gpu), every output compared with a single-threaded run of the same engine on
// the same inputs. Engines are immutable and shareable; a race in their device state (weights,
// cuBLASLt/cuDNN plans, kernel caches) or in per-context memory shows up as a difference.
#include <atomic>
#include <thread>

#include "gpu_test_util.h"

namespace kiln::gpu_test {
namespace {

struct SoakCase {
  std::unique_ptr<Engine> engine;
  std::vector<Tensor> inputs, want;
};

std::unique_ptr<Engine> build_gpu(const std::function<void(NetworkDefinition&)>& define) {
  StderrLogger logger;
  NetworkDefinition network;
  define(network);
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  return Builder(logger).build_engine(network, config);
}

TEST(GpuSoak, EnginesSharedByThreadsMatchASingleThreadedRun) {
  KILN_SKIP_WITHOUT_GPU();
  const Tensor w = random_tensor(DataType::kFloat32, {64, 96}, 1);
  const Tensor kernel = random_tensor(DataType::kFloat32, {16, 8, 3, 3}, 2);
  std::vector<SoakCase> cases;
  // cuBLASLt with an epilogue, softmax.
  cases.push_back({build_gpu([&](NetworkDefinition& n) {
                     ITensor* x = n.add_input("x", DataType::kFloat32, {32, 64});
                     ILayer* mm = n.add_matrix_multiply(*x, MatrixOperation::kNONE, constant(n, w),
                                                        MatrixOperation::kNONE);
                     ILayer* relu = n.add_activation(*mm->output(0), ActivationType::kRELU);
                     ILayer* sm = n.add_softmax(*relu->output(0), -1);
                     n.mark_output(*sm->output(0));
                   }),
                   {random_tensor(DataType::kFloat32, {32, 64}, 3)},
                   {}});
  // cuDNN convolution, pooling.
  cases.push_back({build_gpu([&](NetworkDefinition& n) {
                     ITensor* x = n.add_input("x", DataType::kFloat32, {4, 8, 20, 20});
                     ILayer* conv = n.add_convolution(
                         *x, 16, {3, 3}, Weights{DataType::kFloat32, kernel.raw(), kernel.numel()});
                     ILayer* pool = n.add_pooling(*conv->output(0), PoolingType::kMAX, {2, 2});
                     n.mark_output(*pool->output(0));
                   }),
                   {random_tensor(DataType::kFloat32, {4, 8, 20, 20}, 4)},
                   {}});
  // Data movement and reductions.
  cases.push_back({build_gpu([&](NetworkDefinition& n) {
                     ITensor* x = n.add_input("x", DataType::kFloat32, {6, 50, 40});
                     ILayer* t = n.add_transpose(*x, {0, 2, 1});
                     ILayer* r = n.add_reduce(*t->output(0), ReduceOperation::kSUM, {2}, true);
                     ILayer* d = n.add_elementwise(*t->output(0), *r->output(0),
                                                   ElementWiseOperation::kDIV);
                     n.mark_output(*d->output(0));
                   }),
                   {random_tensor(DataType::kFloat32, {6, 50, 40}, 5, 0.5, 2.0)},
                   {}});
  for (SoakCase& c : cases) c.want = run_on_gpu(*c.engine, c.inputs);

  constexpr int kThreads = 6, kRounds = 30;
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        const SoakCase& c = cases[size_t(t + round) % cases.size()];
        try {
          std::vector<Tensor> got = run_on_gpu(*c.engine, c.inputs);
          for (size_t o = 0; o < got.size(); ++o) {
            // Same engine, same algorithms, same inputs: within rounding of the same sums.
            if (relative_l2(got[o], c.want[o]) > 1e-6) ++mismatches;
          }
        } catch (const Error&) {
          ++errors;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "outputs differ from the single-threaded run";
}

}  // namespace
}  // namespace kiln::gpu_test
