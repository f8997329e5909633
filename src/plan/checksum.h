// The plan file's checksum: CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78,
// initial value and final xor 0xFFFFFFFF), the CRC of iSCSI, ext4 and SCTP. It was chosen over
// a 64-bit FNV-1a because a CRC is guaranteed to detect every error burst of up to 32 bits (so
// every single corrupted byte, and any two within four bytes of each other), and because x86-64
// computes it in hardware (SSE4.2), which keeps loading a multi-gigabyte engine cheap. Other
// hosts use a portable table-driven (slice-by-8) version; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::plan {

// CRC-32C of `size` bytes. Chainable: crc32c(b, nb, crc32c(a, na)) == crc32c(a followed by b).
// crc32c("123456789", 9) == 0xE3069283 (the standard check value).
uint32_t crc32c(const void* data, size_t size, uint32_t previous = 0);

// The portable implementation, always available (tests compare it with the fast path).
uint32_t crc32c_portable(const void* data, size_t size, uint32_t previous = 0);

}  // namespace kiln::plan
