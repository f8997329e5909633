// Fuzzing builds (KILN_FUZZ, tests/fuzz): the libFuzzer targets turn checksum enforcement off
// for their process, so that mutated plans and timing caches reach the parsers instead of all
// stopping at the checksum. Other builds have no switch: checksums are always enforced. In a
// fuzzing build the tests still run with checksums on, since only the fuzz targets flip it.
#pragma once

#include <atomic>

namespace kiln {

#ifdef KILN_FUZZING_BUILD
inline std::atomic<bool>& checksums_ignored_for_fuzzing() {
  static std::atomic<bool> ignored{false};
  return ignored;
}
inline bool checksums_ignored() { return checksums_ignored_for_fuzzing().load(); }
#else
constexpr bool checksums_ignored() { return false; }
#endif

}  // namespace kiln
