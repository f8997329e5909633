// Normalization ops: BatchNormalization (inference), LayerNormalization, InstanceNormalization,
// GroupNormalization, LpNormalization, MeanVarianceNormalization and LRN.
//
// Statistics (means, variances, norms) accumulate in double; element math is float32 for
// float16/bfloat16/float32 inputs and double for float64. BatchNormalization and
// LayerNormalization run on real model activations (ResNet, BERT), so their float32 paths are
// plain loops over contiguous memory; the rest are straightforward reference loops.
#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void check_float_input(const InferContext& ctx, size_t i, const char* what) {
  ctx.check(is_float_type(ctx.input_dtype(i)), what, " has type ", to_string(ctx.input_dtype(i)),
            "; float16, bfloat16, float32 or float64 expected");
}

// Runs kernel(const T* x, T* y) with T = double for float64 inputs and float otherwise;
// float16/bfloat16 go through float32 copies and are rounded once on the way out.
template <typename Kernel>
void run_float_kernel(const Tensor& x, Tensor& y, Kernel&& kernel) {
  switch (x.dtype()) {
    case DataType::kFloat32:
      kernel(x.data<float>(), y.data<float>());
      return;
    case DataType::kFloat64:
      kernel(x.data<double>(), y.data<double>());
      return;
    default: {
      Tensor xf = to_float32(x);
      Tensor yf = Tensor::zeros(DataType::kFloat32, y.shape());
      kernel(static_cast<const float*>(xf.data<float>()), yf.data<float>());
      store_from_float32(yf, y);
    }
  }
}

int64_t product(const Dims& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end; ++d) p *= shape[d];
  return p;
}

// A per-channel parameter ([C]) as doubles, checked at shape time.
void check_channel_param(const InferContext& ctx, size_t i, const char* what, int64_t channels) {
  check_float_input(ctx, i, what);
  ctx.check(ctx.input_shape(i) == Dims{channels}, what, " must have shape [", channels,
            "] (one value per channel), got ", to_string(ctx.input_shape(i)));
}

// ONNX TensorProto element type codes allowed for stash_type.
DataType stash_dtype(const InferContext& ctx) {
  const int64_t code = ctx.node().attr_int("stash_type", 1);
  switch (code) {
    case 1:
      return DataType::kFloat32;
    case 10:
      return DataType::kFloat16;
    case 11:
      return DataType::kFloat64;
    case 16:
      return DataType::kBFloat16;
    default:
      ctx.check(false, "stash_type ", code,
                " is not a floating-point type (1 float, 10 float16, 11 double, 16 bfloat16)");
      return DataType::kFloat32;
  }
}

// Element i of a float tensor of any float dtype, from a double statistic.
void store_double(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat64) {
    t.data<double>()[i] = v;
  } else {
    store_float(t, i, float(v));
  }
}

double epsilon_of(const ir::Node& node) { return node.attr_float("epsilon", 1e-5); }

// Mean and 1 / sqrt(variance + epsilon) of n contiguous values, in double (two passes, so the
// variance does not suffer the cancellation of E[x^2] - E[x]^2). Four partial sums let the
// additions overlap instead of waiting on one another.
template <typename T>
std::pair<double, double> moments(const T* x, int64_t n, double epsilon) {
  double s[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) s[k] += double(x[i + k]);
  }
  for (; i < n; ++i) s[0] += double(x[i]);
  const double mean = ((s[0] + s[1]) + (s[2] + s[3])) / double(n);
  double q[4] = {0, 0, 0, 0};
  i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) {
      const double d = double(x[i + k]) - mean;
      q[k] += d * d;
    }
  }
  for (; i < n; ++i) {
    const double d = double(x[i]) - mean;
    q[0] += d * d;
  }
  const double variance = ((q[0] + q[1]) + (q[2] + q[3])) / double(n);
  return {mean, 1.0 / std::sqrt(variance + epsilon)};
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = (x - mean) / sqrt(var + epsilon) * scale + B per channel,
// folded into y = x * a[c] + b[c].

