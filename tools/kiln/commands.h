// The kiln CLI's commands. Each describes its flags and help text; main.cpp dispatches.
#pragma once

#include <string>
#include <vector>

#include "args.h"

namespace kiln::cli {

struct Command {
  const char* name;
  const char* summary;  // one line for `kiln help`
  const char* usage;    // "kiln build MODEL.onnx -o MODEL.plan [options]"
  const char* help;     // the options part of `kiln <command> --help`
  std::vector<FlagSpec> flags;
  // Runs the command; returns the exit status. Throws kiln::Error or UsageError.
  int (*run)(const ParsedArgs& args);
};

const Command& build_command();
const Command& run_command();
const Command& inspect_command();
const Command& exec_command();

}  // namespace kiln::cli
