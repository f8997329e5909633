// The state behind Engine and ExecutionContext.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "ops/shape_inference.h"
#include "plan/plan.h"

namespace kiln::detail {

struct IOTensor {
  std::string name;
  TensorIOMode mode = TensorIOMode::kNONE;
  DataType dtype = DataType::kFloat32;
  Dims dims;  // -1 where dynamic
  const ir::Value* value = nullptr;
};

struct EngineImpl {
  plan::PlanContents plan;
  std::vector<IOTensor> io;  // inputs first, then outputs

  static std::unique_ptr<Engine> create(plan::PlanContents plan);
  const IOTensor& io_tensor(const std::string& name) const;  // throws naming the tensor
  const IOTensor* find_io(const std::string& name) const;
  std::unique_ptr<ExecutionContext> create_context(const Engine& engine) const;
};

struct ContextImpl {
  const EngineImpl* engine = nullptr;
  std::map<std::string, Dims> input_shapes;
  std::map<std::string, void*> addresses;
  // Shapes and shape-time values for the current input shapes; reset when a shape changes.
  std::optional<ops::ResolvedShapes> resolved;
  std::vector<std::byte> arena_storage;

  const ops::ResolvedShapes& resolve();
  std::byte* arena();
};

}  // namespace kiln::detail
