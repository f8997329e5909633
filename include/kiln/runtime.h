// Runtime: loads serialized engines (plans), as TensorRT's IRuntime does.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "kiln/engine.h"
#include "kiln/logger.h"

namespace kiln {

class Runtime {
 public:
  explicit Runtime(Logger& logger);
  // Throws kiln::Error: kInvalidPlan for corrupt or truncated data, kVersionMismatch for a plan
  // from another kiln version (naming both versions).
  std::unique_ptr<Engine> deserialize_engine(const void* data, size_t size) const;
  std::unique_ptr<Engine> load_engine_file(const std::string& path) const;

 private:
  Logger* logger_;
};

}  // namespace kiln
