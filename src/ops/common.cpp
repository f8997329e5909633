#include "ops/common.h"

#include "core/narrow_types.h"

namespace kiln::ops {

void check_window_values(const InferContext& ctx, const char* key, const Dims& values) {
  for (int64_t v : values) {
    ctx.check(v >= -kMaxWindowValue && v <= kMaxWindowValue, key, " ", to_string(values),
              " has a value beyond +-", kMaxWindowValue);
  }
}

int64_t normalize_axis(const ir::Node& node, int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  KILN_CHECK(a >= 0 && a < std::max<int64_t>(rank, 1), ErrorCode::kInvalidModel, node.describe(),
             ": axis ", axis, " is out of range for rank ", rank);
  return a;
}

std::vector<int64_t> normalize_axes(const ir::Node& node, std::vector<int64_t> axes, int64_t rank) {
  for (int64_t& a : axes) a = normalize_axis(node, a, rank);
  return axes;
}

Dims broadcast_shapes(const ir::Node& node, const std::vector<Dims>& shapes) {
  size_t rank = 0;
  for (const Dims& s : shapes) rank = std::max(rank, s.size());
  Dims out(rank, 1);
  for (const Dims& s : shapes) {
    size_t offset = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[offset + i];
      if (s[i] == o || s[i] == 1) continue;
      KILN_CHECK(
          o == 1, ErrorCode::kInvalidModel, node.describe(), ": shapes cannot broadcast (",
          [&] {
            std::string all;
            for (const Dims& d : shapes) all += (all.empty() ? "" : " vs ") + to_string(d);
            return all;
          }(),
          ")");
      o = s[i];
    }
  }
  return out;
}

Dims broadcast_strides(const Dims& shape, const Dims& out_shape) {
  Dims strides(out_shape.size(), 0);
  Dims own = contiguous_strides(shape);
  size_t offset = out_shape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    strides[offset + i] = shape[i] == 1 ? 0 : own[i];
  }
  return strides;
}

float load_float(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32:
      return t.data<float>()[i];
    case DataType::kFloat16:
      return fp16_to_float(t.data<uint16_t>()[i]);
    case DataType::kBFloat16:
      return bf16_to_float(t.data<uint16_t>()[i]);
    default:
      return float(t.as_double(i));
  }
}

void store_float(Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DataType::kFloat32:
      t.data<float>()[i] = v;
      break;
    case DataType::kFloat16:
      t.data<uint16_t>()[i] = float_to_fp16(v);
      break;
    case DataType::kBFloat16:
      t.data<uint16_t>()[i] = float_to_bf16(v);
      break;
    case DataType::kFloat64:
      t.data<double>()[i] = v;
      break;
    case DataType::kFloat8E4M3:
      t.data<uint8_t>()[i] = float_to_fp8e4m3(v);
      break;
    case DataType::kFloat8E5M2:
      t.data<uint8_t>()[i] = float_to_fp8e5m2(v);
      break;
    case DataType::kFloat8E4M3FNUZ:
      t.data<uint8_t>()[i] = float_to_fp8e4m3fnuz(v);
      break;
    case DataType::kFloat8E5M2FNUZ:
      t.data<uint8_t>()[i] = float_to_fp8e5m2fnuz(v);
      break;
    case DataType::kFloat4E2M1:
      t.data<uint8_t>()[i] = float_to_fp4e2m1(v);
      break;
    case DataType::kFloat8E8M0:
      t.data<uint8_t>()[i] = float_to_fp8e8m0(v);
      break;
    default:
      fail(ErrorCode::kInternal, "store_float on ", to_string(t.dtype()));
  }
}

Tensor to_float32(const Tensor& t) {
  return t.dtype() == DataType::kFloat32 ? t : t.cast(DataType::kFloat32);
}

void store_from_float32(const Tensor& values, Tensor& out) {
  KILN_ASSERT(values.numel() == out.numel());
  if (out.dtype() == DataType::kFloat32) {
    if (values.raw() != out.raw()) std::memcpy(out.raw(), values.raw(), out.nbytes());
    return;
  }
  for (int64_t i = 0; i < out.numel(); ++i) store_float(out, i, values.data<float>()[i]);
}

}  // namespace kiln::ops
