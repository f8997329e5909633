// --timingCacheFile=F for build and exec (trtexec's flag): read before the build when the file
// exists, written after it, atomically.
#pragma once

#include <memory>
#include <string>

#include "args.h"
#include "kiln/builder.h"

namespace kiln::cli {

// A cache parsed from `path` (or an empty one when the file does not exist), attached to
// `config`. Throws kiln::Error naming the path for a file that cannot be read or parsed.
std::shared_ptr<TimingCache> attach_timing_cache(BuilderConfig& config, const std::string& path);

// --builderOptimizationLevel=N (0-5; 0 times nothing) and --timingCacheFile=F: applied to
// `config`; returns the attached cache (null without --timingCacheFile).
std::shared_ptr<TimingCache> apply_tuning_flags(const ParsedArgs& args, BuilderConfig& config);

// Writes `cache` to `<path>.tmp-<pid>` and renames it over `path`, so that the path holds either
// its old contents or the whole new cache. Throws kiln::Error(kIO) naming the path.
void save_timing_cache(const TimingCache& cache, const std::string& path);

}  // namespace kiln::cli
