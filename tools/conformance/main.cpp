// kiln_conformance: runs the ONNX backend test suites through kiln and compares every output
// with the reference, as onnx's own backend test runner does. Each case runs in a forked child
// with a time limit, so a crash, a hang or a leak in one case cannot affect the others.
// See docs/conformance.md.
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "expectations.h"
#include "kiln/kiln.h"
#include "run_case.h"
#include "test_case.h"

namespace kiln::conformance {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

const char* kUsage = R"(usage: kiln_conformance [options] --suite NAME=DIR [--suite NAME=DIR ...]

Runs ONNX backend test folders (model.onnx + test_data_set_*/input_*.pb, output_*.pb) through
kiln and compares the outputs as onnx's backend runner does (rtol 1e-3, atol 1e-7 unless the
test's data.json says otherwise; integers and bools exactly).

  --suite NAME=DIR         a folder of test folders; its tests are named NAME/<test folder>
  --expectations FILE      tests not expected to pass (see docs/conformance.md)
  --update-expectations    rewrite FILE from this run's results (entries that still fail
                           keep their categories and notes)
  --refresh-notes          with --update-expectations: replace the notes of entries that
                           still fail with this run's error text
  --report FILE            write a JSON report
  --filter REGEX           run only tests whose name matches (ECMAScript regex, searched)
  --backend cpu|cuda       the backend to build engines for (cuda: inputs and outputs are
                           copied to and from device buffers; no memory limit is set)
  --jobs N                 cases run at once (default: the number of CPUs)
  --timeout SECONDS        time limit per case (default 20)
  --memory-limit MB        address space a case may add (default 8192; 0: no limit)
  --no-plan                use the built engine directly instead of a plan round trip
  --list                   print the test names and exit
  --verbose                print every result and let cases write to stderr
Exit status: 0 when every result is as expected, 1 otherwise, 2 for a usage error.
)";

struct Options {
  std::vector<Suite> suites;
  std::string expectations_path;
  bool update_expectations = false;
  bool refresh_notes = false;
  std::string report_path;
  std::optional<std::regex> filter;
  std::string filter_text;
  RunOptions run;
  int jobs = 1;
  double timeout_s = 20;
  long memory_limit_mb = 8192;
  bool list = false;
  bool verbose = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "kiln_conformance: " << message << "\n\n" << kUsage;
  std::exit(2);
}

Options parse_args(int argc, char** argv) {
  Options o;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  o.jobs = cpus > 0 ? int(cpus) : 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string& text) {
      try {
        size_t used = 0;
        double v = std::stod(text, &used);
        if (used != text.size() || v < 0) throw std::invalid_argument(text);
        return v;
      } catch (const std::exception&) {
        usage_error(cat(arg, " needs a non-negative number, got '", text, "'"));
      }
    };
    if (arg == "--suite") {
      std::string spec = value();
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
        usage_error("--suite needs NAME=DIR, got '" + spec + "'");
      }
      o.suites.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
    } else if (arg == "--expectations") {
      o.expectations_path = value();
    } else if (arg == "--update-expectations") {
      o.update_expectations = true;
    } else if (arg == "--refresh-notes") {
      o.refresh_notes = true;
    } else if (arg == "--report") {
      o.report_path = value();
    } else if (arg == "--filter") {
      o.filter_text = value();
      try {
        o.filter.emplace(o.filter_text);
      } catch (const std::regex_error& e) {
        usage_error("bad --filter regex '" + o.filter_text + "': " + e.what());
      }
    } else if (arg == "--backend") {
      std::string backend = value();
      if (backend == "cpu") {
        o.run.device = DeviceType::kCPU;
      } else if (backend == "cuda") {
        if (!built_with_cuda()) usage_error("--backend cuda: this kiln was built without CUDA");
        o.run.device = DeviceType::kGPU;
        // CUDA reserves far more address space than it uses: an address-space limit breaks it.
        o.memory_limit_mb = 0;
      } else {
        usage_error("--backend must be cpu or cuda, not '" + backend + "'");
      }
    } else if (arg == "--jobs" || arg == "-j") {
      o.jobs = std::max(1, int(number(value())));
    } else if (arg == "--timeout") {
      o.timeout_s = number(value());
    } else if (arg == "--memory-limit") {
      o.memory_limit_mb = long(number(value()));
    } else if (arg == "--no-plan") {
      o.run.plan_round_trip = false;
    } else if (arg == "--list") {
      o.list = true;
    } else if (arg == "--verbose" || arg == "-v") {
      o.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (o.suites.empty()) usage_error("no --suite given");
  if (o.update_expectations && o.expectations_path.empty()) {
    usage_error("--update-expectations needs --expectations FILE");
  }
  if (o.refresh_notes && !o.update_expectations) {
    usage_error("--refresh-notes goes with --update-expectations");
  }
  return o;
}

