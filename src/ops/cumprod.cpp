// CumProd (ONNX opset 26): running products along the axis given as the second input (a
// scalar, int32 or int64); `exclusive` leaves out the element itself (the first output is 1),
// `reverse` multiplies from the end. Floats multiply in double and round once per output;
// integers multiply modulo 2^64, so overflow wraps as two's complement does.
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool is_supported(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

int64_t cumprod_axis(const ir::Node& node, const Tensor& axis, int64_t rank) {
  KILN_CHECK(axis.dtype() == DataType::kInt64 || axis.dtype() == DataType::kInt32,
             ErrorCode::kInvalidModel, node.describe(), ": axis must be int32 or int64, got ",
             to_string(axis.dtype()));
  KILN_CHECK(axis.numel() == 1 && axis.rank() <= 1, ErrorCode::kInvalidModel, node.describe(),
             ": axis must be a scalar, got shape ", to_string(axis.shape()));
  return normalize_axis(node, axis.as_int64(0), rank);
}

// `load(i)` reads element i as Acc, `store(i, v)` writes it; the tensor is [outer, n, inner].
template <typename Acc, typename Load, typename Store>
void cumulative_product(int64_t outer, int64_t n, int64_t inner, bool exclusive, bool reverse,
                        Load load, Store store) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      Acc acc = Acc(1);
      for (int64_t step = 0; step < n; ++step) {
        const int64_t i = (o * n + (reverse ? n - 1 - step : step)) * inner + j;
        if (exclusive) {
          store(i, acc);
          acc = Acc(acc * load(i));
        } else {
          acc = Acc(acc * load(i));
          store(i, acc);
        }
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "CumProd",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer =
        [](InferContext& ctx) {
          const DataType dtype = ctx.input_dtype(0);
          ctx.check(is_supported(dtype), "input type ", to_string(dtype),
                    " is not supported (float16, bfloat16, float32, float64, int32, int64, "
                    "uint32 or uint64 expected)");
          const Dims& shape = ctx.input_shape(0);
          ctx.check(!shape.empty(), "input must have rank 1 or more");
          if (const Tensor* axis = ctx.input_value(1)) {
            cumprod_axis(ctx.node(), *axis, int64_t(shape.size()));
          }
          for (const char* key : {"exclusive", "reverse"}) {
            const int64_t v = ctx.node().attr_int(key, 0);
            ctx.check(v == 0 || v == 1, key, " must be 0 or 1, got ", v);
          }
          ctx.set_output(0, dtype, shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          Tensor& y = ctx.output(0);
          const int64_t axis = cumprod_axis(ctx.node(), ctx.input(1), int64_t(x.rank()));
          int64_t outer = 1;
          int64_t inner = 1;
          for (int64_t d = 0; d < axis; ++d) outer *= x.dim(size_t(d));
          for (size_t d = size_t(axis) + 1; d < x.rank(); ++d) inner *= x.dim(d);
          const int64_t n = x.dim(size_t(axis));
          const bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
          const bool reverse = ctx.node().attr_int("reverse", 0) != 0;
          if (is_floating_point(x.dtype())) {
            cumulative_product<double>(
                outer, n, inner, exclusive, reverse, [&](int64_t i) { return x.as_double(i); },
                [&](int64_t i, double v) {
                  if (y.dtype() == DataType::kFloat64) {
                    y.data<double>()[i] = v;
                  } else {
                    store_float(y, i, float(v));
                  }
                });
            return;
          }
          dispatch_storage(x.dtype(), [&](auto zero) {
            using T = decltype(zero);
            const T* px = x.data<T>();
            T* py = y.data<T>();
            cumulative_product<uint64_t>(
                outer, n, inner, exclusive, reverse, [&](int64_t i) { return uint64_t(px[i]); },
                [&](int64_t i, uint64_t v) { py[i] = T(v); });
          });
        },
});

}  // namespace
}  // namespace kiln::ops
