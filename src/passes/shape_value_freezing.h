// Freezes shape-time values: a node whose every output is known at shape time (Shape, Gather,
// Concat of the exporters' shape arithmetic) with the same contents at every profile point
// computes a constant for this engine, so its outputs become constants and the node goes
// ("Shape(x) with x's dims fixed at every point -> [dims]").
#pragma once

#include "passes/pass.h"

namespace kiln::passes {

// At the points in `context` (every profile's min, opt and max).
std::unique_ptr<Pass> make_shape_value_freezing(const PassContext& context);

}  // namespace kiln::passes