// ---- running cases in child processes ----------------------------------------------------

// Child -> parent protocol over a pipe: "stage <name>\n" lines as the case progresses, then
// one "result <json>\n" line.
json result_to_json(const CaseResult& r) {
  return {{"outcome", r.outcome == Outcome::kPass   ? "pass"
                      : r.outcome == Outcome::kSkip ? "skip"
                                                    : "fail"},
          {"reason", r.reason},
          {"auto_category", r.auto_category},
          {"note", r.note}};
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

// The process's current address-space size (the first field of /proc/self/statm, in pages).
rlim_t mapped_bytes() {
  std::ifstream statm("/proc/self/statm");
  unsigned long long pages = 0;
  if (!(statm >> pages)) return 0;
  return rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE));
}

[[noreturn]] void child_main(const TestCase& test_case, const Options& options, int fd) {
  if (!options.verbose) {
    int null_fd = open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
      dup2(null_fd, STDOUT_FILENO);
      dup2(null_fd, STDERR_FILENO);
      close(null_fd);
    }
  }
  if (options.memory_limit_mb > 0) {
    // On top of what is mapped already: a CUDA-enabled kiln may have reserved a lot of address
    // space before the fork, which an absolute limit would count against the case.
    rlim_t bytes = (rlim_t(options.memory_limit_mb) << 20) + mapped_bytes();
    struct rlimit limit = {bytes, bytes};
    setrlimit(RLIMIT_AS, &limit);
  }
  CaseResult result = run_case(test_case, options.run, [fd](const std::string& stage) {
    write_all(fd, "stage " + stage + "\n");
  });
  // Reasons can quote whole tensors or node lists; keep the pipe traffic bounded.
  if (result.reason.size() > 4000) result.reason = result.reason.substr(0, 4000) + "...";
  write_all(fd, "result " + result_to_json(result).dump() + "\n");
  close(fd);
  _exit(0);  // no destructors, no atexit handlers: the parent owns all of that
}

struct Running {
  size_t index;
  pid_t pid;
  int fd;
  std::string output;
  Clock::time_point start, deadline;
  bool killed = false;
};

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// Turns what a finished child left (its pipe output and wait status) into a result.
CaseResult finish(const TestCase& test_case, const Running& r, int status, double timeout_s) {
  CaseResult result;
  std::string stage = "start";
  std::optional<json> reported;
  size_t pos = 0;
  while (pos < r.output.size()) {
    size_t end = r.output.find('\n', pos);
    if (end == std::string::npos) break;  // a line cut short by a crash
    std::string line = r.output.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("stage ", 0) == 0) stage = line.substr(6);
    if (line.rfind("result ", 0) == 0) {
      json j = json::parse(line.substr(7), nullptr, false);
      if (!j.is_discarded()) reported = j;
    }
  }
  if (reported && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    std::string outcome = (*reported)["outcome"];
    result.outcome = outcome == "pass"   ? Outcome::kPass
                     : outcome == "skip" ? Outcome::kSkip
                                         : Outcome::kFail;
    result.reason = (*reported)["reason"];
    result.auto_category = (*reported)["auto_category"];
    result.note = (*reported)["note"];
    return result;
  }
  result.outcome = Outcome::kFail;
  std::ostringstream reason;
  if (r.killed) {
    reason << "timed out after " << timeout_s << " s";
  } else if (WIFSIGNALED(status)) {
    reason << "crashed: " << signal_name(WTERMSIG(status));
    if (WTERMSIG(status) == SIGKILL) reason << " (out of memory?)";
  } else {
    reason << "exited with status " << WEXITSTATUS(status) << " without a result";
  }
  reason << " (during " << stage << ")";
  result.reason = reason.str();
  std::string from_model = category_from_model(test_case);
  result.auto_category = from_model.empty() ? "other" : from_model;
  result.note = result.reason;
  return result;
}

