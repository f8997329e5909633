// The conformance runner's view of the ONNX backend test data: suites of test cases found on
// disk, and what one run of a case produced.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kiln::conformance {

// How a case supplies its inputs and reference outputs.
enum class CaseLayout {
  // <dir>/model.onnx with <dir>/test_data_set_<i>/input_<j>.pb and output_<j>.pb.
  kDataSets,
  // The "light" models: <suite>/<stem>.onnx with <suite>/<stem>_output_<j>.pb. Inputs are not
  // stored; the onnx runner feeds arange(n) / n in float32, and so does kiln_conformance.
  kLightModel,
  // A case that cannot run here (e.g. a `real` model whose data.json only points to a download).
  kSkip,
};

struct TestCase {
  std::string name;   // "onnx/node/test_abs", "debian/simple/test_sequence_model1"
  std::string suite;  // "onnx/node"
  CaseLayout layout = CaseLayout::kDataSets;
  std::string model_path;
  std::string dir;          // kDataSets: the case's folder; kLightModel: the suite's folder
  std::string light_stem;   // kLightModel: "light_resnet50"
  std::string skip_reason;  // kSkip
  double rtol = 1e-3;       // the onnx backend runner's defaults, overridden by data.json
  double atol = 1e-7;
};

struct Suite {
  std::string name;  // "onnx/node"
  std::string dir;
};

// The cases of one suite folder, sorted by name. A missing folder yields none.
std::vector<TestCase> discover_suite(const Suite& suite);

// Failure categories of the expectations file.
inline const std::vector<std::string>& categories() {
  static const std::vector<std::string> all = {"training-only", "sequence-map-optional-string",
                                               "not-implemented", "numerics", "other"};
  return all;
}
bool is_category(const std::string& name);

// A message on one line (kiln's multi-line errors, such as the list of unsupported nodes, joined
// with single spaces), cut to `max_chars`: for notes and the console.
std::string one_line(const std::string& text, size_t max_chars = 200);

enum class Outcome { kPass, kFail, kSkip };

// What running one case produced (in the child process, or the parent for crashes/timeouts).
struct CaseResult {
  Outcome outcome = Outcome::kFail;
  std::string reason;         // why it failed or was skipped; empty for a pass
  std::string auto_category;  // the category --update-expectations assigns a failure
  std::string note;           // the note it writes with it (first line of the reason, short)
  double seconds = 0;
};

}  // namespace kiln::conformance
