// Signal processing ops (ONNX opset 17/20 semantics): DFT, STFT, the HannWindow,
// HammingWindow and BlackmanWindow generators and MelWeightMatrix.
//
// Complex tensors are real tensors with a trailing dimension of 2 (real, imaginary); a real
// signal has a trailing dimension of 1. Everything computes in double and is stored once in
// the output type. The transforms are direct O(n^2) sums over a table of the n roots of unity
// (exact angles 2*pi*j/n, so no error builds up along the line): a reference, not a fast FFT.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <numbers>
#include <optional>
#include <vector>

#include "core/checked_size.h"
#include "ops/common.h"

namespace kiln::ops {
namespace {

using Complex = std::complex<double>;

bool is_float_dtype(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void store_double(Tensor& t, int64_t i, double v) {
  switch (t.dtype()) {
    case DataType::kFloat64:
      t.data<double>()[i] = v;
      break;
    case DataType::kFloat32:
      t.data<float>()[i] = float(v);
      break;
    default:
      store_float(t, i, float(v));
  }
}

// A scalar (or one-element) integer input read at shape time.
int64_t scalar_int_input(const InferContext& ctx, size_t i, std::string_view what) {
  const Tensor& t = ctx.require_integer_value(i, what);
  ctx.check(t.numel() == 1 && t.rank() <= 1, what, " must be a scalar, got shape ",
            to_string(t.shape()));
  return t.as_int64(0);
}

// An InferContext over a compute's actual inputs, so that compute derives the axis, lengths
// and extents with the very code (and checks) that inference used.
InferContext infer_context_of(const ComputeContext& ctx) {
  std::vector<std::optional<TensorDesc>> descs;
  std::vector<const Tensor*> values;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i)) {
      descs.push_back(TensorDesc{ctx.input(i).dtype(), ctx.input(i).shape()});
      values.push_back(&ctx.input(i));
    } else {
      descs.push_back(std::nullopt);
      values.push_back(nullptr);
    }
  }
  return InferContext(ctx.node(), std::move(descs), std::move(values));
}

// e^(-2*pi*i*j/n) for j in [0, n): the forward transform's twiddle factors; the inverse uses
// their conjugates.
std::vector<Complex> roots_of_unity(int64_t n) {
  std::vector<Complex> roots(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const double angle = -2.0 * std::numbers::pi * double(j) / double(n);
    roots[size_t(j)] = Complex(std::cos(angle), std::sin(angle));
  }
  return roots;
}

// y[k] = sum_t x[t] * e^(-+2*pi*i*k*t/n) for k in [0, bins); x has n entries.
void direct_dft(const std::vector<Complex>& x, const std::vector<Complex>& roots, bool inverse,
                int64_t bins, std::vector<Complex>& y) {
  const int64_t n = int64_t(x.size());
  y.assign(size_t(bins), Complex(0, 0));
  for (int64_t k = 0; k < bins; ++k) {
    Complex sum(0, 0);
    for (int64_t t = 0; t < n; ++t) {
      const Complex w = roots[size_t((k * t) % n)];
      sum += x[size_t(t)] * (inverse ? std::conj(w) : w);
    }
    y[size_t(k)] = sum;
  }
}

// =============================================================================================
// DFT: inputs (input, dft_length?, axis?); attributes inverse, onesided.

struct DftPlan {
  int64_t axis = 0;        // in [0, rank - 2]
  int64_t length = 0;      // dft_length: the transform size n
  int64_t out_extent = 0;  // the output's extent along axis
  bool inverse = false;
  bool onesided = false;
  bool real_output = false;  // IRFFT: the output's last dim is 1
};

