// The CPU backend's pass list: what the builder runs on a CPU engine's graph once shapes are
// resolved at every profile point.
#pragma once

#include "passes/pass.h"

namespace kiln::cpu {

passes::PassList pass_list(const passes::PassContext& context);

}  // namespace kiln::cpu
