// Signal processing ops (semantics of src/ops/signal.cpp): DFT (forward, inverse, onesided,
// real or complex input, dft_length, axis from input 2 — the importer turns opset 17's axis
// attribute into that input), STFT (frame_step, window, frame_length, onesided), the
// HannWindow / HammingWindow / BlackmanWindow generators and MelWeightMatrix.
//
// The transforms are direct O(n^2) sums, one thread per output bin, accumulated in double.
// The twiddles are e^(-2 pi i j / n) for j in [0, n), computed with sincospi of the exact
// ratio 2j/n into a table in the context's workspace (recomputed in place where the table does
// not fit); (k * t) mod n walks that table exactly, so no error builds up along a line. This
// mirrors the reference (double sums over the same roots), not a fast FFT.
//
// Scalar operands (dft_length, axis, frame_step, frame_length, window size, MelWeightMatrix's
// inputs) are read on the host. Windows are computed in double and converted as Cast converts
// (float types round, integer types truncate).
#include <cmath>
#include <type_traits>
#include <vector>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {
namespace {

bool signal_dtype(DataType t) { return is_float16_or_32(t) || t == DataType::kFloat64; }

template <typename Fn>
void dispatch_signal_float(const ir::Node& node, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kFloat64) return fn(Tag<double>{});
  dispatch_float(node, dtype, fn);
}

// Every output type the window generators and MelWeightMatrix accept.
bool generator_dtype(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kFloat64:
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kInt16:
    case DataType::kUInt16:
    case DataType::kInt32:
    case DataType::kUInt32:
    case DataType::kInt64:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

template <typename Fn>
void dispatch_generator(const ir::Node& node, DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kInt8:
      return fn(Tag<int8_t>{});
    case DataType::kUInt8:
      return fn(Tag<uint8_t>{});
    case DataType::kInt16:
      return fn(Tag<int16_t>{});
    case DataType::kUInt16:
      return fn(Tag<uint16_t>{});
    case DataType::kInt32:
      return fn(Tag<int32_t>{});
    case DataType::kUInt32:
      return fn(Tag<uint32_t>{});
    case DataType::kInt64:
      return fn(Tag<int64_t>{});
    case DataType::kUInt64:
      return fn(Tag<uint64_t>{});
    default:
      return dispatch_signal_float(node, dtype, fn);
  }
}

// A scalar integer operand read on the host.
int64_t host_scalar(const RunContext& rc, size_t i, const char* what) {
  const Tensor& t = rc.host_input(i, what);
  KILN_CHECK(t.numel() == 1 && (t.dtype() == DataType::kInt32 || t.dtype() == DataType::kInt64),
             ErrorCode::kInvalidModel, rc.node.describe(), ": ", what,
             " must be an int32 or int64 scalar");
  return t.as_int64(0);
}

// ---------------------------------------------------------------------------------------------
// Twiddles

// (cos, sin) of -2 pi j / n.
__device__ __forceinline__ double2 twiddle(int64_t j, int64_t n) {
  double s, c;
  sincospi(2.0 * double(j) / double(n), &s, &c);
  return make_double2(c, -s);
}

__global__ void twiddle_table_kernel(double2* __restrict__ roots, int64_t n) {
  KILN_GRID_STRIDE_LOOP(j, n) roots[j] = twiddle(j, n);
}

// The table in the workspace when it fits, else nullptr (the kernels then compute each
// twiddle where they use it).
const double2* twiddle_table(RunContext& rc, int64_t n) {
  if (n <= 0 || rc.workspace == nullptr || size_t(n) * sizeof(double2) > rc.workspace_bytes) {
    return nullptr;
  }
  auto* roots = static_cast<double2*>(rc.workspace);
  twiddle_table_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(roots, n);
  return roots;
}

__device__ __forceinline__ double2 root_at(const double2* roots, int64_t j, int64_t n) {
  return roots ? roots[j] : twiddle(j, n);
}

// ---------------------------------------------------------------------------------------------
// DFT

struct DftArgs {
  int64_t outer = 1, m = 0, inner = 1;  // the input as [outer, m, inner, in_parts]
  int64_t in_parts = 1, out_parts = 2;
  int64_t n = 0;     // transform length
  int64_t bins = 0;  // output extent along the axis
  bool inverse = false;
  bool hermitian = false;  // inverse + onesided: the input holds bins [0, n/2] of a real signal
};

