#include "unspecified.h"

#include <cmath>

#include "onnx/tensor_proto.h"

namespace kiln::conformance {

namespace {

// The range of an integer type, as doubles.
bool integer_range(DataType type, double& lo, double& hi) {
  switch (type) {
    case DataType::kInt2:
      lo = -2;
      hi = 1;
      return true;
    case DataType::kUInt2:
      lo = 0;
      hi = 3;
      return true;
    case DataType::kInt4:
      lo = -8;
      hi = 7;
      return true;
    case DataType::kUInt4:
      lo = 0;
      hi = 15;
      return true;
    case DataType::kInt8:
      lo = -128;
      hi = 127;
      return true;
    case DataType::kUInt8:
      lo = 0;
      hi = 255;
      return true;
    case DataType::kInt16:
      lo = -32768;
      hi = 32767;
      return true;
    case DataType::kUInt16:
      lo = 0;
      hi = 65535;
      return true;
    case DataType::kInt32:
      lo = -2147483648.0;
      hi = 2147483647.0;
      return true;
    case DataType::kUInt32:
      lo = 0;
      hi = 4294967295.0;
      return true;
    // 2^63 and 2^64 are out of range: the largest doubles below them are the upper bounds.
    case DataType::kInt64:
      lo = -0x1p63;
      hi = std::nextafter(0x1p63, 0.0);
      return true;
    case DataType::kUInt64:
      lo = 0;
      hi = std::nextafter(0x1p64, 0.0);
      return true;
    default:
      return false;
  }
}

}  // namespace

std::map<std::string, UndefinedCastRule> undefined_element_rules(const onnx::ModelProto& model) {
  std::map<std::string, UndefinedCastRule> rules;
  const onnx::GraphProto& graph = model.graph();
  auto is_graph_input = [&](const std::string& name) {
    for (const onnx::ValueInfoProto& input : graph.input()) {
      if (input.name() == name) return true;
    }
    return false;
  };
  for (const onnx::ValueInfoProto& output : graph.output()) {
    for (const onnx::NodeProto& node : graph.node()) {
      if (node.output_size() < 1 || node.output(0) != output.name()) continue;
      if (node.op_type() != "Cast" && node.op_type() != "CastLike") break;
      if (node.input_size() < 1 || !is_graph_input(node.input(0))) break;
      if (!output.type().has_tensor_type()) break;
      auto to = onnx_import::kiln_dtype_from_onnx(output.type().tensor_type().elem_type());
      if (to && is_integer(*to)) rules[output.name()] = {node.input(0), *to};
      break;
    }
  }
  return rules;
}

std::vector<bool> undefined_cast_elements(const Tensor& input, DataType to) {
  double lo = 0, hi = 0;
  if (!is_floating_point(input.dtype()) || !integer_range(to, lo, hi)) return {};
  std::vector<bool> undefined(size_t(input.numel()));
  for (int64_t i = 0; i < input.numel(); ++i) {
    double v = input.as_double(i);
    undefined[size_t(i)] = !std::isfinite(v) || std::trunc(v) < lo || std::trunc(v) > hi;
  }
  return undefined;
}

}  // namespace kiln::conformance
