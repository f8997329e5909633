#include "kiln/runtime.h"

#include "runtime/engine_impl.h"
#include "runtime/plan_verifier.h"

namespace kiln {

Runtime::Runtime(Logger& logger) : logger_(&logger) {}

std::unique_ptr<Engine> Runtime::deserialize_engine(const void* data, size_t size) const {
  plan::PlanContents plan = plan::deserialize_plan(data, size);
  detail::verify_loaded_plan(plan);
  return detail::EngineImpl::create(std::move(plan));
}

std::unique_ptr<Engine> Runtime::load_engine_file(const std::string& path) const {
  plan::PlanContents plan = plan::read_plan_file(path);
  try {
    detail::verify_loaded_plan(plan);
  } catch (const Error& e) {
    throw Error(e.code(), cat(e.what(), " (file '", path, "')"));
  }
  return detail::EngineImpl::create(std::move(plan));
}

}  // namespace kiln
