// Command-line parsing for the kiln CLI: flags in trtexec's spellings ("--shapes=x:1x3",
// also "--shapes x:1x3"), positional arguments, and the NAME:DIMS shape lists.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln::cli {

// The command line could not be understood (unknown flag, missing value or argument): kiln
// prints the message and the command's usage line, and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FlagSpec {
  std::string name;                  // canonical spelling, e.g. "--shapes" or "-o"
  std::vector<std::string> aliases;  // other spellings, e.g. "--output", "--saveEngine"
  bool takes_value = false;
  bool repeatable = false;  // may be given several times (values accumulate)
};

class ParsedArgs {
 public:
  std::vector<std::string> positionals;

  bool has(const std::string& flag) const { return values_.count(flag) != 0; }
  // The flag's value (for a non-repeatable flag), if given.
  std::optional<std::string> value(const std::string& flag) const;
  // Every value of a repeatable flag, in order.
  std::vector<std::string> values(const std::string& flag) const;

 private:
  friend ParsedArgs parse_args(const std::vector<std::string>&, const std::vector<FlagSpec>&);
  std::map<std::string, std::vector<std::string>> values_;
};

// A flag without a value (--fp16) and one with a value (--shapes=..., or --shapes ...).
inline FlagSpec switch_flag(std::string name, std::vector<std::string> aliases = {}) {
  return FlagSpec{std::move(name), std::move(aliases), false, false};
}
inline FlagSpec value_flag(std::string name, std::vector<std::string> aliases = {},
                           bool repeatable = false) {
  return FlagSpec{std::move(name), std::move(aliases), true, repeatable};
}

// Parses `args` (the words after the command name) against `specs`; keys in the result are
// the canonical names. "--" ends the flags. Throws UsageError.
ParsedArgs parse_args(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs);

// One "NAME:DIMS" item of a shape list.
struct ShapeSpec {
  std::string name;
  Dims dims;
};

// Parses "x:1x3x224x224,other:1x128". Names may contain ':' (the dims follow the LAST ':')
// and may be quoted as trtexec allows ('input:0':1x3). Throws kiln::Error naming `flag` and
// the malformed item.
std::vector<ShapeSpec> parse_shape_list(const std::string& text, const std::string& flag);

// Parses a non-negative integer flag value; throws kiln::Error naming the flag.
uint64_t parse_uint(const std::string& text, const std::string& flag);

}  // namespace kiln::cli
