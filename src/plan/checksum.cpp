#include "plan/checksum.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define KILN_CRC32C_SSE42 1
#endif

namespace kiln::plan {

namespace {

constexpr uint32_t kReflectedPolynomial = 0x82F63B78u;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of byte b followed by
// k zero bytes, which lets the loop below fold eight bytes per step (slice-by-8).
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kReflectedPolynomial : 0);
    t[0][b] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

#ifdef KILN_CRC32C_SSE42
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(const uint8_t* p, size_t size,
                                                        uint32_t previous) {
  uint64_t crc = ~previous;
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    crc = _mm_crc32_u64(crc, word);
  }
  auto crc32 = static_cast<uint32_t>(crc);
  for (; size > 0; --size, ++p) crc32 = _mm_crc32_u8(crc32, *p);
  return ~crc32;
}

bool has_sse42() {
  static const bool supported = __builtin_cpu_supports("sse4.2");
  return supported;
}
#endif

}  // namespace

uint32_t crc32c_portable(const void* data, size_t size, uint32_t previous) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~previous;
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);  // little-endian, as the tables assume
    word ^= crc;
    crc = kTables[7][word & 0xff] ^ kTables[6][(word >> 8) & 0xff] ^
          kTables[5][(word >> 16) & 0xff] ^ kTables[4][(word >> 24) & 0xff] ^
          kTables[3][(word >> 32) & 0xff] ^ kTables[2][(word >> 40) & 0xff] ^
          kTables[1][(word >> 48) & 0xff] ^ kTables[0][word >> 56];
  }
  for (; size > 0; --size, ++p) crc = kTables[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t crc32c(const void* data, size_t size, uint32_t previous) {
#ifdef KILN_CRC32C_SSE42
  if (has_sse42()) return crc32c_sse42(static_cast<const uint8_t*>(data), size, previous);
#endif
  return crc32c_portable(data, size, previous);
}

}  // namespace kiln::plan
