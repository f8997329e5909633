// DFT, STFT, the window generators and MelWeightMatrix on the GPU against the CPU backend
// (src/ops/signal.cpp sums in double over the same roots of unity): forward and inverse,
// onesided, real and complex input, dft_length padding and truncation, every axis, several
// types. Scalar operands that fix output extents are constants; MelWeightMatrix's other
// operands are network inputs, so that node is resolved (and its kernel run) as the engine
// runs. The window generators are left to the CUDA conformance tests (see below).
#include <optional>
#include <string>
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

Tensor int_scalar(int64_t v) { return Tensor::scalar_int64(v); }

std::function<void(ILayer&)> dft_attrs(int64_t inverse, int64_t onesided) {
  return [=](ILayer& l) {
    l.set_int("inverse", inverse);
    l.set_int("onesided", onesided);
  };
}

TEST(GpuSignal, DftForwardInverseOnesided) {
  const Tensor real = random_tensor(DataType::kFloat32, {2, 10, 1}, 1);
  const Tensor complex = random_tensor(DataType::kFloat32, {2, 9, 2}, 2);
  for (int64_t inverse : {0, 1}) {
    for (const Tensor* x : {&real, &complex}) {
      const std::string d = check_op("DFT", {in(*x)}, dft_attrs(inverse, 0));
      EXPECT_TRUE(has(d, "cuda_dft_direct")) << d;
    }
  }
  // Onesided forward: bins [0, n/2] of a real or a complex signal.
  check_op("DFT", {in(real)}, dft_attrs(0, 1));
  check_op("DFT", {in(complex)}, dft_attrs(0, 1));
  // Inverse onesided (IRFFT): a Hermitian half spectrum to a real signal of 2 * (m - 1).
  check_op("DFT", {in(random_tensor(DataType::kFloat32, {3, 6, 2}, 3))}, dft_attrs(1, 1));
}

TEST(GpuSignal, DftLengthPadsAndTruncates) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 10, 2}, 4);
  for (int64_t n : {16, 7, 1}) {
    check_op("DFT", {in(x), cst(ints({n}))}, dft_attrs(0, 0));
    check_op("DFT", {in(x), cst(ints({n}))}, dft_attrs(1, 0));
    check_op("DFT", {in(x), cst(ints({n}))}, dft_attrs(0, 1));
  }
  // IRFFT with dft_length: odd n, and n past 2 * (m - 1) (missing bins are zero).
  check_op("DFT", {in(x), cst(ints({9}))}, dft_attrs(1, 1));
  check_op("DFT", {in(x), cst(ints({24}))}, dft_attrs(1, 1));
}

TEST(GpuSignal, DftEveryAxis) {
  const Tensor x = random_tensor(DataType::kFloat32, {3, 5, 4, 2}, 5);
  for (int64_t axis : {0, 1, 2, -2, -3, -4}) {
    check_op("DFT", {in(x), std::nullopt, cst(int_scalar(axis))}, dft_attrs(0, 0));
    check_op("DFT", {in(x), std::nullopt, cst(int_scalar(axis))}, dft_attrs(1, 0));
    check_op("DFT", {in(x), cst(ints({6})), cst(int_scalar(axis))}, dft_attrs(0, 1));
  }
}

TEST(GpuSignal, DftLongSignalStaysAccurate) {
  // 1024 and a prime length: the twiddle table and double sums keep float32 results exact
  // to their rounding.
  check_op("DFT", {in(random_tensor(DataType::kFloat32, {2, 1024, 1}, 6))}, dft_attrs(0, 0),
           GpuOptions{1e-6});
  check_op("DFT", {in(random_tensor(DataType::kFloat32, {1, 1009, 2}, 7))}, dft_attrs(1, 0),
           GpuOptions{1e-6});
}