std::vector<CaseResult> run_all(const std::vector<TestCase>& cases, const Options& options) {
  std::vector<CaseResult> results(cases.size());
  std::vector<Running> running;
  size_t next = 0, done = 0;
  auto timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));
  auto report_progress = [&](size_t index) {
    ++done;
    const CaseResult& r = results[index];
    if (options.verbose) {
      const char* word = r.outcome == Outcome::kPass   ? "pass"
                         : r.outcome == Outcome::kSkip ? "skip"
                                                       : "FAIL";
      std::printf("[%zu/%zu] %s %s %.2fs %s\n", done, cases.size(), word, cases[index].name.c_str(),
                  r.seconds, one_line(r.reason).c_str());
      std::fflush(stdout);
    }
  };
  while (next < cases.size() || !running.empty()) {
    while (running.size() < size_t(options.jobs) && next < cases.size()) {
      size_t index = next++;
      if (cases[index].layout == CaseLayout::kSkip) {
        results[index] = run_case(cases[index], options.run, [](const std::string&) {});
        report_progress(index);
        continue;
      }
      int fds[2];
      if (pipe(fds) != 0) {
        std::perror("kiln_conformance: pipe");
        std::exit(2);
      }
      std::fflush(stdout);
      std::fflush(stderr);
      pid_t pid = fork();
      if (pid < 0) {
        std::perror("kiln_conformance: fork");
        std::exit(2);
      }
      if (pid == 0) {
        close(fds[0]);
        for (const Running& other : running) close(other.fd);
        child_main(cases[index], options, fds[1]);
      }
      close(fds[1]);
      fcntl(fds[0], F_SETFL, O_NONBLOCK);
      Clock::time_point now = Clock::now();
      running.push_back({index, pid, fds[0], "", now, now + timeout});
    }
    std::vector<pollfd> polls;
    polls.reserve(running.size());
    for (const Running& r : running) polls.push_back({r.fd, POLLIN, 0});
    poll(polls.data(), polls.size(), 10);
    for (size_t k = 0; k < running.size();) {
      Running& r = running[k];
      char buffer[4096];
      ssize_t n;
      while ((n = read(r.fd, buffer, sizeof buffer)) > 0) r.output.append(buffer, size_t(n));
      int status = 0;
      pid_t waited = waitpid(r.pid, &status, WNOHANG);
      if (waited == r.pid) {
        while ((n = read(r.fd, buffer, sizeof buffer)) > 0) r.output.append(buffer, size_t(n));
        close(r.fd);
        results[r.index] = finish(cases[r.index], r, status, options.timeout_s);
        results[r.index].seconds = std::chrono::duration<double>(Clock::now() - r.start).count();
        report_progress(r.index);
        running.erase(running.begin() + long(k));
        continue;
      }
      if (!r.killed && Clock::now() > r.deadline) {
        kill(r.pid, SIGKILL);
        r.killed = true;
      }
      ++k;
    }
  }
  return results;
}

// ---- classification, report, expectations ------------------------------------------------

enum class Verdict { kPass, kExpectedFail, kUnexpectedFail, kNowPasses, kSkip };

