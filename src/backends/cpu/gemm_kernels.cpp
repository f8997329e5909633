// Fast float32 MatMul and Gemm for the CPU backend through OpenBLAS's cblas_sgemm.
//
//   matmul_sgemm  numpy.matmul semantics. When B is a single matrix (the usual weight case),
//                 A's batch folds into the rows of one sgemm; otherwise one sgemm per output
//                 batch entry, with broadcast batch offsets.
//   gemm_sgemm    Y = alpha * A' * B' + beta * C: Y starts as beta * C broadcast to M x N and
//                 sgemm adds alpha * A' * B' to it.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ops/common.h"

namespace kiln::cpu {
namespace {

bool inputs_are_float32(const std::vector<ops::TensorDesc>& inputs, size_t required) {
  if (inputs.size() < required) return false;
  for (const ops::TensorDesc& d : inputs) {
    if (d.dtype != DataType::kFloat32) return false;
  }
  return true;
}

void run_matmul(ops::ComputeContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& y = ctx.output(0);
  const Dims& a_shape = a.shape();
  const Dims& b_shape = b.shape();
  const int64_t m = a_shape.size() == 1 ? 1 : a_shape[a_shape.size() - 2];
  const int64_t k = a_shape.back();
  const int64_t n = b_shape.size() == 1 ? 1 : b_shape.back();
  const Dims a_batch(a_shape.begin(), a_shape.end() - std::min<int64_t>(2, a_shape.size()));
  const Dims b_batch(b_shape.begin(), b_shape.end() - std::min<int64_t>(2, b_shape.size()));
  // The output's batch extents: broadcast of both (equal to y's leading extents).
  Dims out_batch(std::max(a_batch.size(), b_batch.size()), 1);
  for (const Dims* batch : {&a_batch, &b_batch}) {
    const size_t offset = out_batch.size() - batch->size();
    for (size_t i = 0; i < batch->size(); ++i) {
      out_batch[offset + i] = std::max(out_batch[offset + i], (*batch)[i]);
    }
  }
  float* y_data = y.data<float>();
  if (y.numel() == 0) return;
  if (k == 0) {
    std::fill_n(y_data, y.numel(), 0.0f);
    return;
  }
  const float* a_data = a.data<float>();
  const float* b_data = b.data<float>();
  if (volume(b_batch) == 1 && volume(a_batch) == volume(out_batch)) {
    // One matrix B: all of A's rows in one sgemm.
    const int64_t rows = volume(a_batch) * m;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), blasint(n), blasint(k),
                1.0f, a_data, blasint(k), b_data, blasint(n), 0.0f, y_data, blasint(n));
    return;
  }
  const std::array<Dims, 2> strides{ops::broadcast_strides(a_batch, out_batch),
                                    ops::broadcast_strides(b_batch, out_batch)};
  ops::for_each_broadcast<2>(out_batch, strides, [&](int64_t batch, const auto& offsets) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1.0f,
                a_data + offsets[0] * m * k, blasint(k), b_data + offsets[1] * k * n, blasint(n),
                0.0f, y_data + batch * m * n, blasint(n));
  });
}

void run_gemm(ops::ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& y = ctx.output(0);
  const bool trans_a = node.attr_int("transA", 0) != 0;
  const bool trans_b = node.attr_int("transB", 0) != 0;
  const float alpha = float(node.attr_float("alpha", 1.0));
  const float beta = float(node.attr_float("beta", 1.0));
  const int64_t m = y.dim(0);
  const int64_t n = y.dim(1);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  float* y_data = y.data<float>();
  if (m == 0 || n == 0) return;

  float sgemm_beta = 0.0f;
  if (ctx.has_input(2)) {
    // beta * C even when beta is 0, so that C's infinities/NaNs propagate as in the reference.
    const Tensor& c = ctx.input(2);
    const Dims c_strides = ops::broadcast_strides(c.shape(), Dims{m, n});
    const float* c_data = c.data<float>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        y_data[i * n + j] = beta * c_data[i * c_strides[0] + j * c_strides[1]];
      }
    }
    sgemm_beta = 1.0f;
  } else {
    std::fill_n(y_data, m * n, 0.0f);
  }
  if (k == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), blasint(k), alpha,
              a.data<float>(), blasint(trans_a ? m : k), b.data<float>(), blasint(trans_b ? k : n),
              sgemm_beta, y_data, blasint(n));
}

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "MatMul",
    .name = "matmul_sgemm",
    .supports =
        [](const ir::Node&, const std::vector<ops::TensorDesc>& inputs) {
          return inputs_are_float32(inputs, 2) && !inputs[0].shape.empty() &&
                 !inputs[1].shape.empty();
        },
    .run = run_matmul,
});

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "Gemm",
    .name = "gemm_sgemm",
    .supports =
        [](const ir::Node&, const std::vector<ops::TensorDesc>& inputs) {
          return inputs_are_float32(inputs, 2) && inputs[0].shape.size() == 2 &&
                 inputs[1].shape.size() == 2;
        },
    .run = run_gemm,
});

}  // namespace
}  // namespace kiln::cpu
