// The `kiln` command-line tool: build, run, inspect and benchmark engines. Errors print one line,
// "kiln: error: <message>", on stderr: exit status 1 for errors, 2 for a command line that
// cannot be understood (which also prints the command's usage line).
#include <cctype>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "commands.h"
#include "core/temporary_files.h"
#include "kiln/kiln.h"
#include "model.h"

namespace kiln::cli {
namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

std::vector<const Command*> all_commands() {
  return {&build_command(), &run_command(), &inspect_command(), &exec_command()};
}

const Command* find_command(const std::string& name) {
  for (const Command* command : all_commands()) {
    if (name == command->name) return command;
  }
  return nullptr;
}

void print_general_help() {
  std::printf("kiln %s: an inference optimizer and runtime for neural networks\n\n",
              version_string());
  std::printf("usage: kiln <command> [arguments]\n\ncommands:\n");
  for (const Command* command : all_commands()) {
    std::printf("  %-9s %s\n", command->name, command->summary);
  }
  std::printf(
      "  help      this text, or `kiln help <command>` for one command\n"
      "  version   print kiln's version (also --version)\n\n"
      "Shapes are given as trtexec spells them: --shapes=input:1x3x224x224,mask:1x128.\n"
      "Exit status: 0 on success, 1 on an error, 2 when the command line is wrong.\n");
}

void print_command_help(const Command& command) {
  std::string summary = command.summary;
  summary[0] = char(std::toupper(static_cast<unsigned char>(summary[0])));
  std::printf("usage: %s\n\n%s.\n\noptions:\n%s", command.usage, summary.c_str(), command.help);
}

// One line, "kiln: error: <first line>"; a message's further lines (a list of unsupported
// nodes, say) follow indented so that they read as details of that one error.
void print_error(const std::string& message) {
  std::string text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) text = "unknown error";
  std::string out = "kiln: error: ";
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", out.c_str());
}

int main_impl(const std::vector<std::string>& args) {
  const Command* command = nullptr;
  try {
    if (args.empty()) throw UsageError("no command given");
    const std::string& first = args[0];
    if (first == "--version" || first == "-V" || first == "version") {
      std::printf("kiln %s\n", version_string());
      return 0;
    }
    if (first == "help" || first == "--help" || first == "-h") {
      if (args.size() < 2) {
        print_general_help();
        return 0;
      }
      const Command* topic = find_command(args[1]);
      if (!topic) throw UsageError("no help for '" + args[1] + "': not a command");
      print_command_help(*topic);
      return 0;
    }
    command = find_command(first);
    if (!command) {
      throw UsageError("unknown command '" + first + "' (commands: build, run, inspect, exec)");
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const std::string& word : rest) {
      if (word == "--") break;
      if (word == "--help" || word == "-h") {
        print_command_help(*command);
        return 0;
      }
    }
    std::vector<FlagSpec> flags = command->flags;
    flags.push_back(switch_flag("--verbose", {"-v"}));
    ParsedArgs parsed = parse_args(rest, flags);
    if (parsed.has("--verbose")) cli_logger().set_threshold(Logger::Severity::kVerbose);
    return command->run(parsed);
  } catch (const UsageError& error) {
    print_error(error.what());
    if (command) {
      std::fprintf(stderr, "usage: %s  (kiln %s --help for more)\n", command->usage, command->name);
    } else {
      std::fprintf(stderr, "usage: kiln <build|run|inspect|exec> ...  (kiln help for more)\n");
    }
    return kExitUsage;
  } catch (const Error& error) {
    print_error(error.what());
    return kExitError;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return kExitError;
  } catch (const std::exception& error) {
    print_error(std::string("internal error: ") + error.what());
    return kExitError;
  } catch (...) {
    print_error("internal error: unknown exception");
    return kExitError;
  }
}

}  // namespace
}  // namespace kiln::cli

int main(int argc, char** argv) {
  // A build or run stopped with Ctrl-C or kill leaves no temporary plan or .npy behind.
  kiln::remove_temporary_paths_on_signals();
  std::vector<std::string> args(argv + 1, argv + argc);
  return kiln::cli::main_impl(args);
}
