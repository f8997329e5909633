// What `kiln exec` measures and how it reports it, as trtexec does: per-iteration traces, the
// performance summary (Throughput, Latency, Enqueue Time, H2D Latency, GPU Compute Time, D2H
// Latency, walltimes), the per-layer profile, and their JSON exports. No CUDA here: the
// runners (exec_runner.h) fill the traces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::cli {

// One inference, in milliseconds since the measurement began. Enqueue times are host clock
// times; the others are GPU event times placed on the same timeline (for CPU engines all are
// host times, and H2D and D2H take no time).
struct InferenceTrace {
  int stream = 0;
  double enqueue_start = 0, enqueue_end = 0;
  double h2d_start = 0, h2d_end = 0;
  double compute_start = 0, compute_end = 0;
  double d2h_start = 0, d2h_end = 0;

  double enqueue() const { return enqueue_end - enqueue_start; }
  double h2d() const { return h2d_end - h2d_start; }
  double compute() const { return compute_end - compute_start; }
  double d2h() const { return d2h_end - d2h_start; }
  // trtexec's "Latency": the sum of the three, without time spent waiting between them.
  double latency() const { return h2d() + compute() + d2h(); }
  double end_to_end() const { return d2h_end - h2d_start; }
};

// The statistics trtexec prints for one metric.
struct TimingStats {
  double min = 0, max = 0, mean = 0, median = 0;
  std::vector<double> percentiles;      // one per requested percentage
  double coefficient_of_variation = 0;  // standard deviation / mean, in percent
};

// trtexec's definitions: the median of an even count is the mean of the middle two; the P%
// percentile is the value below which all but floor((1 - P/100) * n) of the n values lie.
TimingStats timing_stats(std::vector<double> values, const std::vector<double>& percentages);

// "min = 0.1 ms, max = ..., mean = ..., median = ..., percentile(90%) = ... ms, ..."
std::string format_stats(const TimingStats& stats, const std::vector<double>& percentages);

struct ReportOptions {
  bool cpu = false;            // a CPU engine: host times, no transfers
  bool data_transfers = true;  // false with --noDataTransfers
  int streams = 1;
  bool verbose = false;  // trace averages and the metrics' explanations
  uint64_t average_runs = 10;
  std::vector<double> percentages{90, 95, 99};
};

// Prints trtexec's report: the warm-up and trace counts, with --verbose the averages of every
// `average_runs` consecutive runs, then "=== Performance summary ===" and its lines.
// `traces` are the measured runs, in the order they started.
void print_performance_report(const std::vector<InferenceTrace>& traces, size_t warmup_queries,
                              double warmup_ms, const ReportOptions& options);

// The traces as trtexec's --exportTimes writes them: a JSON array with one object per
// inference (startEnqMs, endEnqMs, startH2dMs, ..., latencyMs, endToEndMs, stream).
std::string traces_json(const std::vector<InferenceTrace>& traces);

// Collects per-layer times over several profiled runs (call begin_run before each).
class LayerProfiler : public Profiler {
 public:
  void begin_run() { ++runs_; }
  void report_layer_time(const std::string& layer_name, float milliseconds) override;

  struct Layer {
    std::string name;
    std::vector<double> per_run;  // milliseconds in each run (index = run - 1)
    double total() const;
  };
  uint64_t runs() const { return runs_; }
  // In the order the layers first ran.
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  uint64_t runs_ = 0;
  std::vector<Layer> layers_;
  std::map<std::string, size_t> index_;
};

// The table trtexec's --dumpProfile prints (Time(ms), Avg.(ms), Median(ms), Time(%), Layer),
// sorted by total time, longest first, with a Total row.
void print_layer_profile(const LayerProfiler& profiler, bool cpu);

// trtexec's --exportProfile JSON: [{"count": runs}, {"name", "timeMs", "averageMs",
// "medianMs", "percentage"}, ...], layers in the table's order.
std::string layer_profile_json(const LayerProfiler& profiler);

// `text` as a JSON string literal, quotes included.
std::string json_string(const std::string& text);

}  // namespace kiln::cli