DftPlan plan_dft(const InferContext& ctx) {
  const Dims& shape = ctx.input_shape(0);
  const int64_t rank = int64_t(shape.size());
  ctx.check(rank >= 2, "input must have rank 2 or more ([..., signal, 1 or 2]), got shape ",
            to_string(shape));
  ctx.check(shape.back() == 1 || shape.back() == 2,
            "the last dimension must be 1 (real) or 2 (complex), got shape ", to_string(shape));
  DftPlan plan;
  const int64_t inverse = ctx.node().attr_int("inverse", 0);
  const int64_t onesided = ctx.node().attr_int("onesided", 0);
  ctx.check(inverse == 0 || inverse == 1, "inverse must be 0 or 1, got ", inverse);
  ctx.check(onesided == 0 || onesided == 1, "onesided must be 0 or 1, got ", onesided);
  plan.inverse = inverse == 1;
  plan.onesided = onesided == 1;
  int64_t axis = ctx.has_input(2) ? scalar_int_input(ctx, 2, "axis") : -2;
  // The last dimension holds the complex parts, so it is no valid axis.
  const int64_t given_axis = axis;
  if (axis < 0) axis += rank;
  ctx.check(axis >= 0 && axis <= rank - 2, "axis ", given_axis, " is out of range [", -rank,
            ", -2] or [0, ", rank - 2, "] for input of rank ", rank,
            " (the last dimension holds the complex parts)");
  plan.axis = axis;
  const int64_t m = shape[size_t(axis)];
  if (ctx.has_input(1)) {
    plan.length = scalar_int_input(ctx, 1, "dft_length");
  } else {
    plan.length = plan.inverse && plan.onesided ? 2 * (m - 1) : m;
  }
  ctx.check(plan.length >= 1, "dft_length must be positive, got ", plan.length);
  plan.real_output = plan.inverse && plan.onesided;
  plan.out_extent = plan.onesided && !plan.inverse ? plan.length / 2 + 1 : plan.length;
  return plan;
}

void infer_dft(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(is_float_dtype(dtype), "input type ", to_string(dtype),
            " is not supported (float16, bfloat16, float32 or float64 expected)");
  const DftPlan plan = plan_dft(ctx);
  Dims out = ctx.input_shape(0);
  out[size_t(plan.axis)] = plan.out_extent;
  out.back() = plan.real_output ? 1 : 2;
  ctx.set_output(0, dtype, out);
}

void compute_dft(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const DftPlan plan = plan_dft(infer_context_of(ctx));

  // The input seen as [outer, m, inner, in_parts], the output as [outer, bins, inner, out_parts].
  const Dims& shape = x.shape();
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t d = 0; d < plan.axis; ++d) outer *= shape[size_t(d)];
  for (size_t d = size_t(plan.axis) + 1; d + 1 < shape.size(); ++d) inner *= shape[d];
  const int64_t m = shape[size_t(plan.axis)];
  const int64_t in_parts = shape.back();
  const int64_t out_parts = plan.real_output ? 1 : 2;
  const int64_t n = plan.length;
  const int64_t bins = plan.out_extent;
  const std::vector<Complex> roots = roots_of_unity(n);
  std::vector<Complex> line(static_cast<size_t>(n));
  std::vector<Complex> result;
  auto input_at = [&](int64_t o, int64_t i, int64_t j) {
    const int64_t base = ((o * m + i) * inner + j) * in_parts;
    return Complex(x.as_double(base), in_parts == 2 ? x.as_double(base + 1) : 0.0);
  };
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      if (plan.real_output) {
        // IRFFT: the input holds bins [0, n/2] of a Hermitian spectrum; the rest are the
        // conjugates (X[n-k] = conj(X[k])). Bins the input lacks are zero.
        for (int64_t k = 0; k < n; ++k) {
          const int64_t source = k <= n / 2 ? k : n - k;
          Complex v = source < m ? input_at(o, source, j) : Complex(0, 0);
          line[size_t(k)] = k <= n / 2 ? v : std::conj(v);
        }
      } else {
        // Truncated or zero-padded to n samples.
        for (int64_t t = 0; t < n; ++t) {
          line[size_t(t)] = t < m ? input_at(o, t, j) : Complex(0, 0);
        }
      }
      direct_dft(line, roots, plan.inverse, bins, result);
      for (int64_t k = 0; k < bins; ++k) {
        Complex v = result[size_t(k)];
        if (plan.inverse) v /= double(n);
        const int64_t base = ((o * bins + k) * inner + j) * out_parts;
        store_double(y, base, v.real());
        if (out_parts == 2) store_double(y, base + 1, v.imag());
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "DFT",
    .min_inputs = 1,
    .max_inputs = 3,
    .infer = infer_dft,
    .compute = compute_dft,
});

