// The expectations file: every conformance test not expected to pass, one per line,
//
//   <test name> <category> # optional note
//
// with categories training-only, sequence-map-optional-string, not-implemented, numerics,
// other. Blank lines and lines starting with '#' are comments.
#pragma once

#include <map>
#include <string>

namespace kiln::conformance {

struct Expectation {
  std::string category;
  std::string note;
};

using Expectations = std::map<std::string, Expectation>;

// Reads the file; a missing file is an empty list. Throws std::runtime_error naming the line
// for an unknown category, a missing field or a test listed twice.
Expectations read_expectations(const std::string& path);

// Writes the list sorted by test name, under a header that explains the format, atomically.
void write_expectations(const std::string& path, const Expectations& expectations);

}  // namespace kiln::conformance