struct Tally {
  int passed = 0, expected_fail = 0, failed = 0, skipped = 0;
  std::map<std::string, int> by_category;
  int total() const { return passed + expected_fail + failed + skipped; }
};

Verdict judge(const CaseResult& r, const Expectation* expected) {
  if (r.outcome == Outcome::kSkip) return Verdict::kSkip;
  if (r.outcome == Outcome::kPass) return expected ? Verdict::kNowPasses : Verdict::kPass;
  return expected ? Verdict::kExpectedFail : Verdict::kUnexpectedFail;
}

void write_report(const std::string& path, const json& report) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << report.dump(1) << "\n";
    if (!out.flush()) {
      std::cerr << "kiln_conformance: cannot write " << tmp << "\n";
      std::remove(tmp.c_str());
      return;
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::cerr << "kiln_conformance: cannot write " << path << "\n";
    std::remove(tmp.c_str());
  }
}

bool suite_of(const std::string& test, const std::vector<Suite>& suites, Suite* out) {
  for (const Suite& s : suites) {
    if (test.rfind(s.name + "/", 0) == 0) {
      *out = s;
      return true;
    }
  }
  return false;
}

int run(int argc, char** argv) {
  Options options = parse_args(argc, argv);
  Expectations expectations;
  try {
    expectations = read_expectations(options.expectations_path);
  } catch (const std::exception& e) {
    std::cerr << "kiln_conformance: " << e.what() << "\n";
    return 2;
  }

  std::vector<TestCase> cases;
  std::set<std::string> discovered;
  std::set<std::string> present_suites;
  for (const Suite& suite : options.suites) {
    std::vector<TestCase> found = discover_suite(suite);
    if (found.empty()) {
      std::printf("suite %s: no tests in %s\n", suite.name.c_str(), suite.dir.c_str());
      continue;
    }
    present_suites.insert(suite.name);
    for (TestCase& c : found) {
      discovered.insert(c.name);
      if (options.filter && !std::regex_search(c.name, *options.filter)) continue;
      cases.push_back(std::move(c));
    }
  }
  if (options.list) {
    for (const TestCase& c : cases) std::printf("%s\n", c.name.c_str());
    return 0;
  }

  auto start = Clock::now();
  std::vector<CaseResult> results = run_all(cases, options);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Entries for tests that no longer exist in a suite that was run.
  std::vector<std::string> stale;
  if (!options.filter) {
    for (const auto& [test, e] : expectations) {
      Suite s;
      if (suite_of(test, options.suites, &s) && present_suites.count(s.name) &&
          !discovered.count(test)) {
        stale.push_back(test);
      }
    }
  }

  if (options.update_expectations) {
    Expectations updated = expectations;
    for (const std::string& test : stale) updated.erase(test);
    for (size_t i = 0; i < cases.size(); ++i) {
      const CaseResult& r = results[i];
      if (r.outcome != Outcome::kFail) {
        updated.erase(cases[i].name);
      } else if (!updated.count(cases[i].name)) {
        updated[cases[i].name] = {r.auto_category, r.note};
      } else if (options.refresh_notes) {
        updated[cases[i].name].note = r.note;  // the category may be hand-assigned: kept
      }
    }
    try {
      write_expectations(options.expectations_path, updated);
    } catch (const std::exception& e) {
      std::cerr << "kiln_conformance: " << e.what() << "\n";
      return 2;
    }
    std::printf("wrote %zu entries to %s\n", updated.size(), options.expectations_path.c_str());
    expectations = std::move(updated);
    stale.clear();
  }

  Tally all;
  std::map<std::string, Tally> by_suite;
  json tests = json::array();
  for (size_t i = 0; i < cases.size(); ++i) {
    const TestCase& c = cases[i];
    const CaseResult& r = results[i];
    auto it = expectations.find(c.name);
    const Expectation* expected = it == expectations.end() ? nullptr : &it->second;
    Verdict verdict = judge(r, expected);
    bool as_expected = verdict != Verdict::kUnexpectedFail && verdict != Verdict::kNowPasses;
    json entry = {{"test", c.name},
                  {"suite", c.suite},
                  {"result", r.outcome == Outcome::kPass   ? "pass"
                             : r.outcome == Outcome::kSkip ? "skip"
                                                           : "fail"},
                  {"reason", r.reason},
                  {"expected", as_expected},
                  {"seconds", std::round(r.seconds * 1000) / 1000}};
    Tally& suite = by_suite[c.suite];
    switch (verdict) {
      case Verdict::kPass:
        ++all.passed, ++suite.passed;
        break;
      case Verdict::kExpectedFail:
        entry["category"] = expected->category;
        ++all.expected_fail, ++suite.expected_fail;
        ++all.by_category[expected->category], ++suite.by_category[expected->category];
        break;
      case Verdict::kUnexpectedFail:
        entry["suggested_category"] = r.auto_category;
        ++all.failed, ++suite.failed;
        std::printf("FAIL %s: %s\n", c.name.c_str(), one_line(r.reason).c_str());
        break;
      case Verdict::kNowPasses:
        entry["reason"] = "now passes: remove from expectations";
        entry["category"] = expected->category;
        ++all.failed, ++suite.failed;
        std::printf("NOW PASSES %s: remove from expectations\n", c.name.c_str());
        break;
      case Verdict::kSkip:
        ++all.skipped, ++suite.skipped;
        break;
    }
    tests.push_back(std::move(entry));
  }
  for (const std::string& test : stale) {
    std::printf("warning: %s is listed in %s but no longer exists\n", test.c_str(),
                options.expectations_path.c_str());
  }

  auto tally_json = [](const Tally& t) {
    return json{{"passed", t.passed}, {"expected_fail", t.expected_fail},
                {"failed", t.failed}, {"skipped", t.skipped},
                {"total", t.total()}, {"expected_fail_by_category", t.by_category}};
  };
  json suites = json::object();
  for (const auto& [name, t] : by_suite) {
    suites[name] = tally_json(t);
    std::printf(
        "suite %-24s %5d passed, %5d expected failures, %4d failed, %3d skipped "
        "(%d tests)\n",
        name.c_str(), t.passed, t.expected_fail, t.failed, t.skipped, t.total());
  }
  if (!options.report_path.empty()) {
    json report = {{"kiln_version", version_string()},
                   {"backend", options.run.device == DeviceType::kGPU ? "cuda" : "cpu"},
                   {"filter", options.filter_text},
                   {"seconds", std::round(seconds * 10) / 10},
                   {"summary", tally_json(all)},
                   {"suites", suites},
                   {"tests", tests}};
    write_report(options.report_path, report);
  }

  std::string breakdown;
  for (const std::string& category : categories()) {
    auto it = all.by_category.find(category);
    breakdown += (breakdown.empty() ? "" : ", ") + category + " " +
                 std::to_string(it == all.by_category.end() ? 0 : it->second);
  }
  std::printf("expected failures by category: %s; not runnable here: %d (%.0f s)\n",
              breakdown.c_str(), all.skipped, seconds);
  std::printf("%d passed, %d failed, %d skipped\n", all.passed, all.failed,
              all.expected_fail + all.skipped);
  return all.failed == 0 ? 0 : 1;
}

// BLAS and OpenMP thread pools start when the library loads; one thread per case is right when
// cases run in parallel (and keeps fork from inheriting a pool). Set the variables before they
// are read by running this program again with them.
void single_threaded_libraries(char** argv) {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  if (!std::getenv("OMP_NUM_THREADS")) setenv("OMP_NUM_THREADS", "1", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
}

}  // namespace
}  // namespace kiln::conformance

int main(int argc, char** argv) {
  kiln::conformance::single_threaded_libraries(argv);
  return kiln::conformance::run(argc, argv);
}
