// Typed node attributes. Floats are held as double; ONNX's float32 values convert exactly.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace kiln::ir {

class Graph;

using Attribute = std::variant<int64_t, double, std::string, Tensor, std::shared_ptr<Graph>,
                               std::vector<int64_t>, std::vector<double>, std::vector<std::string>,
                               std::vector<Tensor>, std::vector<std::shared_ptr<Graph>>>;

// Ordered by name so that printing and serialization are deterministic.
using Attributes = std::map<std::string, Attribute>;

// "int", "float", "string", "tensor", "graph", "ints", ... for messages and the printer.
const char* attribute_kind(const Attribute& attr);

}  // namespace kiln::ir