void infer_batch_norm(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  if (node.attr_int("training_mode", 0) != 0) {
    fail(ErrorCode::kUnsupported, node.describe(),
         ": training_mode=1 is not supported: kiln runs inference only");
  }
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != nullptr) {
      fail(ErrorCode::kUnsupported, node.describe(),
           ": the running_mean/running_var outputs exist only in training mode, which kiln "
           "does not support");
    }
  }
  check_float_input(ctx, 0, "X");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(!shape.empty(), "X must have rank 1 or more");
  const int64_t channels = shape.size() >= 2 ? shape[1] : 1;
  check_channel_param(ctx, 1, "scale", channels);
  check_channel_param(ctx, 2, "B", channels);
  check_channel_param(ctx, 3, "input_mean", channels);
  check_channel_param(ctx, 4, "input_var", channels);
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

void compute_batch_norm(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Dims& shape = x.shape();
  const int64_t batches = shape[0];
  const int64_t channels = shape.size() >= 2 ? shape[1] : 1;
  const int64_t spatial = shape.size() >= 2 ? product(shape, 2, shape.size()) : 1;
  const double epsilon = epsilon_of(ctx.node());
  const std::vector<double> scale = ctx.input(1).to_double_vector();
  const std::vector<double> bias = ctx.input(2).to_double_vector();
  const std::vector<double> mean = ctx.input(3).to_double_vector();
  const std::vector<double> var = ctx.input(4).to_double_vector();
  std::vector<double> mul(static_cast<size_t>(channels));
  std::vector<double> add(static_cast<size_t>(channels));
  for (size_t c = 0; c < size_t(channels); ++c) {
    mul[c] = scale[c] / std::sqrt(var[c] + epsilon);
    add[c] = bias[c] - mean[c] * mul[c];
  }
  run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
    for (int64_t n = 0; n < batches; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        const T a = T(mul[size_t(c)]);
        const T b = T(add[size_t(c)]);
        const int64_t base = (n * channels + c) * spatial;
        const T* src = in + base;
        T* dst = out + base;
        for (int64_t s = 0; s < spatial; ++s) dst[s] = src[s] * a + b;
      }
    }
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "BatchNormalization",
    .min_inputs = 5,
    .max_inputs = 5,
    .min_outputs = 1,
    .max_outputs = 3,
    .infer = infer_batch_norm,
    .compute = compute_batch_norm,
});

// ---------------------------------------------------------------------------------------------
// LayerNormalization: each row X[i, axis:] is standardized, then scaled and shifted by Scale and
// B, which broadcast unidirectionally to X.

// Values of `t` broadcast over `shape` with the given strides into `t`, row-major.
template <typename T>
std::vector<T> expand_values(const Tensor& t, const Dims& shape, const Dims& strides) {
  std::vector<T> out(size_t(volume(shape)));
  for_each_broadcast<1>(shape, {strides}, [&](int64_t i, const std::array<int64_t, 1>& offset) {
    out[size_t(i)] = T(t.as_double(offset[0]));
  });
  return out;
}

// A scale or bias broadcast over X, stored per row of the normalized block when it does not
// vary across rows (the usual [d_axis..d_last] weights) and for every element otherwise.
template <typename T>
struct RowParam {
  std::vector<T> values;
  int64_t row_stride = 0;

  RowParam(const Tensor& t, const Dims& x_shape, size_t axis) {
    const Dims strides = broadcast_strides(t.shape(), x_shape);
    bool per_row = false;
    for (size_t d = 0; d < axis; ++d) per_row |= strides[d] != 0;
    if (per_row) {
      values = expand_values<T>(t, x_shape, strides);
      row_stride = product(x_shape, axis, x_shape.size());
    } else {
      const Dims row_shape(x_shape.begin() + ptrdiff_t(axis), x_shape.end());
      const Dims row_strides(strides.begin() + ptrdiff_t(axis), strides.end());
      values = expand_values<T>(t, row_shape, row_strides);
    }
  }
  const T* row(int64_t r) const { return values.data() + r * row_stride; }
};

void check_unidirectional(const InferContext& ctx, size_t i, const char* what) {
  const Dims& x = ctx.input_shape(0);
  const Dims& p = ctx.input_shape(i);
  ctx.check(p.size() <= x.size() && broadcast_shapes(ctx.node(), {x, p}) == x, what, " of shape ",
            to_string(p), " does not broadcast to X of shape ", to_string(x));
}

