// kiln's one error type. Every public function that can fail throws kiln::Error; the message
// names what was wrong and where (file, node, op, tensor), so a person can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace kiln {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something wrong (name, shape, dtype, flag)
  kInvalidModel,     // the model (ONNX or network) is malformed or inconsistent
  kUnsupported,      // valid input that kiln cannot handle yet
  kInvalidPlan,      // a plan file that is corrupt, truncated or not a plan
  kVersionMismatch,  // a plan or cache built by another kiln version or for another target
  kIO,               // a file could not be read or written
  kRuntime,          // failure while executing
  kInternal,         // a bug in kiln
};

const char* to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace kiln
