// Runs one conformance case through kiln in the current process: parse, build, execute every
// data set, compare. Meant to run in a forked child (see main.cpp), which is why progress is
// reported through a callback: the parent learns how far a case got before a crash.
#pragma once

#include <functional>
#include <string>

#include "kiln/builder.h"
#include "test_case.h"

namespace kiln::conformance {

struct RunOptions {
  DeviceType device = DeviceType::kCPU;
  // Build a serialized plan and load it back, as `kiln build` + `kiln run` do; otherwise use
  // the builder's engine directly.
  bool plan_round_trip = true;
};

// Stage names: "load", "parse", "data", "build", "execute", "compare".
using StageCallback = std::function<void(const std::string& stage)>;

// Never throws: every failure becomes a CaseResult with the reason and the category
// --update-expectations would give it.
CaseResult run_case(const TestCase& test_case, const RunOptions& options,
                    const StageCallback& on_stage);

// What a failure of this case is, judged from the model alone: "training-only" (training ops or
// a *_training* test), "sequence-map-optional-string" (values of those types anywhere in the
// model), or "" when the model does not tell. Exposed for the parent, which categorizes crashes.
std::string category_from_model(const TestCase& test_case);

}  // namespace kiln::conformance
