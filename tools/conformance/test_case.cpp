#include "test_case.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace kiln::conformance {

namespace fs = std::filesystem;

bool is_category(const std::string& name) {
  const auto& all = categories();
  return std::find(all.begin(), all.end(), name) != all.end();
}

std::string one_line(const std::string& text, size_t max_chars) {
  std::string line;
  for (char c : text) {
    bool space = c == '\n' || c == '\r' || c == '\t' || c == ' ';
    if (space && (line.empty() || line.back() == ' ')) continue;
    line += space ? ' ' : c;
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  if (line.size() > max_chars) line = line.substr(0, max_chars - 3) + "...";
  return line;
}

namespace {

std::optional<nlohmann::json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// rtol/atol from a data.json, where it has them (the onnx loader's convention).
void apply_tolerances(const nlohmann::json& j, TestCase& test_case) {
  if (j.contains("rtol") && j["rtol"].is_number()) test_case.rtol = j["rtol"].get<double>();
  if (j.contains("atol") && j["atol"].is_number()) test_case.atol = j["atol"].get<double>();
}

bool has_top_level_models(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".onnx") return true;
  }
  return false;
}

// The light folder: one <stem>.onnx per model with its outputs beside it. The `real` folder next
// to it has the tolerances the onnx runner uses for the same model (data.json's model_name).
std::vector<TestCase> discover_light_models(const Suite& suite) {
  std::vector<TestCase> cases;
  for (const auto& entry : fs::directory_iterator(suite.dir)) {
    const fs::path& path = entry.path();
    if (!entry.is_regular_file() || path.extension() != ".onnx") continue;
    TestCase test_case;
    test_case.light_stem = path.stem().string();
    test_case.name = suite.name + "/" + test_case.light_stem;
    test_case.suite = suite.name;
    test_case.layout = CaseLayout::kLightModel;
    test_case.model_path = path.string();
    test_case.dir = suite.dir;
    std::string model_name = test_case.light_stem;
    if (model_name.rfind("light_", 0) == 0) model_name = model_name.substr(6);
    if (auto j = read_json(fs::path(suite.dir).parent_path() / "real" / ("test_" + model_name) /
                           "data.json")) {
      apply_tolerances(*j, test_case);
    }
    cases.push_back(std::move(test_case));
  }
  return cases;
}

}  // namespace

std::vector<TestCase> discover_suite(const Suite& suite) {
  std::vector<TestCase> cases;
  std::error_code ec;
  if (!fs::is_directory(suite.dir, ec)) return cases;
  if (has_top_level_models(suite.dir)) {
    cases = discover_light_models(suite);
  } else {
    for (const auto& entry : fs::directory_iterator(suite.dir)) {
      if (!entry.is_directory()) continue;
      const fs::path& dir = entry.path();
      TestCase test_case;
      test_case.name = suite.name + "/" + dir.filename().string();
      test_case.suite = suite.name;
      test_case.dir = dir.string();
      std::optional<nlohmann::json> data = read_json(dir / "data.json");
      if (data) apply_tolerances(*data, test_case);
      if (fs::exists(dir / "model.onnx")) {
        test_case.layout = CaseLayout::kDataSets;
        test_case.model_path = (dir / "model.onnx").string();
      } else {
        test_case.layout = CaseLayout::kSkip;
        std::string url = data && data->contains("url") && (*data)["url"].is_string()
                              ? (*data)["url"].get<std::string>()
                              : std::string();
        test_case.skip_reason = url.empty()
                                    ? "no model.onnx in the test folder"
                                    : "needs a download: the folder holds only a pointer to " + url;
      }
      cases.push_back(std::move(test_case));
    }
  }
  std::sort(cases.begin(), cases.end(),
            [](const TestCase& a, const TestCase& b) { return a.name < b.name; });
  return cases;
}

}  // namespace kiln::conformance
