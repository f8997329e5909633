// kiln version: semantic versioning for the public API and ABI.
#pragma once

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0

// Marks a public API that will be removed in a later major version; say what to use instead.
#define KILN_DEPRECATED(message) [[deprecated(message)]]

namespace kiln {

struct Version {
  int major;
  int minor;
  int patch;
};

inline constexpr Version kVersion{KILN_VERSION_MAJOR, KILN_VERSION_MINOR, KILN_VERSION_PATCH};

// "MAJOR.MINOR.PATCH"
const char* version_string();

}  // namespace kiln