// =============================================================================================
// STFT: inputs (signal [batch, length, 1 or 2], frame_step, window?, frame_length?);
// attribute onesided (default 1). Output [batch, frames, bins, 2].

struct StftPlan {
  int64_t frame_step = 0;
  int64_t frame_length = 0;
  int64_t frames = 0;
  int64_t bins = 0;
};

StftPlan plan_stft(const InferContext& ctx) {
  const Dims& shape = ctx.input_shape(0);
  ctx.check(shape.size() == 3 && (shape[2] == 1 || shape[2] == 2),
            "signal must have shape [batch, length, 1 or 2], got ", to_string(shape));
  const int64_t length = shape[1];
  StftPlan plan;
  plan.frame_step = scalar_int_input(ctx, 1, "frame_step");
  ctx.check(plan.frame_step >= 1, "frame_step must be positive, got ", plan.frame_step);
  if (ctx.has_input(2)) {
    ctx.check(ctx.input_dtype(2) == ctx.input_dtype(0), "window has type ",
              to_string(ctx.input_dtype(2)), " but the signal has type ",
              to_string(ctx.input_dtype(0)));
    ctx.check(ctx.input_shape(2).size() == 1, "window must be 1-D, got shape ",
              to_string(ctx.input_shape(2)));
  }
  if (ctx.has_input(3)) {
    plan.frame_length = scalar_int_input(ctx, 3, "frame_length");
    if (ctx.has_input(2)) {
      ctx.check(ctx.input_shape(2)[0] == plan.frame_length, "window has length ",
                ctx.input_shape(2)[0], " but frame_length is ", plan.frame_length);
    }
  } else {
    plan.frame_length = ctx.has_input(2) ? ctx.input_shape(2)[0] : length;
  }
  ctx.check(plan.frame_length >= 1 && plan.frame_length <= length, "frame_length ",
            plan.frame_length, " must be in [1, signal length ", length, "]");
  const int64_t onesided = ctx.node().attr_int("onesided", 1);
  ctx.check(onesided == 0 || onesided == 1, "onesided must be 0 or 1, got ", onesided);
  plan.frames = (length - plan.frame_length) / plan.frame_step + 1;
  plan.bins = onesided == 1 ? plan.frame_length / 2 + 1 : plan.frame_length;
  return plan;
}

void infer_stft(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(is_float_dtype(dtype), "signal type ", to_string(dtype),
            " is not supported (float16, bfloat16, float32 or float64 expected)");
  const StftPlan plan = plan_stft(ctx);
  ctx.set_output(0, dtype, {ctx.input_shape(0)[0], plan.frames, plan.bins, 2});
}

void compute_stft(ComputeContext& ctx) {
  const Tensor& signal = ctx.input(0);
  Tensor& y = ctx.output(0);
  const int64_t batch = signal.dim(0);
  const int64_t length = signal.dim(1);
  const int64_t parts = signal.dim(2);
  const StftPlan plan = plan_stft(infer_context_of(ctx));
  const int64_t frame_length = plan.frame_length;
  const int64_t frames = plan.frames;
  const int64_t bins = plan.bins;
  const std::vector<Complex> roots = roots_of_unity(frame_length);
  std::vector<Complex> frame(static_cast<size_t>(frame_length));
  std::vector<Complex> result;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      for (int64_t t = 0; t < frame_length; ++t) {
        const int64_t base = (b * length + f * plan.frame_step + t) * parts;
        const double w = ctx.has_input(2) ? ctx.input(2).as_double(t) : 1.0;
        frame[size_t(t)] =
            w * Complex(signal.as_double(base), parts == 2 ? signal.as_double(base + 1) : 0.0);
      }
      direct_dft(frame, roots, false, bins, result);
      for (int64_t k = 0; k < bins; ++k) {
        const int64_t base = ((b * frames + f) * bins + k) * 2;
        store_double(y, base, result[size_t(k)].real());
        store_double(y, base + 1, result[size_t(k)].imag());
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "STFT",
    .min_inputs = 2,
    .max_inputs = 4,
    .infer = infer_stft,
    .compute = compute_stft,
});

