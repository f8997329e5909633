// libFuzzer target: the CLI's .npy reader (tools/kiln/npy.cpp). Any bytes are parsed as a .npy
// file; an array that parses is encoded again and must parse back to the same array.
#include <cstdlib>
#include <cstring>

#include "kiln/error.h"
#include "npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::cli::NpyArray array;
  try {
    array = kiln::cli::parse_npy(data, size, "fuzz.npy");
  } catch (const kiln::Error&) {
    return 0;
  }
  const std::vector<uint8_t> bytes =
      kiln::cli::encode_npy(array.dtype, array.shape, array.data.data(), array.data.size());
  const kiln::cli::NpyArray again = kiln::cli::parse_npy(bytes.data(), bytes.size(), "again.npy");
  if (again.dtype != array.dtype || again.shape != array.shape || again.data != array.data) {
    std::abort();  // what was read must survive a write and a read
  }
  return 0;
}
