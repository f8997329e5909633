// libFuzzer target: the timing-cache reader. Any bytes are parsed as a serialized timing cache;
// one that loads is serialized again and must parse back to the same bytes.
#include <cstdlib>

#include "core/fuzzing.h"
#include "kiln/kiln.h"

// Mutations should reach the parsers, not stop at the checksum (src/core/fuzzing.h).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kiln::checksums_ignored_for_fuzzing() = true;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<kiln::TimingCache> cache;
  try {
    cache = kiln::TimingCache::deserialize(data, size);
  } catch (const kiln::Error&) {
    return 0;
  }
  const std::vector<uint8_t> bytes = cache->serialize();
  const std::vector<uint8_t> again =
      kiln::TimingCache::deserialize(bytes.data(), bytes.size())->serialize();
  if (bytes != again) std::abort();  // a loaded cache must round-trip
  return 0;
}
