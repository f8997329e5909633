// Logging: the caller supplies a Logger; kiln reports through it with a severity.
#pragma once

#include <string_view>

namespace kiln {

class Logger {
 public:
  enum class Severity { kInternalError = 0, kError = 1, kWarning = 2, kInfo = 3, kVerbose = 4 };
  virtual ~Logger() = default;
  virtual void log(Severity severity, std::string_view message) noexcept = 0;
};

// Writes messages at or above `threshold` severity to stderr with a "[kiln] W:" prefix.
class StderrLogger : public Logger {
 public:
  explicit StderrLogger(Severity threshold = Severity::kWarning) : threshold_(threshold) {}
  void log(Severity severity, std::string_view message) noexcept override;
  void set_threshold(Severity threshold) { threshold_ = threshold; }

 private:
  Severity threshold_;
};

// A logger that drops everything, for callers that pass none.
Logger& null_logger();

}  // namespace kiln
