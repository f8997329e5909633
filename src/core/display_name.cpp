#include "core/display_name.h"

#include <cstdint>
#include <cstdio>

namespace kiln {

namespace {

// The length of the valid UTF-8 sequence starting at s[i] and its code point, or 0 when the
// bytes there are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF are not).
size_t utf8_sequence(std::string_view s, size_t i, uint32_t* code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, cp = lead & 0x1Fu, min = 0x80;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3, cp = lead & 0x0Fu, min = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, cp = lead & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0u) != 0x80u) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  *code_point = cp;
  return length;
}

// Code points that are valid but change how a line reads: C1 controls, line and paragraph
// separators, and the bidirectional marks, embeddings, overrides and isolates.
bool is_unsafe_code_point(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x200E && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x061C || cp == 0xFEFF;
}

uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

std::string display_name(std::string_view name) {
  // Past this many characters of output the name is cut; room is left for the suffix.
  constexpr size_t kKeep = kMaxDisplayNameChars - 48;
  std::string out;
  out.reserve(name.size() < kMaxDisplayNameChars ? name.size() : kMaxDisplayNameChars);
  size_t cut_at = 0;  // length of `out` when it last had at most kKeep characters
  bool cut = false;
  char buf[16];
  for (size_t i = 0; i < name.size();) {
    if (out.size() <= kKeep) cut_at = out.size();
    if (out.size() > kMaxDisplayNameChars) {
      cut = true;
      break;
    }
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '\\')
        out += "\\\\";
      else
        out += char(c);
      ++i;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
      ++i;
      continue;
    }
    if (c == '\r') {
      out += "\\r";
      ++i;
      continue;
    }
    if (c == '\t') {
      out += "\\t";
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t length = c >= 0x80 ? utf8_sequence(name, i, &cp) : 0;
    if (length == 0) {
      std::snprintf(buf, sizeof buf, "\\x%02X", unsigned(c));
      out += buf;
      ++i;
    } else if (is_unsafe_code_point(cp)) {
      std::snprintf(buf, sizeof buf, "\\u{%04X}", unsigned(cp));
      out += buf;
      i += length;
    } else {
      out.append(name.substr(i, length));
      i += length;
    }
  }
  if (!cut && out.size() <= kMaxDisplayNameChars) return out;
  out.resize(cut_at);
  std::snprintf(buf, sizeof buf, "%08X", unsigned(fnv1a(name)));
  out += "...(";
  out += std::to_string(name.size());
  out += " bytes, hash ";
  out += buf;
  out += ")";
  return out;
}

}  // namespace kiln
