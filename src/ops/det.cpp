// Det: the determinant of each [M, M] matrix in the last two dims of X ([*, M, M] -> [*]).
// Computed in double by Gaussian elimination with partial pivoting (the LU factorization
// numpy.linalg.det uses): the product of the pivots, negated once per row swap. float16 and
// bfloat16 are rounded once at the end. An empty matrix (M = 0) has determinant 1.
#include <cmath>
#include <utility>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

double determinant(std::vector<double> a, int64_t m) {
  double det = 1.0;
  for (int64_t col = 0; col < m; ++col) {
    int64_t pivot = col;
    for (int64_t row = col + 1; row < m; ++row) {
      if (std::fabs(a[size_t(row * m + col)]) > std::fabs(a[size_t(pivot * m + col)])) pivot = row;
    }
    const double pivot_value = a[size_t(pivot * m + col)];
    if (pivot_value == 0.0) return 0.0;  // singular (a NaN pivot falls through and spreads)
    if (pivot != col) {
      for (int64_t j = 0; j < m; ++j) std::swap(a[size_t(col * m + j)], a[size_t(pivot * m + j)]);
      det = -det;
    }
    det *= pivot_value;
    for (int64_t row = col + 1; row < m; ++row) {
      const double factor = a[size_t(row * m + col)] / pivot_value;
      for (int64_t j = col; j < m; ++j) a[size_t(row * m + j)] -= factor * a[size_t(col * m + j)];
    }
  }
  return det;
}

void infer_det(InferContext& ctx) {
  const DataType type = ctx.input_dtype(0);
  ctx.check(type == DataType::kFloat32 || type == DataType::kFloat64 ||
                type == DataType::kFloat16 || type == DataType::kBFloat16,
            "X has type ", to_string(type), "; float32, float64, float16 or bfloat16 expected");
  const Dims& x = ctx.input_shape(0);
  ctx.check(x.size() >= 2, "X must have rank >= 2, got shape ", to_string(x));
  ctx.check(x[x.size() - 1] == x[x.size() - 2],
            "X's last two dims must be equal (square "
            "matrices), got shape ",
            to_string(x));
  ctx.set_output(0, type, Dims(x.begin(), x.end() - 2));
}

void compute_det(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const int64_t m = x.shape().back();
  const int64_t matrices = y.numel();
  for (int64_t b = 0; b < matrices; ++b) {
    std::vector<double> a(size_t(m * m));
    for (int64_t i = 0; i < m * m; ++i) a[size_t(i)] = x.as_double(b * m * m + i);
    const double det = determinant(std::move(a), m);
    if (y.dtype() == DataType::kFloat64)
      y.data<double>()[b] = det;
    else
      store_float(y, b, float(det));
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Det",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_det,
    .compute = compute_det,
});

}  // namespace
}  // namespace kiln::ops