void infer_layer_norm(InferContext& ctx) {
  check_float_input(ctx, 0, "X");
  check_float_input(ctx, 1, "Scale");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(!shape.empty(), "X must have rank 1 or more");
  const int64_t rank = int64_t(shape.size());
  const int64_t axis = ctx.node().attr_int("axis", -1);
  ctx.check(axis >= -rank && axis < rank, "axis ", axis, " is out of range for rank ", rank);
  const size_t a = size_t(axis < 0 ? axis + rank : axis);
  check_unidirectional(ctx, 1, "Scale");
  if (ctx.has_input(2)) {
    check_float_input(ctx, 2, "B");
    check_unidirectional(ctx, 2, "B");
  }
  const DataType stash = stash_dtype(ctx);
  ctx.set_output(0, ctx.input_dtype(0), shape);
  Dims stat_shape = shape;
  for (size_t d = a; d < stat_shape.size(); ++d) stat_shape[d] = 1;
  for (size_t i = 1; i < ctx.num_outputs(); ++i) {
    if (ctx.node().outputs[i] != nullptr) ctx.set_output(i, stash, stat_shape);
  }
}

void compute_layer_norm(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Dims& shape = x.shape();
  const int64_t rank = int64_t(shape.size());
  const int64_t axis_attr = ctx.node().attr_int("axis", -1);
  const size_t axis = size_t(axis_attr < 0 ? axis_attr + rank : axis_attr);
  const int64_t rows = product(shape, 0, axis);
  const int64_t n = product(shape, axis, shape.size());
  const double epsilon = epsilon_of(ctx.node());
  Tensor* mean_out = ctx.has_output(1) ? &ctx.output(1) : nullptr;
  Tensor* inv_std_out = ctx.has_output(2) ? &ctx.output(2) : nullptr;
  run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
    const RowParam<T> scale(ctx.input(1), shape, axis);
    const bool has_bias = ctx.has_input(2);
    const RowParam<T> bias(has_bias ? ctx.input(2) : Tensor::zeros(DataType::kFloat32, {}), shape,
                           axis);
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = in + r * n;
      T* dst = out + r * n;
      const auto [mean, inv_std] = moments(src, n, epsilon);
      const T mean_t = T(mean);
      const T inv_std_t = T(inv_std);
      const T* s = scale.row(r);
      const T* b = bias.row(r);
      for (int64_t i = 0; i < n; ++i) dst[i] = (src[i] - mean_t) * inv_std_t * s[i] + b[i];
      if (mean_out) store_double(*mean_out, r, mean);
      if (inv_std_out) store_double(*inv_std_out, r, inv_std);
    }
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "LayerNormalization",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 3,
    .infer = infer_layer_norm,
    .compute = compute_layer_norm,
});

// ---------------------------------------------------------------------------------------------
// InstanceNormalization and GroupNormalization: X is [N, C, D1, ...]; each (n, group of channels)
// block is contiguous, is standardized, then scaled and shifted per channel. Instance
// normalization is the case of one channel per group.

template <typename T>
void normalize_channel_groups(const T* in, T* out, const Dims& shape, int64_t groups,
                              const std::vector<double>& scale, const std::vector<double>& bias,
                              double epsilon) {
  const int64_t batches = shape[0];
  const int64_t channels = shape[1];
  if (groups == 0) return;  // no channels (instance normalization of an empty tensor)
  const int64_t spatial = product(shape, 2, shape.size());
  const int64_t per_group = channels / groups;
  const int64_t block = per_group * spatial;
  for (int64_t n = 0; n < batches; ++n) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t base = (n * channels + g * per_group) * spatial;
      const T* src = in + base;
      const auto [mean, inv_std] = moments(src, block, epsilon);
      for (int64_t k = 0; k < per_group; ++k) {
        const size_t c = size_t(g * per_group + k);
        const T a = T(scale[c] * inv_std);
        const T b = T(bias[c] - mean * scale[c] * inv_std);
        const T* s = src + k * spatial;
        T* d = out + base + k * spatial;
        for (int64_t i = 0; i < spatial; ++i) d[i] = s[i] * a + b;
      }
    }
  }
}

