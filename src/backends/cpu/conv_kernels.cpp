// Fast float32 Conv and ConvTranspose for the CPU backend (NCHW, 1 to 3 spatial dims).
//
//   conv_depthwise_direct  one input channel per group (depthwise, any channel multiplier):
//                          a direct loop, one pass over the output plane per kernel tap
//   conv_pointwise_sgemm   1x1 kernels, stride 1, no padding: Y_g = W_g * X_g, one sgemm
//   conv_im2col_sgemm      everything else: im2col per image and group, then one sgemm
//   conv_transpose_sgemm_col2im
//                          ConvTranspose: col = W_g^T * X_g by sgemm, then col2im scatter-add
//
// Spatial dims are normalized to three (leading extents of 1) so that one code path serves
// Conv1D, Conv2D and Conv3D. The output shape comes from the preallocated output (shape
// inference already resolved it); the rest of the geometry is the one ops/convolution.h resolves
// for shape inference.
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "ops/convolution.h"

namespace kiln::cpu {
namespace {

constexpr size_t kSpatial = 3;
using Triple = std::array<int64_t, kSpatial>;

struct ConvParams {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  Triple in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};
  Triple pad_begin{0, 0, 0};

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// Places the per-spatial-axis values of `values` (rank r <= 3) in the last r slots.
Triple right_aligned(const Dims& values, int64_t fill) {
  Triple t{fill, fill, fill};
  const size_t offset = kSpatial - values.size();
  for (size_t i = 0; i < values.size(); ++i) t[offset + i] = values[i];
  return t;
}

// The geometry shape inference resolved (ops/convolution.h), in this file's three-axis terms.
ConvParams params_from(const ops::ConvGeometry& g) {
  ConvParams p;
  p.batch = g.batch;
  p.in_channels = g.in_channels;
  p.out_channels = g.out_channels;
  p.group = g.group;
  p.in = right_aligned(g.in_spatial, 1);
  p.out = right_aligned(g.out_spatial, 1);
  p.kernel = right_aligned(g.kernel, 1);
  p.stride = right_aligned(g.strides, 1);
  p.dilation = right_aligned(g.dilations, 1);
  p.pad_begin = right_aligned(g.pads_begin, 0);
  return p;
}

ConvParams conv_params(ops::ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  return params_from(ops::resolve_conv(ctx.node(), x.dtype(), x.shape(), ctx.input(1).shape()));
}

ConvParams conv_transpose_params(ops::ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  return params_from(
      ops::resolve_conv_transpose(ctx.node(), x.dtype(), x.shape(), ctx.input(1).shape()));
}

// The range [lo, hi) of i in [0, count) for which 0 <= i * stride + offset < limit.
std::pair<int64_t, int64_t> valid_range(int64_t count, int64_t stride, int64_t offset,
                                        int64_t limit) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = limit - offset <= 0 ? 0 : (limit - offset + stride - 1) / stride;
  lo = std::min(lo, count);
  hi = std::clamp(hi, lo, count);
  return {lo, hi};
}

bool all_float32(const std::vector<ops::TensorDesc>& inputs, size_t count) {
  if (inputs.size() < count) return false;
  for (size_t i = 0; i < inputs.size() && i < 3; ++i) {
    if (inputs[i].dtype != DataType::kFloat32) return false;
  }
  return true;
}

// Float32 X and W (and B) of rank 3 to 5 with the same rank.
bool is_float32_conv(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
  if (!all_float32(inputs, 2)) return false;
  const size_t rank = inputs[0].shape.size();
  return rank >= 3 && rank <= 2 + kSpatial && inputs[1].shape.size() == rank;
}

// The geometry at shape-inference time; nullopt when the node is not a valid convolution (its
// own inference reports why).
std::optional<ops::ConvGeometry> conv_geometry_of(const ir::Node& node,
                                                  const std::vector<ops::TensorDesc>& inputs) {
  try {
    return ops::resolve_conv(node, inputs[0].dtype, inputs[0].shape, inputs[1].shape);
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool is_depthwise(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
  const std::optional<ops::ConvGeometry> g = conv_geometry_of(node, inputs);
  return g && g->group > 1 && inputs[1].shape[1] == 1;  // W is [M, C/group, ...]: one channel
}

bool is_pointwise(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
  const std::optional<ops::ConvGeometry> g = conv_geometry_of(node, inputs);
  auto ones = [](const Dims& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 1; });
  };
  auto zeros = [](const Dims& v) {
    return std::all_of(v.begin(), v.end(), [](int64_t e) { return e == 0; });
  };
  return g && ones(g->kernel) && ones(g->strides) && zeros(g->pads_begin) && zeros(g->pads_end);
}

// Y starts as the bias (or zero); returns the beta to pass to sgemm (1 keeps that start).
float init_output(const ops::ComputeContext& ctx, float* y, const ConvParams& p) {
  const int64_t out_size = p.out_size();
  if (!ctx.has_input(2)) {
    std::fill_n(y, p.batch * p.out_channels * out_size, 0.0f);
    return 0.0f;
  }
  const float* bias = ctx.input(2).data<float>();
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t m = 0; m < p.out_channels; ++m) {
      std::fill_n(y + (n * p.out_channels + m) * out_size, out_size, bias[m]);
    }
  }
  return 1.0f;
}