// =============================================================================================
// Window generators and MelWeightMatrix: outputs built from scalar inputs, in the type named
// by `output_datatype` (an int64 kiln::DataType in kiln's IR; the importer converts ONNX's
// type number). Values are computed in double and converted as Cast would (truncation for
// integer types).

DataType output_datatype(const InferContext& ctx) {
  const int64_t raw = ctx.node().attr_int("output_datatype", int64_t(DataType::kFloat32));
  ctx.check(raw >= 0 && raw <= int64_t(DataType::kUInt64), "output_datatype ", raw,
            " is not a data type");
  const DataType dtype = DataType(raw);
  ctx.check(is_float_dtype(dtype) ||
                (is_integer(dtype) && dtype != DataType::kBool && !is_sub_byte(dtype)),
            "output_datatype ", to_string(dtype), " is not supported (a float or integer type)");
  return dtype;
}

void write_converted(const std::vector<double>& values, Tensor& out) {
  const Tensor wide = Tensor::from_vector<double>(DataType::kFloat64, out.shape(), values);
  const Tensor converted = wide.cast(out.dtype());
  if (converted.nbytes() != 0) std::memcpy(out.raw(), converted.raw(), converted.nbytes());
}

enum class WindowKind { kHann, kHamming, kBlackman };

int64_t window_size(const InferContext& ctx) {
  const int64_t size = scalar_int_input(ctx, 0, "size");
  ctx.check(size >= 0, "size must not be negative, got ", size);
  return size;
}

void infer_window(InferContext& ctx) {
  const int64_t periodic = ctx.node().attr_int("periodic", 1);
  ctx.check(periodic == 0 || periodic == 1, "periodic must be 0 or 1, got ", periodic);
  ctx.set_output(0, output_datatype(ctx), {window_size(ctx)});
}

// w[i] for i in [0, size): the cosine-sum windows of torch.*_window and the ONNX reference.
// A periodic window is the first `size` points of a symmetric window of size + 1.
void compute_window(ComputeContext& ctx, WindowKind kind) {
  Tensor& y = ctx.output(0);
  const int64_t size = y.dim(0);
  const bool periodic = ctx.node().attr_int("periodic", 1) == 1;
  const double denominator = double(periodic ? size : size - 1);
  std::vector<double> w(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) {
    // A symmetric window of one point would divide 0 by 0; torch returns [1] there.
    const double phase = denominator == 0 ? 0.0 : 2.0 * std::numbers::pi * double(i) / denominator;
    switch (kind) {
      case WindowKind::kHann:
        w[size_t(i)] = 0.5 - 0.5 * std::cos(phase);
        break;
      case WindowKind::kHamming: {
        // alpha = 25/46 (the "exact" Hamming coefficients), as the ONNX reference uses.
        const double alpha = 25.0 / 46.0;
        w[size_t(i)] = alpha - (1.0 - alpha) * std::cos(phase);
        break;
      }
      case WindowKind::kBlackman:
        w[size_t(i)] = 0.42 - 0.5 * std::cos(phase) + 0.08 * std::cos(2.0 * phase);
        break;
    }
  }
  write_converted(w, y);
}

KILN_REGISTER_OP(OpDef{
    .name = "HannWindow",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_window,
    .compute = [](ComputeContext& ctx) { compute_window(ctx, WindowKind::kHann); },
});

KILN_REGISTER_OP(OpDef{
    .name = "HammingWindow",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_window,
    .compute = [](ComputeContext& ctx) { compute_window(ctx, WindowKind::kHamming); },
});

KILN_REGISTER_OP(OpDef{
    .name = "BlackmanWindow",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_window,
    .compute = [](ComputeContext& ctx) { compute_window(ctx, WindowKind::kBlackman); },
});

// MelWeightMatrix: inputs (num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
// upper_edge_hertz); output [dft_length / 2 + 1, num_mel_bins] of triangular filters with
// peak 1. The band edges follow the ONNX reference: num_mel_bins + 2 points spaced by
// (high_mel - low_mel) / (num_mel_bins + 2) from low_mel, mapped back to hertz and then to
// the spectrogram bin floor((dft_length + 1) * hz / sample_rate).