void infer_channel_groups(InferContext& ctx, int64_t groups) {
  check_float_input(ctx, 0, "X");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(shape.size() >= 2, "X must have rank 2 or more ([N, C, ...]), got shape ",
            to_string(shape));
  const int64_t channels = shape[1];
  if (groups > 0) {
    ctx.check(channels % groups == 0, "the ", channels, " channels cannot be split into ", groups,
              " groups of equal size");
  }
  check_channel_param(ctx, 1, "scale", channels);
  check_channel_param(ctx, 2, "bias", channels);
  ctx.set_output(0, ctx.input_dtype(0), shape);
}

void compute_channel_groups(ComputeContext& ctx, int64_t groups) {
  const Tensor& x = ctx.input(0);
  const std::vector<double> scale = ctx.input(1).to_double_vector();
  const std::vector<double> bias = ctx.input(2).to_double_vector();
  const double epsilon = epsilon_of(ctx.node());
  run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
    normalize_channel_groups(in, out, x.shape(), groups, scale, bias, epsilon);
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "InstanceNormalization",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer =
        [](InferContext& ctx) {
          const Dims& shape = ctx.input_shape(0);
          infer_channel_groups(ctx, shape.size() >= 2 ? shape[1] : 0);
        },
    .compute = [](ComputeContext& ctx) { compute_channel_groups(ctx, ctx.input(0).shape()[1]); },
});

KILN_REGISTER_OP(OpDef{
    .name = "GroupNormalization",
    .min_inputs = 3,
    .max_inputs = 3,
    .infer =
        [](InferContext& ctx) {
          const int64_t groups = ctx.node().attr_int("num_groups");
          ctx.check(groups > 0, "num_groups must be positive, got ", groups);
          stash_dtype(ctx);  // validates the attribute; statistics are float32 or wider anyway
          infer_channel_groups(ctx, groups);
        },
    .compute =
        [](ComputeContext& ctx) { compute_channel_groups(ctx, ctx.node().attr_int("num_groups")); },
});

// ---------------------------------------------------------------------------------------------
// LpNormalization: x / ||x||_p along one axis (p = 1 or 2); a zero norm gives zeros.

KILN_REGISTER_OP(OpDef{
    .name = "LpNormalization",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          check_float_input(ctx, 0, "input");
          const Dims& shape = ctx.input_shape(0);
          ctx.check(!shape.empty(), "input must have rank 1 or more");
          normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(shape.size()));
          const int64_t p = ctx.node().attr_int("p", 2);
          ctx.check(p == 1 || p == 2, "p must be 1 or 2, got ", p);
          ctx.set_output(0, ctx.input_dtype(0), shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          const Dims& shape = x.shape();
          const size_t axis = size_t(
              normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(x.rank())));
          const bool l1 = ctx.node().attr_int("p", 2) == 1;
          const int64_t outer = product(shape, 0, axis);
          const int64_t n = shape[axis];
          const int64_t inner = product(shape, axis + 1, shape.size());
          run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
            for (int64_t o = 0; o < outer; ++o) {
              for (int64_t j = 0; j < inner; ++j) {
                const T* src = in + o * n * inner + j;
                T* dst = out + o * n * inner + j;
                double acc = 0;
                for (int64_t i = 0; i < n; ++i) {
                  const double v = src[i * inner];
                  acc += l1 ? std::fabs(v) : v * v;
                }
                const double norm = l1 ? acc : std::sqrt(acc);
                for (int64_t i = 0; i < n; ++i) {
                  dst[i * inner] = norm == 0 ? T(0) : T(double(src[i * inner]) / norm);
                }
              }
            }
          });
        },
});

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization: (x - mean) / (sqrt(variance) + 1e-9) over `axes`, as the ONNX
// function body defines it (the variance is computed as E[(x - mean)^2], the same quantity as
// the body's E[x^2] - E[x]^2 without its cancellation).

std::vector<int64_t> mvn_axes(const ir::Node& node, int64_t rank) {
  std::vector<int64_t> axes = normalize_axes(node, node.attr_ints("axes", {0, 2, 3}), rank);
  std::vector<int64_t> sorted = axes;
  std::sort(sorted.begin(), sorted.end());
  KILN_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(),
             ErrorCode::kInvalidModel, node.describe(), ": axes repeat an axis");
  return axes;
}

