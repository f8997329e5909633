#include "expectations.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "test_case.h"

namespace kiln::conformance {

namespace {

std::string trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t\r");
  return s.substr(begin, end - begin + 1);
}

const char* kHeader =
    "# kiln ONNX conformance: tests not expected to pass (docs/conformance.md).\n"
    "#   <test name> <category> # note\n"
    "# categories: training-only, sequence-map-optional-string, not-implemented, numerics, other.\n"
    "# A listed test that passes fails the run (remove it), so this list only shrinks.\n"
    "# Regenerate with scripts/conformance --update-expectations (notes of entries that still\n"
    "# fail are kept; hand-assigned categories too).\n"
    "# Elements whose result the ONNX spec leaves undefined are not compared and need no entry\n"
    "# here: Cast/CastLike from floating point to an integer type, where the spec says \"fixed\n"
    "# point: undefined if OOR (out of range)\" (tools/conformance/unspecified.h).\n";

}  // namespace

Expectations read_expectations(const std::string& path) {
  Expectations expectations;
  std::ifstream in(path);
  if (!in) return expectations;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string note;
    size_t hash = line.find('#');
    if (hash != std::string::npos) {
      note = trim(line.substr(hash + 1));
      line = line.substr(0, hash);
    }
    std::istringstream fields(line);
    std::string test, category, extra;
    if (!(fields >> test)) continue;  // blank or comment
    auto where = [&] { return path + ":" + std::to_string(number) + ": "; };
    if (!(fields >> category)) {
      throw std::runtime_error(where() + "'" + test + "' has no category");
    }
    if (fields >> extra) {
      throw std::runtime_error(where() + "unexpected '" + extra + "' (a note goes after '#')");
    }
    if (!is_category(category)) {
      throw std::runtime_error(where() + "unknown category '" + category +
                               "' (training-only, sequence-map-optional-string, "
                               "not-implemented, numerics, other)");
    }
    if (!expectations.emplace(test, Expectation{category, note}).second) {
      throw std::runtime_error(where() + "'" + test + "' is listed twice");
    }
  }
  return expectations;
}

void write_expectations(const std::string& path, const Expectations& expectations) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out << kHeader;
    for (const auto& [test, e] : expectations) {
      out << test << ' ' << e.category;
      if (!e.note.empty()) out << " # " << e.note;
      out << '\n';
    }
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot replace " + path);
  }
}

}  // namespace kiln::conformance
