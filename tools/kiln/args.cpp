#include "args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "core/spelling.h"
#include "kiln/error.h"

namespace kiln::cli {
namespace {

// The known spelling closest to a mistyped flag, or "" when none is close.
std::string suggest(const std::string& flag, const std::vector<FlagSpec>& specs) {
  std::vector<std::string> spellings;
  for (const FlagSpec& spec : specs) {
    spellings.push_back(spec.name);
    spellings.insert(spellings.end(), spec.aliases.begin(), spec.aliases.end());
  }
  return closest_spelling(flag, spellings);
}

const FlagSpec* find_spec(const std::string& flag, const std::vector<FlagSpec>& specs) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == flag) return &spec;
    if (std::find(spec.aliases.begin(), spec.aliases.end(), flag) != spec.aliases.end()) {
      return &spec;
    }
  }
  return nullptr;
}

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::optional<std::string> ParsedArgs::value(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedArgs::values(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parse_args(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs) {
  ParsedArgs parsed;
  bool flags_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (flags_ended || word.size() < 2 || word[0] != '-') {
      parsed.positionals.push_back(word);
      continue;
    }
    if (word == "--") {
      flags_ended = true;
      continue;
    }
    const size_t equals = word.find('=');
    const std::string flag = word.substr(0, equals);
    const FlagSpec* spec = find_spec(flag, specs);
    if (!spec) {
      std::string message = "unknown flag '" + flag + "'";
      std::string near = suggest(flag, specs);
      if (!near.empty()) message += " (did you mean " + near + "?)";
      throw UsageError(message);
    }
    std::vector<std::string>& slot = parsed.values_[spec->name];
    if (!spec->repeatable && !slot.empty()) {
      throw UsageError("flag " + spec->name + " given more than once");
    }
    if (!spec->takes_value) {
      if (equals != std::string::npos) throw UsageError("flag " + flag + " takes no value");
      slot.push_back("");
      continue;
    }
    if (equals != std::string::npos) {
      slot.push_back(word.substr(equals + 1));
    } else if (i + 1 < args.size()) {
      slot.push_back(args[++i]);
    } else {
      throw UsageError("flag " + flag + " needs a value");
    }
  }
  return parsed;
}

std::vector<ShapeSpec> parse_shape_list(const std::string& text, const std::string& flag) {
  auto malformed = [&](const std::string& item, const std::string& why) -> Error {
    return Error(ErrorCode::kInvalidArgument,
                 flag + ": malformed shape '" + item + "': " + why +
                     " (expected NAME:DIMS items joined by ',', e.g. " + flag +
                     "=input:1x3x224x224,mask:1x128)");
  };
  std::vector<ShapeSpec> specs;
  std::set<std::string> seen;
  size_t start = 0;
  if (trim(text).empty()) throw malformed(text, "no shapes given");
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;

    if (item.empty()) throw malformed(text, "empty item");
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos) throw malformed(item, "no ':' between name and dims");
    ShapeSpec spec;
    spec.name = trim(item.substr(0, colon));
    if (spec.name.size() >= 2 && spec.name.front() == '\'' && spec.name.back() == '\'') {
      spec.name = spec.name.substr(1, spec.name.size() - 2);
    }
    if (spec.name.empty()) throw malformed(item, "empty input name");
    const std::string dims = trim(item.substr(colon + 1));
    if (dims.empty()) throw malformed(item, "no dims after ':'");
    size_t dim_start = 0;
    while (dim_start <= dims.size()) {
      size_t x = dims.find('x', dim_start);
      if (x == std::string::npos) x = dims.size();
      const std::string dim = dims.substr(dim_start, x - dim_start);
      int64_t extent = -1;
      auto [end, error] = std::from_chars(dim.data(), dim.data() + dim.size(), extent);
      if (dim.empty() || error != std::errc() || end != dim.data() + dim.size() || extent < 0) {
        throw malformed(item, "'" + dim + "' is not a non-negative integer");
      }
      spec.dims.push_back(extent);
      dim_start = x + 1;
    }
    if (!seen.insert(spec.name).second) {
      throw Error(ErrorCode::kInvalidArgument,
                  flag + ": input '" + spec.name + "' is given more than once");
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

uint64_t parse_uint(const std::string& text, const std::string& flag) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                flag + ": '" + text + "' is not a non-negative integer");
  }
  return value;
}

}  // namespace kiln::cli
