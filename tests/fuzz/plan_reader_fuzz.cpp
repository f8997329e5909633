// libFuzzer target: the plan reader and runtime. Any bytes are loaded as a plan; a plan that
// loads is run once on the CPU (fuzz_util.h). Seeds: plans of the model fixtures written by
// tests/fuzz/make_seed_corpus.py, which mutations change field by field.
#include "core/fuzzing.h"
#include "fuzz_util.h"

// Mutations should reach the parsers, not stop at the checksum (src/core/fuzzing.h).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kiln::checksums_ignored_for_fuzzing() = true;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::Runtime runtime(kiln::null_logger());
    std::unique_ptr<kiln::Engine> engine = runtime.deserialize_engine(data, size);
    kiln::fuzz::run_once(*engine);
  } catch (const kiln::Error&) {
  }
  return 0;
}