template <typename T>
__global__ void dft_kernel(const T* __restrict__ x, T* __restrict__ y, DftArgs a,
                           const double2* __restrict__ roots) {
  const int64_t total = a.outer * a.bins * a.inner;
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t j = i % a.inner;
    const int64_t k = (i / a.inner) % a.bins;
    const int64_t o = i / (a.inner * a.bins);
    const T* line = x + (o * a.m * a.inner + j) * a.in_parts;
    const int64_t step = a.inner * a.in_parts;
    auto sample = [&](int64_t t, double& re, double& im) {
      re = widen_to<double>(line[t * step]);
      im = a.in_parts == 2 ? widen_to<double>(line[t * step + 1]) : 0.0;
    };
    double sum_re = 0, sum_im = 0;
    int64_t phase = 0;  // (k * t) mod n
    // Past m the (zero-padded) signal adds nothing, except the Hermitian mirror.
    const int64_t count = a.hermitian ? a.n : (a.m < a.n ? a.m : a.n);
    for (int64_t t = 0; t < count; ++t) {
      double re = 0, im = 0;
      if (a.hermitian) {
        // X[n - k] = conj(X[k]); bins the input lacks are zero.
        const int64_t source = t <= a.n / 2 ? t : a.n - t;
        if (source < a.m) sample(source, re, im);
        if (t > a.n / 2) im = -im;
      } else {
        sample(t, re, im);
      }
      const double2 w = root_at(roots, phase, a.n);
      const double ws = a.inverse ? -w.y : w.y;
      sum_re += re * w.x - im * ws;
      sum_im += re * ws + im * w.x;
      phase += k;
      if (phase >= a.n) phase -= a.n;
    }
    if (a.inverse) {
      sum_re /= double(a.n);
      sum_im /= double(a.n);
    }
    T* out = y + ((o * a.bins + k) * a.inner + j) * a.out_parts;
    out[0] = narrow_to<T>(sum_re);
    if (a.out_parts == 2) out[1] = narrow_to<T>(sum_im);
  }
}

bool supports_dft(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  if (!signal_dtype(t) || !q.has_output(0) || q.outputs[0].dtype != t) return false;
  const Dims& shape = q.input(0).shape;
  return shape.size() >= 2 && (shape.back() == 1 || shape.back() == 2);
}

void run_dft(RunContext& rc) {
  const ir::Node& node = rc.node;
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const int64_t rank = int64_t(x.shape.size());
  int64_t axis = rc.has_input(2) ? host_scalar(rc, 2, "axis") : -2;
  if (axis < 0) axis += rank;
  KILN_CHECK(axis >= 0 && axis <= rank - 2, ErrorCode::kInvalidModel, node.describe(),
             ": axis is out of range for input of rank ", rank);
  DftArgs a;
  a.inverse = node.attr_int("inverse", 0) == 1;
  const bool onesided = node.attr_int("onesided", 0) == 1;
  a.hermitian = a.inverse && onesided;
  for (int64_t d = 0; d < axis; ++d) a.outer *= x.shape[size_t(d)];
  for (int64_t d = axis + 1; d + 1 < rank; ++d) a.inner *= x.shape[size_t(d)];
  a.m = x.shape[size_t(axis)];
  a.in_parts = x.shape.back();
  a.out_parts = y.shape.back();
  a.n = rc.has_input(1) ? host_scalar(rc, 1, "dft_length") : (a.hermitian ? 2 * (a.m - 1) : a.m);
  KILN_CHECK(a.n >= 1, ErrorCode::kInvalidModel, node.describe(),
             ": dft_length must be positive, got ", a.n);
  a.bins = y.shape[size_t(axis)];
  const double2* roots = twiddle_table(rc, a.n);
  const int64_t total = a.outer * a.bins * a.inner;
  dispatch_signal_float(node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dft_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(x.as<T>(), y.as<T>(), a, roots);
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"DFT", "cuda_dft_direct", {1, 2}, supports_dft, run_dft});

// ---------------------------------------------------------------------------------------------
// STFT: signal [batch, length, 1 or 2] -> [batch, frames, bins, 2].

struct StftArgs {
  int64_t batch = 0, length = 0, parts = 1;
  int64_t frame_step = 1, frame_length = 1;
  int64_t frames = 0, bins = 0;
};