KILN_REGISTER_OP(OpDef{
    .name = "MeanVarianceNormalization",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          check_float_input(ctx, 0, "X");
          mvn_axes(ctx.node(), int64_t(ctx.input_shape(0).size()));
          ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          const Dims& shape = x.shape();
          // Each element's statistics slot: its index in the shape with the axes set to 1.
          Dims stat_shape = shape;
          for (int64_t a : mvn_axes(ctx.node(), int64_t(shape.size()))) stat_shape[size_t(a)] = 1;
          const std::array<Dims, 1> strides{broadcast_strides(stat_shape, shape)};
          const int64_t groups = volume(stat_shape);
          const double count = double(volume(shape)) / double(std::max<int64_t>(groups, 1));
          run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
            std::vector<double> mean(size_t(groups), 0.0), var(size_t(groups), 0.0);
            for_each_broadcast<1>(shape, strides, [&](int64_t i, const std::array<int64_t, 1>& g) {
              mean[size_t(g[0])] += in[i];
            });
            for (double& m : mean) m /= count;
            for_each_broadcast<1>(shape, strides, [&](int64_t i, const std::array<int64_t, 1>& g) {
              const double d = in[i] - mean[size_t(g[0])];
              var[size_t(g[0])] += d * d;
            });
            for (double& v : var) v = std::sqrt(v / count) + 1e-9;
            for_each_broadcast<1>(shape, strides, [&](int64_t i, const std::array<int64_t, 1>& g) {
              out[i] = T((in[i] - mean[size_t(g[0])]) / var[size_t(g[0])]);
            });
          });
        },
});

// ---------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of x^2 over neighbouring channels) ^ beta, the
// neighbourhood of channel c being [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)].

KILN_REGISTER_OP(OpDef{
    .name = "LRN",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer =
        [](InferContext& ctx) {
          check_float_input(ctx, 0, "X");
          const Dims& shape = ctx.input_shape(0);
          ctx.check(shape.size() >= 2, "X must have rank 2 or more ([N, C, ...]), got shape ",
                    to_string(shape));
          const int64_t size = ctx.node().attr_int("size");
          ctx.check(size > 0, "size must be positive, got ", size);
          ctx.set_output(0, ctx.input_dtype(0), shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          const Dims& shape = x.shape();
          const ir::Node& node = ctx.node();
          const int64_t size = node.attr_int("size");
          const double alpha = node.attr_float("alpha", 1e-4);
          const double beta = node.attr_float("beta", 0.75);
          const double bias = node.attr_float("bias", 1.0);
          const int64_t before = (size - 1) / 2;
          const int64_t after = size / 2;  // ceil((size - 1) / 2)
          const int64_t batches = shape[0];
          const int64_t channels = shape[1];
          const int64_t spatial = product(shape, 2, shape.size());
          run_float_kernel(x, ctx.output(0), [&](const auto* in, auto* out) {
            using T = std::remove_const_t<std::remove_pointer_t<decltype(in)>>;
            std::vector<double> square_sum(static_cast<size_t>(spatial));
            for (int64_t n = 0; n < batches; ++n) {
              for (int64_t c = 0; c < channels; ++c) {
                std::fill(square_sum.begin(), square_sum.end(), 0.0);
                const int64_t first = std::max<int64_t>(0, c - before);
                const int64_t last = std::min(channels - 1, c + after);
                for (int64_t k = first; k <= last; ++k) {
                  const T* src = in + (n * channels + k) * spatial;
                  for (int64_t s = 0; s < spatial; ++s) {
                    square_sum[size_t(s)] += double(src[s]) * double(src[s]);
                  }
                }
                const T* src = in + (n * channels + c) * spatial;
                T* dst = out + (n * channels + c) * spatial;
                for (int64_t s = 0; s < spatial; ++s) {
                  const double denom =
                      std::pow(bias + alpha / double(size) * square_sum[size_t(s)], beta);
                  dst[s] = T(double(src[s]) / denom);
                }
              }
            }
          });
        },
});

}  // namespace
}  // namespace kiln::ops
