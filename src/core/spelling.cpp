#include "core/spelling.h"

#include <algorithm>
#include <cctype>

namespace kiln {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_spelling(std::string_view wanted, const std::vector<std::string>& candidates) {
  constexpr size_t kMaxCompared = 256;
  if (wanted.size() > kMaxCompared) return "";
  const std::string key = lowercase(wanted);
  std::string best;
  size_t best_distance = 3;  // near misses only
  for (const std::string& candidate : candidates) {
    if (candidate.size() > kMaxCompared) continue;
    const std::string other = lowercase(candidate);
    if (other == key) return candidate;
    const size_t d = edit_distance(key, other);
    if (d < best_distance && d < std::min(key.size(), other.size())) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace kiln
