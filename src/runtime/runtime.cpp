#include "kiln/runtime.h"

#include "runtime/engine_impl.h"

namespace kiln {

Runtime::Runtime(Logger& logger) : logger_(&logger) {}

std::unique_ptr<Engine> Runtime::deserialize_engine(const void* data, size_t size) const {
  return detail::EngineImpl::create(plan::deserialize_plan(data, size));
}

std::unique_ptr<Engine> Runtime::load_engine_file(const std::string& path) const {
  return detail::EngineImpl::create(plan::read_plan_file(path));
}

}  // namespace kiln