TEST(GpuSignal, DftOtherTypes) {
  check_op("DFT", {in(random_tensor(DataType::kFloat64, {2, 12, 2}, 8))}, dft_attrs(0, 0),
           GpuOptions{1e-13});
  check_op("DFT", {in(random_tensor(DataType::kFloat64, {2, 7, 2}, 9))}, dft_attrs(1, 1),
           GpuOptions{1e-13});
  check_op("DFT", {in(random_tensor(DataType::kFloat16, {2, 12, 1}, 10))}, dft_attrs(0, 1),
           GpuOptions{2e-3});
  check_op("DFT", {in(random_tensor(DataType::kBFloat16, {2, 12, 2}, 11))}, dft_attrs(1, 0),
           GpuOptions{1e-2});
}

TEST(GpuSignal, StftWindowsLengthsAndSides) {
  const Tensor signal = random_tensor(DataType::kFloat32, {2, 64, 1}, 20);
  const Tensor window = random_tensor(DataType::kFloat32, {16}, 21, 0.0, 1.0);
  for (int64_t onesided : {0, 1}) {
    auto attrs = [=](ILayer& l) { l.set_int("onesided", onesided); };
    const std::string d =
        check_op("STFT", {in(signal), cst(ints({8})), in(window), cst(ints({16}))}, attrs);
    EXPECT_TRUE(has(d, "cuda_stft_direct")) << d;
    check_op("STFT", {in(signal), cst(ints({5})), in(window)}, attrs);  // length from window
    check_op("STFT", {in(signal), cst(ints({6})), std::nullopt, cst(ints({20}))}, attrs);
    check_op("STFT", {in(signal), cst(ints({64}))}, attrs);  // one frame of the whole signal
  }
  // Complex signals (two-sided only, as the reference allows either).
  const Tensor complex = random_tensor(DataType::kFloat32, {1, 40, 2}, 22);
  check_op("STFT", {in(complex), cst(ints({4})), std::nullopt, cst(ints({10}))},
           [](ILayer& l) { l.set_int("onesided", 0); });
  check_op("STFT",
           {in(random_tensor(DataType::kFloat64, {2, 30, 1}, 23)), cst(ints({3})),
            in(random_tensor(DataType::kFloat64, {12}, 24))},
           {}, GpuOptions{1e-13});
  check_op("STFT",
           {in(random_tensor(DataType::kFloat16, {2, 30, 1}, 25)), cst(ints({3})),
            in(random_tensor(DataType::kFloat16, {12}, 26))},
           {}, GpuOptions{2e-3});
}

// The window generators take only their size, which fixes the output extent: with a constant
// size the builder folds them on the host, and with a network input the output extent depends
// on the data, which check_op's engines cannot run without an OutputAllocator. The CUDA
// conformance tests (test_*window*) cover cuda_window.
TEST(GpuSignal, MelWeightMatrix) {
  struct MelCase {
    int64_t mels, dft_length, sample_rate;
    float lower, upper;
  };
  for (const MelCase& m :
       {MelCase{8, 64, 8000, 0.0f, 4000.0f}, MelCase{20, 512, 16000, 80.0f, 7600.0f},
        MelCase{3, 16, 100, 10.0f, 40.0f}, MelCase{5, 9, 1000, 0.0f, 0.0f}}) {
    // The extents come from constants; the other operands are network inputs, so the kernel
    // runs (resolved as the engine runs, with them copied to the host).
    check_op("MelWeightMatrix",
             {cst(ints({m.mels})), cst(ints({m.dft_length})), in(ints({m.sample_rate})),
              in(gpu_test::scalar(m.lower)), in(gpu_test::scalar(m.upper))});
  }
  for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kInt32}) {
    check_op(
        "MelWeightMatrix",
        {cst(ints({10})), cst(ints({128})), in(ints({22050})), in(gpu_test::scalar(20.0f)),
         in(gpu_test::scalar(8000.0f))},
        [=](ILayer& l) { l.set_int("output_datatype", int64_t(t)); },
        GpuOptions{t == DataType::kFloat16 ? 2e-3 : 1e-12});
  }
}

}  // namespace
}  // namespace kiln
