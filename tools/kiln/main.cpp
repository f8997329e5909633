#include <cstdio>

#include "kiln/version.h"

int main() {
  std::printf("kiln %s\n", kiln::version_string());
  return 0;
}
