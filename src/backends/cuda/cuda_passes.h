// The CUDA backend's pass list: what the builder runs on a GPU engine's graph once shapes are
// resolved at every profile point, each pass with the condition (builder flags, tactic
// sources, environment switches) under which it runs. Compiled without CUDA too (building a
// GPU engine is refused before the list is asked for).
#pragma once

#include "kiln/builder.h"
#include "passes/pass.h"

namespace kiln::cuda {

passes::PassList pass_list(const BuilderConfig& config, const passes::PassContext& context);

}  // namespace kiln::cuda
