// Builds a plan from a network graph: validate inputs and profiles, optimize, resolve shapes
// at each profile's min/opt/max, plan memory, choose kernels.
#pragma once

#include "ir/graph.h"
#include "kiln/builder.h"
#include "plan/plan.h"

namespace kiln::builder {

plan::PlanContents build_plan(const ir::Graph& network, const BuilderConfig& config,
                              Logger& logger);

}  // namespace kiln::builder