void infer_mel_weight_matrix(InferContext& ctx) {
  const int64_t num_mel_bins = scalar_int_input(ctx, 0, "num_mel_bins");
  const int64_t dft_length = scalar_int_input(ctx, 1, "dft_length");
  ctx.check(num_mel_bins >= 1, "num_mel_bins must be positive, got ", num_mel_bins);
  ctx.check(dft_length >= 1, "dft_length must be positive, got ", dft_length);
  for (size_t i = 3; i < 5; ++i) {
    ctx.check(is_float_dtype(ctx.input_dtype(i)), "input ", i, " must be a float type, got ",
              to_string(ctx.input_dtype(i)));
    ctx.check(volume(ctx.input_shape(i)) == 1, "input ", i, " must be a scalar, got shape ",
              to_string(ctx.input_shape(i)));
  }
  ctx.check(ctx.input_dtype(2) == DataType::kInt32 || ctx.input_dtype(2) == DataType::kInt64,
            "sample_rate must be int32 or int64, got ", to_string(ctx.input_dtype(2)));
  ctx.set_output(0, output_datatype(ctx), {dft_length / 2 + 1, num_mel_bins});
}

double hertz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hertz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

void compute_mel_weight_matrix(ComputeContext& ctx) {
  Tensor& y = ctx.output(0);
  const int64_t spectrogram_bins = y.dim(0);
  const int64_t num_mel_bins = y.dim(1);
  const int64_t dft_length = ctx.input(1).as_int64(0);
  const int64_t sample_rate = ctx.input(2).as_int64(0);
  // float16/bfloat16/float32 edges are read as float32, as the reference computes them.
  const double lower_hz = ctx.input(3).as_double(0);
  const double upper_hz = ctx.input(4).as_double(0);
  const std::string where = ctx.node().describe();
  KILN_CHECK(sample_rate > 0, ErrorCode::kInvalidModel, where,
             ": sample_rate must be positive, got ", sample_rate);
  KILN_CHECK(0 <= lower_hz && lower_hz <= upper_hz, ErrorCode::kInvalidModel, where,
             ": the edges must satisfy 0 <= lower_edge_hertz <= upper_edge_hertz, got ", lower_hz,
             " and ", upper_hz);
  const double low_mel = hertz_to_mel(lower_hz);
  const double mel_step = (hertz_to_mel(upper_hz) - low_mel) / double(num_mel_bins + 2);
  std::vector<int64_t> edges(size_t(num_mel_bins + 2));
  for (int64_t i = 0; i < num_mel_bins + 2; ++i) {
    const double hz = mel_to_hertz(double(i) * mel_step + low_mel);
    edges[size_t(i)] = checked_int64_from_double(
        std::floor(double(dft_length + 1) * hz / double(sample_rate)), where);
    KILN_CHECK(edges[size_t(i)] < spectrogram_bins, ErrorCode::kInvalidModel, where,
               ": upper_edge_hertz ", upper_hz, " maps past the last spectrogram bin (",
               spectrogram_bins - 1, ") for sample_rate ", sample_rate);
  }
  std::vector<double> w(size_t(spectrogram_bins * num_mel_bins), 0.0);
  auto at = [&](int64_t bin, int64_t mel) -> double& {
    return w[size_t(bin * num_mel_bins + mel)];
  };
  for (int64_t m = 0; m < num_mel_bins; ++m) {
    const int64_t left = edges[size_t(m)];
    const int64_t center = edges[size_t(m + 1)];
    const int64_t right = edges[size_t(m + 2)];
    if (center == left) {
      at(center, m) = 1.0;
    } else {
      for (int64_t j = left; j <= center; ++j) at(j, m) = double(j - left) / double(center - left);
    }
    for (int64_t j = center; j < right; ++j) at(j, m) = double(right - j) / double(right - center);
  }
  write_converted(w, y);
}

KILN_REGISTER_OP(OpDef{
    .name = "MelWeightMatrix",
    .min_inputs = 5,
    .max_inputs = 5,
    .infer = infer_mel_weight_matrix,
    .compute = compute_mel_weight_matrix,
});

}  // namespace
}  // namespace kiln::ops