template <typename T>
__global__ void stft_kernel(const T* __restrict__ signal, const T* __restrict__ window,
                            T* __restrict__ y, StftArgs a, const double2* __restrict__ roots) {
  const int64_t total = a.batch * a.frames * a.bins;
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t k = i % a.bins;
    const int64_t f = (i / a.bins) % a.frames;
    const int64_t b = i / (a.bins * a.frames);
    const T* frame = signal + (b * a.length + f * a.frame_step) * a.parts;
    double sum_re = 0, sum_im = 0;
    int64_t phase = 0;
    for (int64_t t = 0; t < a.frame_length; ++t) {
      const double w = window ? widen_to<double>(window[t]) : 1.0;
      const double re = w * widen_to<double>(frame[t * a.parts]);
      const double im = a.parts == 2 ? w * widen_to<double>(frame[t * a.parts + 1]) : 0.0;
      const double2 r = root_at(roots, phase, a.frame_length);
      sum_re += re * r.x - im * r.y;
      sum_im += re * r.y + im * r.x;
      phase += k;
      if (phase >= a.frame_length) phase -= a.frame_length;
    }
    y[i * 2] = narrow_to<T>(sum_re);
    y[i * 2 + 1] = narrow_to<T>(sum_im);
  }
}

bool supports_stft(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  if (!signal_dtype(t) || !q.has_output(0) || q.outputs[0].dtype != t) return false;
  if (q.has_input(2) && q.input(2).dtype != t) return false;
  const Dims& shape = q.input(0).shape;
  return shape.size() == 3 && (shape[2] == 1 || shape[2] == 2);
}

void run_stft(RunContext& rc) {
  const ir::Node& node = rc.node;
  const DeviceTensor& signal = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  StftArgs a;
  a.batch = signal.shape[0];
  a.length = signal.shape[1];
  a.parts = signal.shape[2];
  a.frame_step = host_scalar(rc, 1, "frame_step");
  if (rc.has_input(3)) {
    a.frame_length = host_scalar(rc, 3, "frame_length");
  } else {
    a.frame_length = rc.has_input(2) ? rc.input(2).shape.at(0) : a.length;
  }
  KILN_CHECK(a.frame_step >= 1 && a.frame_length >= 1 && a.frame_length <= a.length,
             ErrorCode::kInvalidModel, node.describe(), ": frame_step ", a.frame_step,
             " and frame_length ", a.frame_length, " do not fit a signal of length ", a.length);
  a.frames = y.shape[1];
  a.bins = y.shape[2];
  const double2* roots = twiddle_table(rc, a.frame_length);
  const int64_t total = a.batch * a.frames * a.bins;
  dispatch_signal_float(node, signal.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* window = rc.has_input(2) ? rc.input(2).as<T>() : nullptr;
    stft_kernel<T>
        <<<grid_for(total), kBlock, 0, rc.stream>>>(signal.as<T>(), window, y.as<T>(), a, roots);
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"STFT", "cuda_stft_direct", {1, 3}, supports_stft, run_stft});

// ---------------------------------------------------------------------------------------------
// Window generators: w[i] for i in [0, size); a periodic window is the first `size` points of
// the symmetric window of size + 1.

enum WindowKind : int { kHann, kHamming, kBlackman };

template <typename T>
__global__ void window_kernel(T* __restrict__ y, int64_t size, int64_t denominator, int kind) {
  KILN_GRID_STRIDE_LOOP(i, size) {
    // cos(2 pi i / denominator) as cospi of the exact ratio; a one-point symmetric window has
    // denominator 0 and is [1].
    const double c1 = denominator == 0 ? 1.0 : cospi(2.0 * double(i) / double(denominator));
    double w = 0;
    switch (kind) {
      case kHann:
        w = 0.5 - 0.5 * c1;
        break;
      case kHamming: {
        const double alpha = 25.0 / 46.0;  // the "exact" Hamming coefficients, as the reference
        w = alpha - (1.0 - alpha) * c1;
        break;
      }
      default: {
        const double c2 = denominator == 0 ? 1.0 : cospi(4.0 * double(i) / double(denominator));
        w = 0.42 - 0.5 * c1 + 0.08 * c2;
        break;
      }
    }
    y[i] = narrow_to<T>(w);
  }
}

bool supports_window(const NodeQuery& q) {
  return q.has_output(0) && generator_dtype(q.outputs[0].dtype) && q.outputs[0].shape.size() == 1;
}

void run_window(RunContext& rc, WindowKind kind) {
  const DeviceTensor& y = rc.output(0);
  const int64_t size = y.shape.at(0);
  if (size == 0) return;
  const bool periodic = rc.node.attr_int("periodic", 1) == 1;
  const int64_t denominator = periodic ? size : size - 1;
  dispatch_generator(rc.node, y.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    window_kernel<T>
        <<<grid_for(size), kBlock, 0, rc.stream>>>(y.as<T>(), size, denominator, int(kind));
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "HannWindow", "cuda_window", {0}, supports_window, [](RunContext& rc) {
      run_window(rc, kHann);
    }});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "HammingWindow", "cuda_window", {0}, supports_window, [](RunContext& rc) {
      run_window(rc, kHamming);
    }});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "BlackmanWindow", "cuda_window", {0}, supports_window, [](RunContext& rc) {
      run_window(rc, kBlackman);
    }});

