// "Did you mean ...?" for names a user or a model got slightly wrong: CLI flags, ONNX attribute
// names.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

std::string lowercase(std::string_view text);

// Levenshtein distance (insertions, deletions, substitutions).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `wanted`, compared without case: one that differs only in case, else
// the nearest within two edits and fewer edits than the shorter name has characters (so "x"
// suggests nothing for "y"). "" when none is that close. Names over 256 characters are not
// compared: hostile input must not make the quadratic distance expensive.
std::string closest_spelling(std::string_view wanted, const std::vector<std::string>& candidates);

}  // namespace kiln
