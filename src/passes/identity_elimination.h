// Removes Identity and inference-mode Dropout nodes: "y = Identity(x) -> uses of y read x".
// A graph output keeps its name, so an Identity whose output is a graph output is kept when
// its input is itself a graph input or another graph output.
#pragma once

#include "passes/pass.h"

namespace kiln::passes {

std::unique_ptr<Pass> make_identity_elimination();

}  // namespace kiln::passes