// ---------------------------------------------------------------------------------------------
// MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins] triangular filters. The band edges
// (spectrogram bins) are computed on the host exactly as the reference computes them, so the
// floor() that maps hertz to bins agrees bit for bit; the kernel fills the matrix from them.

template <typename T>
__global__ void mel_kernel(T* __restrict__ y, const int64_t* __restrict__ edges, int64_t bins,
                           int64_t mels) {
  KILN_GRID_STRIDE_LOOP(i, bins * mels) {
    const int64_t m = i % mels;
    const int64_t j = i / mels;
    const int64_t left = edges[m], center = edges[m + 1], right = edges[m + 2];
    double w = 0;
    if (j == center) {
      w = 1.0;
    } else if (j >= left && j < center) {
      w = double(j - left) / double(center - left);
    } else if (j > center && j < right) {
      w = double(right - j) / double(right - center);
    }
    y[i] = narrow_to<T>(w);
  }
}

bool supports_mel(const NodeQuery& q) {
  return q.has_output(0) && generator_dtype(q.outputs[0].dtype) && q.outputs[0].shape.size() == 2;
}

double hertz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hertz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

void run_mel(RunContext& rc) {
  const ir::Node& node = rc.node;
  const DeviceTensor& y = rc.output(0);
  const int64_t spectrogram_bins = y.shape[0];
  const int64_t mels = y.shape[1];
  const int64_t dft_length = host_scalar(rc, 1, "dft_length");
  const int64_t sample_rate = host_scalar(rc, 2, "sample_rate");
  const Tensor& lower = rc.host_input(3, "lower_edge_hertz");
  const Tensor& upper = rc.host_input(4, "upper_edge_hertz");
  KILN_CHECK(lower.numel() == 1 && upper.numel() == 1, ErrorCode::kInvalidModel, node.describe(),
             ": the edges must be scalars");
  const double lower_hz = lower.as_double(0), upper_hz = upper.as_double(0);
  KILN_CHECK(sample_rate > 0, ErrorCode::kInvalidModel, node.describe(),
             ": sample_rate must be positive, got ", sample_rate);
  KILN_CHECK(0 <= lower_hz && lower_hz <= upper_hz, ErrorCode::kInvalidModel, node.describe(),
             ": the edges must satisfy 0 <= lower_edge_hertz <= upper_edge_hertz, got ", lower_hz,
             " and ", upper_hz);
  if (y.numel() == 0) return;
  const double low_mel = hertz_to_mel(lower_hz);
  const double mel_step = (hertz_to_mel(upper_hz) - low_mel) / double(mels + 2);
  std::vector<int64_t> edges(size_t(mels + 2));
  for (int64_t i = 0; i < mels + 2; ++i) {
    const double hz = mel_to_hertz(double(i) * mel_step + low_mel);
    edges[size_t(i)] = int64_t(std::floor(double(dft_length + 1) * hz / double(sample_rate)));
    KILN_CHECK(edges[size_t(i)] < spectrogram_bins, ErrorCode::kInvalidModel, node.describe(),
               ": upper_edge_hertz ", upper_hz, " maps past the last spectrogram bin (",
               spectrogram_bins - 1, ") for sample_rate ", sample_rate);
  }
  const size_t edge_bytes = edges.size() * sizeof(int64_t);
  KILN_CHECK(rc.workspace != nullptr && edge_bytes <= rc.workspace_bytes, ErrorCode::kUnsupported,
             node.describe(), ": ", mels, " mel bins do not fit the CUDA workspace");
  // A pageable copy: it returns once `edges` is staged, so the vector may go out of scope.
  // The node reads host operands, so it never runs inside a CUDA graph capture.
  check_cuda(
      cudaMemcpyAsync(rc.workspace, edges.data(), edge_bytes, cudaMemcpyHostToDevice, rc.stream),
      node, "uploading the mel band edges");
  const int64_t total = spectrogram_bins * mels;
  dispatch_generator(node, y.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    mel_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
        y.as<T>(), static_cast<const int64_t*>(rc.workspace), spectrogram_bins, mels);
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "MelWeightMatrix", "cuda_mel_weight_matrix", {0, 1, 2, 3, 4}, supports_mel, run_mel});

}  // namespace
}  // namespace kiln::cuda
