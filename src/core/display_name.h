// Names that come from a model file (node, value, attribute, op and graph names, file locations)
// printed safely in messages: a model controls them, so they may hold newlines, terminal escape
// sequences or megabytes of text.
//
//   fail(ErrorCode::kInvalidModel, "node '", display_name(node.name()), "' ...");
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln {

// Names longer than this (after escaping) are shortened.
inline constexpr size_t kMaxDisplayNameChars = 200;

// `name` made safe to print inside one line of a message:
// - control characters, DEL, bytes that are not valid UTF-8 and a backslash are escaped as
//   \n, \r, \t, \\ or \xNN; Unicode's C1 controls, line/paragraph separators and the bidirectional
//   overrides and isolates (which reorder what a terminal shows) as \u{XXXX}; other valid UTF-8
//   stays as it is;
// - a result longer than kMaxDisplayNameChars is cut to its first part, followed by
//   "...(N bytes, hash XXXXXXXX)": N the name's length in bytes, XXXXXXXX the FNV-1a hash of
//   its bytes, so that two long names with the same beginning can be told apart.
// Names that need none of this come back unchanged.
std::string display_name(std::string_view name);

}  // namespace kiln