// Unfolds one group of one image into col[(c, kd, kh, kw), (od, oh, ow)], zeros for padding.
void im2col(const float* x, const ConvParams& p, int64_t channels, float* col) {
  const int64_t out_size = p.out_size();
  const int64_t in_size = p.in_size();
  float* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const float* x_plane = x + c * in_size;
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < p.kernel[2]; ++kw, dst += out_size) {
          const int64_t w_offset = kw * p.dilation[2] - p.pad_begin[2];
          const auto [w_lo, w_hi] = valid_range(p.out[2], p.stride[2], w_offset, p.in[2]);
          float* row = dst;
          for (int64_t od = 0; od < p.out[0]; ++od) {
            const int64_t id = od * p.stride[0] - p.pad_begin[0] + kd * p.dilation[0];
            if (id < 0 || id >= p.in[0]) {
              std::fill_n(row, p.out[1] * p.out[2], 0.0f);
              row += p.out[1] * p.out[2];
              continue;
            }
            for (int64_t oh = 0; oh < p.out[1]; ++oh, row += p.out[2]) {
              const int64_t ih = oh * p.stride[1] - p.pad_begin[1] + kh * p.dilation[1];
              if (ih < 0 || ih >= p.in[1]) {
                std::fill_n(row, p.out[2], 0.0f);
                continue;
              }
              const float* src = x_plane + (id * p.in[1] + ih) * p.in[2] + w_offset;
              std::fill_n(row, w_lo, 0.0f);
              if (p.stride[2] == 1) {
                std::memcpy(row + w_lo, src + w_lo, size_t(w_hi - w_lo) * sizeof(float));
              } else {
                for (int64_t ow = w_lo; ow < w_hi; ++ow) row[ow] = src[ow * p.stride[2]];
              }
              std::fill(row + w_hi, row + p.out[2], 0.0f);
            }
          }
        }
      }
    }
  }
}

// Scratch for im2col/col2im, reused by the calls of one thread.
std::vector<float>& scratch(size_t size) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}

// Y_g[Mg, OS] (+)= W_g[Mg, Cg*KS] * col[Cg*KS, OS] for every image and group.
void run_conv_sgemm(ops::ComputeContext& ctx, bool pointwise) {
  const ConvParams p = conv_params(ctx);
  const float* x = ctx.input(0).data<float>();
  const float* w = ctx.input(1).data<float>();
  float* y = ctx.output(0).data<float>();
  const float beta = init_output(ctx, y, p);
  const int64_t in_per_group = p.in_channels / p.group;
  const int64_t out_per_group = p.out_channels / p.group;
  const int64_t rows = in_per_group * p.kernel_size();  // the sgemm's K
  const int64_t out_size = p.out_size();
  if (out_size == 0 || out_per_group == 0) return;
  if (rows == 0) return;  // no input channels: the output is the bias
  float* col = pointwise ? nullptr : scratch(size_t(rows * out_size)).data();
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t g = 0; g < p.group; ++g) {
      const float* x_group = x + (n * p.in_channels + g * in_per_group) * p.in_size();
      if (!pointwise) im2col(x_group, p, in_per_group, col);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(out_per_group),
                  blasint(out_size), blasint(rows), 1.0f, w + g * out_per_group * rows,
                  blasint(rows), pointwise ? x_group : col, blasint(out_size), beta,
                  y + (n * p.out_channels + g * out_per_group) * out_size, blasint(out_size));
    }
  }
}

// Depthwise: each output channel m reads only input channel m / multiplier.
void run_conv_depthwise(ops::ComputeContext& ctx) {
  const ConvParams p = conv_params(ctx);
  const float* x = ctx.input(0).data<float>();
  const float* w = ctx.input(1).data<float>();
  float* y = ctx.output(0).data<float>();
  init_output(ctx, y, p);
  const int64_t multiplier = p.out_channels / p.group;
  const int64_t kernel_size = p.kernel_size();
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t m = 0; m < p.out_channels; ++m) {
      const float* x_plane = x + (n * p.in_channels + m / multiplier) * p.in_size();
      float* y_plane = y + (n * p.out_channels + m) * p.out_size();
      const float* w_kernel = w + m * kernel_size;
      for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
        for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
          for (int64_t kw = 0; kw < p.kernel[2]; ++kw) {
            const float weight = w_kernel[(kd * p.kernel[1] + kh) * p.kernel[2] + kw];
            const int64_t w_offset = kw * p.dilation[2] - p.pad_begin[2];
            const auto [w_lo, w_hi] = valid_range(p.out[2], p.stride[2], w_offset, p.in[2]);
            const auto [d_lo, d_hi] =
                valid_range(p.out[0], p.stride[0], kd * p.dilation[0] - p.pad_begin[0], p.in[0]);
            const auto [h_lo, h_hi] =
                valid_range(p.out[1], p.stride[1], kh * p.dilation[1] - p.pad_begin[1], p.in[1]);
            for (int64_t od = d_lo; od < d_hi; ++od) {
              const int64_t id = od * p.stride[0] - p.pad_begin[0] + kd * p.dilation[0];
              for (int64_t oh = h_lo; oh < h_hi; ++oh) {
                const int64_t ih = oh * p.stride[1] - p.pad_begin[1] + kh * p.dilation[1];
                const float* src = x_plane + (id * p.in[1] + ih) * p.in[2] + w_offset;
                float* dst = y_plane + (od * p.out[1] + oh) * p.out[2];
                const int64_t sw = p.stride[2];
                for (int64_t ow = w_lo; ow < w_hi; ++ow) dst[ow] += weight * src[ow * sw];
              }
            }
          }
        }
      }
    }
  }
}

