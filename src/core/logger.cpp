#include "kiln/logger.h"

#include <cstdio>

namespace kiln {

void StderrLogger::log(Severity severity, std::string_view message) noexcept {
  if (int(severity) > int(threshold_)) return;
  static const char kLetters[] = {'F', 'E', 'W', 'I', 'V'};
  std::fprintf(stderr, "[kiln] %c: %.*s\n", kLetters[int(severity)], int(message.size()),
               message.data());
}

namespace {
class NullLogger : public Logger {
 public:
  void log(Severity, std::string_view) noexcept override {}
};
}  // namespace

Logger& null_logger() {
  static NullLogger logger;
  return logger;
}

}  // namespace kiln
