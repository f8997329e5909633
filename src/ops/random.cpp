// RandomUniform, RandomNormal, RandomUniformLike, RandomNormalLike and Bernoulli (ONNX opset
// 22 semantics). Values are drawn in double and converted to the output type as Cast does.
//
//   RandomUniform(Like): uniform in [low, high) (defaults 0 and 1);
//   RandomNormal(Like):  mean + scale * N(0, 1) (defaults 0 and 1), Box-Muller;
//   Bernoulli:           1 where a uniform draw in [0, 1) is below the input's probability.
//
// `dtype` (a kiln DataType; the importer converts ONNX's number) is the output type: float32 by
// default for RandomUniform / RandomNormal, the input's type for the *Like ops and Bernoulli.
// The *Like ops take only the input's shape. Each node draws from a SplitMix64 stream seeded by
// its `seed` attribute's bits or, without one, by a hash of the node's name: kiln's engines are
// reproducible (every run of an engine gives the same values, as TensorRT's random fills do),
// and the ONNX spec leaves the choice of an absent seed to the runtime. The streams are kiln's
// own: they cannot match numpy's or onnxruntime's generators, so outputs differ from the ONNX
// reference's (only their distribution is the spec's). The constant-folding pass leaves these
// ops alone (passes/constant_folding.cpp), but since a node's values depend only on its seed
// and shape, outputs small enough for shape-time evaluation (ops::kMaxShapeTimeElements) are
// computed at build time like any other known value, and become constants of the engine.
// The CUDA kernels (backends/cuda/random.cu) draw the same streams (ops/random_stream.h).
#include <bit>
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "ops/common.h"
#include "ops/random_stream.h"

namespace kiln::ops {
namespace {

DataType output_dtype(const InferContext& ctx, DataType fallback, bool any_numeric) {
  const ir::Node& node = ctx.node();
  if (!node.has_attr("dtype")) return fallback;
  const int64_t raw = node.attr_int("dtype");
  ctx.check(is_valid_data_type(raw), "dtype ", raw, " is not a data type");
  const DataType t = DataType(raw);
  ctx.check(random_stream::is_random_float_type(t) ||
                (any_numeric && (t == DataType::kBool || (is_integer(t) && !is_sub_byte(t)))),
            "dtype ", to_string(t), " is not supported");
  return t;
}

// Writes double `values` into `out` converted as Cast converts.
void write_values(const std::vector<double>& values, Tensor& out) {
  const Tensor wide = Tensor::from_vector<double>(DataType::kFloat64, out.shape(), values);
  const Tensor converted = wide.cast(out.dtype());
  if (converted.nbytes()) std::memcpy(out.raw(), converted.raw(), converted.nbytes());
}

Dims shape_attribute(const InferContext& ctx) {
  const std::vector<int64_t> shape = ctx.node().attr_ints("shape");
  for (int64_t d : shape) {
    ctx.check(d >= 0, "shape ", to_string(Dims(shape)), " has a negative extent");
  }
  return Dims(shape);
}

void infer_random(InferContext& ctx, bool like) {
  if (!like) {
    const DataType t = output_dtype(ctx, DataType::kFloat32, false);
    ctx.check(random_stream::is_random_float_type(t), "dtype ", to_string(t),
              " is not a float type");
    ctx.set_output(0, t, shape_attribute(ctx));
    return;
  }
  const DataType in = ctx.input_dtype(0);
  const DataType t = output_dtype(ctx, in, false);
  ctx.check(random_stream::is_random_float_type(t), "output type ", to_string(t),
            " is not a float type (set dtype for a non-float input)");
  ctx.set_output(0, t, ctx.input_shape(0));
}

void compute_uniform(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const double low = node.attr_float("low", 0.0), high = node.attr_float("high", 1.0);
  const uint64_t seed = random_stream::seed_for(node);
  Tensor& out = ctx.output(0);
  std::vector<double> values(size_t(out.numel()));
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = low + (high - low) * random_stream::unit(seed, i);
  }
  write_values(values, out);
}

void compute_normal(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const double mean = node.attr_float("mean", 0.0), scale = node.attr_float("scale", 1.0);
  const uint64_t seed = random_stream::seed_for(node);
  Tensor& out = ctx.output(0);
  std::vector<double> values(size_t(out.numel()));
  // Elements i and i + 1 are one Box-Muller pair, from draws i and i + 1.
  for (size_t i = 0; i < values.size(); i += 2) {
    const double u1 = 1.0 - random_stream::unit(seed, i);  // (0, 1]: log stays finite
    const double u2 = random_stream::unit(seed, i + 1);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    values[i] = mean + scale * radius * std::cos(2 * std::numbers::pi * u2);
    if (i + 1 < values.size()) {
      values[i + 1] = mean + scale * radius * std::sin(2 * std::numbers::pi * u2);
    }
  }
  write_values(values, out);
}

KILN_REGISTER_OP(OpDef{
    .name = "RandomUniform",
    .min_inputs = 0,
    .max_inputs = 0,
    .infer = [](InferContext& ctx) { infer_random(ctx, false); },
    .compute = compute_uniform,
});

KILN_REGISTER_OP(OpDef{
    .name = "RandomNormal",
    .min_inputs = 0,
    .max_inputs = 0,
    .infer = [](InferContext& ctx) { infer_random(ctx, false); },
    .compute = compute_normal,
});

KILN_REGISTER_OP(OpDef{
    .name = "RandomUniformLike",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { infer_random(ctx, true); },
    .compute = compute_uniform,
});

KILN_REGISTER_OP(OpDef{
    .name = "RandomNormalLike",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { infer_random(ctx, true); },
    .compute = compute_normal,
});

void infer_bernoulli(InferContext& ctx) {
  const DataType in = ctx.input_dtype(0);
  ctx.check(random_stream::is_random_float_type(in), "input has type ", to_string(in),
            "; float32, float16, bfloat16 or float64 probabilities expected");
  ctx.set_output(0, output_dtype(ctx, in, true), ctx.input_shape(0));
}

void compute_bernoulli(ComputeContext& ctx) {
  const Tensor& p = ctx.input(0);
  const uint64_t seed = random_stream::seed_for(ctx.node());
  std::vector<double> values(size_t(p.numel()));
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = random_stream::unit(seed, i) < p.as_double(int64_t(i)) ? 1.0 : 0.0;
  }
  write_values(values, ctx.output(0));
}

KILN_REGISTER_OP(OpDef{
    .name = "Bernoulli",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_bernoulli,
    .compute = compute_bernoulli,
});

}  // namespace

uint64_t random_stream::seed_for(const ir::Node& node) {
  if (node.has_attr("seed")) return std::bit_cast<uint64_t>(node.attr_float("seed"));
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a of the node's name
  for (unsigned char c : node.name) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

}  // namespace kiln::ops