// ConvTranspose: col[(m, kd, kh, kw), (id, ih, iw)] = W_g^T * X_g, then every col entry is
// added to the output position its input position and tap reach.
void col2im_add(const float* col, const ConvParams& p, int64_t channels, float* y) {
  const int64_t in_size = p.in_size();
  const int64_t out_size = p.out_size();
  const float* src = col;
  for (int64_t m = 0; m < channels; ++m) {
    float* y_plane = y + m * out_size;
    for (int64_t kd = 0; kd < p.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < p.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < p.kernel[2]; ++kw, src += in_size) {
          const int64_t w_offset = kw * p.dilation[2] - p.pad_begin[2];
          const auto [w_lo, w_hi] = valid_range(p.in[2], p.stride[2], w_offset, p.out[2]);
          for (int64_t id = 0; id < p.in[0]; ++id) {
            const int64_t od = id * p.stride[0] + kd * p.dilation[0] - p.pad_begin[0];
            if (od < 0 || od >= p.out[0]) continue;
            for (int64_t ih = 0; ih < p.in[1]; ++ih) {
              const int64_t oh = ih * p.stride[1] + kh * p.dilation[1] - p.pad_begin[1];
              if (oh < 0 || oh >= p.out[1]) continue;
              const float* row = src + (id * p.in[1] + ih) * p.in[2];
              float* dst = y_plane + (od * p.out[1] + oh) * p.out[2] + w_offset;
              const int64_t sw = p.stride[2];
              for (int64_t iw = w_lo; iw < w_hi; ++iw) dst[iw * sw] += row[iw];
            }
          }
        }
      }
    }
  }
}

void run_conv_transpose(ops::ComputeContext& ctx) {
  const ConvParams p = conv_transpose_params(ctx);
  const float* x = ctx.input(0).data<float>();
  const float* w = ctx.input(1).data<float>();
  float* y = ctx.output(0).data<float>();
  init_output(ctx, y, p);
  const int64_t in_per_group = p.in_channels / p.group;
  const int64_t out_per_group = p.out_channels / p.group;
  const int64_t col_rows = out_per_group * p.kernel_size();
  const int64_t in_size = p.in_size();
  if (in_size == 0 || col_rows == 0 || in_per_group == 0) return;
  float* col = scratch(size_t(col_rows * in_size)).data();
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t g = 0; g < p.group; ++g) {
      // W is [C, M/group, k...]: group g's block is [Cg, Mg*KS], read transposed.
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(col_rows), blasint(in_size),
                  blasint(in_per_group), 1.0f, w + g * in_per_group * col_rows, blasint(col_rows),
                  x + (n * p.in_channels + g * in_per_group) * in_size, blasint(in_size), 0.0f, col,
                  blasint(in_size));
      col2im_add(col, p, out_per_group,
                 y + (n * p.out_channels + g * out_per_group) * p.out_size());
    }
  }
}

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "Conv",
    .name = "conv_depthwise_direct",
    .supports =
        [](const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
          return is_float32_conv(node, inputs) && is_depthwise(node, inputs);
        },
    .run = run_conv_depthwise,
});

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "Conv",
    .name = "conv_pointwise_sgemm",
    .supports =
        [](const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) {
          return is_float32_conv(node, inputs) && is_pointwise(node, inputs);
        },
    .run = [](ops::ComputeContext& ctx) { run_conv_sgemm(ctx, /*pointwise=*/true); },
});

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "Conv",
    .name = "conv_im2col_sgemm",
    .supports = is_float32_conv,
    .run = [](ops::ComputeContext& ctx) { run_conv_sgemm(ctx, /*pointwise=*/false); },
});

KILN_REGISTER_CPU_KERNEL(CpuKernel{
    .op = "ConvTranspose",
    .name = "conv_transpose_sgemm_col2im",
    .supports = is_float32_conv,
    .run = run_conv_transpose,
});

}  // namespace
}  // namespace kiln::cpu
