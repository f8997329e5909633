#include "exec_timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <numeric>
#include <sstream>

namespace kiln::cli {
namespace {

// Numbers as trtexec prints them: an ostream's default format (6 significant digits).
std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "0";  // JSON has no infinities; timings never are
  char text[40];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

std::string percentage_label(double percentage) {
  return "percentile(" + number(percentage) + "%)";
}

// The statistic of one metric over all traces.
template <typename Metric>
TimingStats stats_of(const std::vector<InferenceTrace>& traces, Metric metric,
                     const std::vector<double>& percentages) {
  std::vector<double> values;
  values.reserve(traces.size());
  for (const InferenceTrace& trace : traces) values.push_back(metric(trace));
  return timing_stats(std::move(values), percentages);
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

void print_explanations(bool cpu) {
  std::printf(
      "\n=== Explanations of the performance metrics ===\n"
      "Total Host Walltime: the host time from the start of the first measured query (its H2D\n"
      "  copy) to the end of the last one (its D2H copy).\n"
      "%s"
      "Total GPU Compute Time: the sum of the GPU Compute Times of all queries; with several\n"
      "  streams it can exceed the walltime.\n"
      "Throughput: the number of queries divided by the Total Host Walltime.\n"
      "Enqueue Time: the host time of the enqueue call for one query (of the CUDA graph launch\n"
      "  with --useCudaGraph; of the whole synchronous run for CPU engines).\n"
      "H2D Latency: the time to copy one query's inputs to the device (0 without transfers).\n"
      "D2H Latency: the time to copy one query's outputs back to the host (0 without transfers).\n"
      "Latency: the sum of H2D Latency, GPU Compute Time and D2H Latency: the latency of one\n"
      "  query.\n",
      cpu ? "GPU Compute Time: for a CPU engine, the host time of one synchronous run.\n"
          : "GPU Compute Time: the GPU time of one query's compute, between CUDA events around\n"
            "  its enqueue (so without time spent waiting in the stream's queue).\n");
}

}  // namespace

TimingStats timing_stats(std::vector<double> values, const std::vector<double>& percentages) {
  TimingStats stats;
  stats.percentiles.assign(percentages.size(), 0);
  if (values.empty()) return stats;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  stats.min = values.front();
  stats.max = values.back();
  stats.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(n);
  stats.median = median_of(values);
  for (size_t i = 0; i < percentages.size(); ++i) {
    const int64_t excluded = int64_t((1 - percentages[i] / 100) * double(n));
    stats.percentiles[i] = values[size_t(std::max<int64_t>(int64_t(n) - 1 - excluded, 0))];
  }
  double squares = 0;
  for (double value : values) squares += (value - stats.mean) * (value - stats.mean);
  const double deviation = std::sqrt(squares / double(n));
  stats.coefficient_of_variation = stats.mean > 0 ? deviation / stats.mean * 100 : 0;
  return stats;
}

std::string format_stats(const TimingStats& stats, const std::vector<double>& percentages) {
  std::string text = "min = " + number(stats.min) + " ms, max = " + number(stats.max) +
                     " ms, mean = " + number(stats.mean) + " ms, median = " + number(stats.median) +
                     " ms";
  for (size_t i = 0; i < percentages.size(); ++i) {
    text += ", " + percentage_label(percentages[i]) + " = " + number(stats.percentiles[i]) + " ms";
  }
  return text;
}

void print_performance_report(const std::vector<InferenceTrace>& traces, size_t warmup_queries,
                              double warmup_ms, const ReportOptions& options) {
  const std::vector<double>& pct = options.percentages;
  double first_start = 0, last_end = 0;
  if (!traces.empty()) {
    first_start = traces.front().h2d_start;
    last_end = traces.front().d2h_end;
    for (const InferenceTrace& trace : traces) {
      first_start = std::min(first_start, trace.h2d_start);
      last_end = std::max(last_end, trace.d2h_end);
    }
  }
  const double walltime_ms = last_end - first_start;

  std::printf("Warmup completed %zu queries over %s ms\n", warmup_queries,
              number(warmup_ms).c_str());
  std::printf("Timing trace has %zu queries over %s s\n", traces.size(),
              number(walltime_ms / 1000).c_str());
  if (options.verbose && options.average_runs > 0 && traces.size() >= options.average_runs) {
    std::printf("\n=== Trace details ===\nTrace averages of %llu runs:\n",
                static_cast<unsigned long long>(options.average_runs));
    const size_t group = size_t(options.average_runs);
    for (size_t start = 0; start + group <= traces.size(); start += group) {
      double compute = 0, latency = 0, enqueue = 0;
      for (size_t i = start; i < start + group; ++i) {
        compute += traces[i].compute();
        latency += traces[i].latency();
        enqueue += traces[i].enqueue();
      }
      std::printf(
          "Average on %zu runs - GPU latency: %s ms - Host latency: %s ms (enqueue %s ms)\n", group,
          number(compute / double(group)).c_str(), number(latency / double(group)).c_str(),
          number(enqueue / double(group)).c_str());
    }
  }

  const TimingStats latency = stats_of(
      traces, [](const auto& t) { return t.latency(); }, pct);
  const TimingStats enqueue = stats_of(
      traces, [](const auto& t) { return t.enqueue(); }, pct);
  const TimingStats h2d = stats_of(
      traces, [](const auto& t) { return t.h2d(); }, pct);
  const TimingStats compute = stats_of(
      traces, [](const auto& t) { return t.compute(); }, pct);
  const TimingStats d2h = stats_of(
      traces, [](const auto& t) { return t.d2h(); }, pct);
  double total_compute_ms = 0;
  for (const InferenceTrace& trace : traces) total_compute_ms += trace.compute();
  const double throughput = walltime_ms > 0 ? double(traces.size()) / walltime_ms * 1000 : 0;

  std::printf("\n=== Performance summary ===\n");
  std::printf("Throughput: %s qps\n", number(throughput).c_str());
  std::printf("Latency: %s\n", format_stats(latency, pct).c_str());
  std::printf("Enqueue Time: %s\n", format_stats(enqueue, pct).c_str());
  std::printf("H2D Latency: %s\n", format_stats(h2d, pct).c_str());
  std::printf("GPU Compute Time: %s\n", format_stats(compute, pct).c_str());
  std::printf("D2H Latency: %s\n", format_stats(d2h, pct).c_str());
  std::printf("Total Host Walltime: %s s\n", number(walltime_ms / 1000).c_str());
  std::printf("Total GPU Compute Time: %s s\n", number(total_compute_ms / 1000).c_str());

  if (options.cpu) {
    std::printf(
        "* CPU engine: the times are host times of synchronous runs (GPU Compute Time is the\n"
        "  CPU's compute time, Enqueue Time the whole run); there are no host-device copies,\n"
        "  so H2D and D2H Latency are 0.\n");
  } else {
    if (!options.data_transfers) {
      std::printf("* --noDataTransfers: no inputs or outputs were copied; H2D and D2H are 0.\n");
    }
    if (options.streams == 1 && enqueue.median >= compute.median && !traces.empty()) {
      std::printf(
          "* Throughput may be bound by Enqueue Time rather than GPU Compute and the GPU may be "
          "under-utilized.\n  If not already in use, --useCudaGraph (capture the enqueue in a "
          "CUDA graph) may increase the throughput.\n");
    }
    if (options.data_transfers && h2d.median >= compute.median && !traces.empty()) {
      std::printf(
          "* Throughput may be bound by host-to-device transfers for the inputs rather than GPU "
          "Compute.\n  Add --noDataTransfers to measure without data transfers.\n");
    }
    if (options.data_transfers && d2h.median >= compute.median && !traces.empty()) {
      std::printf(
          "* Throughput may be bound by device-to-host transfers for the outputs rather than "
          "GPU Compute.\n  Add --noDataTransfers to measure without data transfers.\n");
    }
  }
  if (compute.coefficient_of_variation > 1.0) {
    std::printf("* %s compute time is unstable, with coefficient of variance = %s%%.\n",
                options.cpu ? "CPU" : "GPU", number(compute.coefficient_of_variation).c_str());
  }
  if (options.verbose) {
    print_explanations(options.cpu);
  } else {
    std::printf("Explanations of the performance metrics are printed with --verbose.\n");
  }
}

std::string traces_json(const std::vector<InferenceTrace>& traces) {
  std::string out = "[\n";
  const char* separator = "  ";
  for (const InferenceTrace& t : traces) {
    const std::pair<const char*, double> fields[] = {
        {"startEnqMs", t.enqueue_start},
        {"endEnqMs", t.enqueue_end},
        {"startH2dMs", t.h2d_start},
        {"endH2dMs", t.h2d_end},
        {"startComputeMs", t.compute_start},
        {"endComputeMs", t.compute_end},
        {"startD2hMs", t.d2h_start},
        {"endD2hMs", t.d2h_end},
        {"h2dMs", t.h2d()},
        {"computeMs", t.compute()},
        {"d2hMs", t.d2h()},
        {"latencyMs", t.latency()},
        {"endToEndMs", t.end_to_end()},
    };
    out += separator;
    out += "{ ";
    for (const auto& [name, value] : fields) {
      out += std::string("\"") + name + "\" : " + json_number(value) + ", ";
    }
    out += "\"stream\" : " + std::to_string(t.stream) + " }\n";
    separator = ", ";
  }
  out += "]\n";
  return out;
}

double LayerProfiler::Layer::total() const {
  return std::accumulate(per_run.begin(), per_run.end(), 0.0);
}

void LayerProfiler::report_layer_time(const std::string& layer_name, float milliseconds) {
  if (runs_ == 0) runs_ = 1;  // reported without begin_run: count it as one run
  auto [it, added] = index_.emplace(layer_name, layers_.size());
  if (added) layers_.push_back(Layer{layer_name, {}});
  Layer& layer = layers_[it->second];
  if (layer.per_run.size() < runs_) layer.per_run.resize(size_t(runs_), 0.0);
  layer.per_run[size_t(runs_) - 1] += milliseconds;  // a name met twice in one run adds up
}

namespace {

struct ProfileRow {
  std::string name;
  double total_ms, average_ms, median_ms, percentage;
};

// Rows sorted by total time (longest first; ties keep the order the layers ran in).
std::vector<ProfileRow> profile_rows(const LayerProfiler& profiler, ProfileRow* total_row) {
  const uint64_t runs = std::max<uint64_t>(profiler.runs(), 1);
  double total = 0;
  std::vector<double> per_run_total(size_t(runs), 0.0);
  for (const auto& layer : profiler.layers()) {
    total += layer.total();
    for (size_t r = 0; r < layer.per_run.size() && r < per_run_total.size(); ++r) {
      per_run_total[r] += layer.per_run[r];
    }
  }
  std::vector<ProfileRow> rows;
  for (const auto& layer : profiler.layers()) {
    std::vector<double> per_run = layer.per_run;
    per_run.resize(size_t(runs), 0.0);  // runs where the layer did not run took no time
    const double time = layer.total();
    rows.push_back({layer.name, time, time / double(runs), median_of(per_run),
                    total > 0 ? time / total * 100 : 0});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) {
    return a.total_ms > b.total_ms;
  });
  if (total_row) {
    *total_row = {"Total", total, total / double(runs), median_of(per_run_total),
                  total > 0 ? 100.0 : 0.0};
  }
  return rows;
}

}  // namespace

void print_layer_profile(const LayerProfiler& profiler, bool cpu) {
  ProfileRow total;
  const std::vector<ProfileRow> rows = profile_rows(profiler, &total);
  std::ostringstream out;
  out << "\n=== Profile (" << profiler.runs() << " iterations, " << (cpu ? "host" : "GPU")
      << " time per layer, longest first) ===\n";
  out << "   Time(ms)     Avg.(ms)   Median(ms)   Time(%)   Layer\n";
  auto row = [&](const ProfileRow& r) {
    out << std::fixed << std::setw(11) << std::setprecision(2) << r.total_ms << std::setw(13)
        << std::setprecision(4) << r.average_ms << std::setw(13) << r.median_ms << std::setw(10)
        << std::setprecision(1) << r.percentage << "   " << r.name << "\n";
  };
  for (const ProfileRow& r : rows) row(r);
  row(total);
  std::printf("%s", out.str().c_str());
}

std::string layer_profile_json(const LayerProfiler& profiler) {
  const std::vector<ProfileRow> rows = profile_rows(profiler, nullptr);
  std::string out = "[\n  { \"count\" : " + std::to_string(profiler.runs()) + " }\n";
  for (const ProfileRow& r : rows) {
    out += ", { \"name\" : " + json_string(r.name) + ", \"timeMs\" : " + json_number(r.total_ms) +
           ", \"averageMs\" : " + json_number(r.average_ms) +
           ", \"medianMs\" : " + json_number(r.median_ms) +
           ", \"percentage\" : " + json_number(r.percentage) + " }\n";
  }
  out += "]\n";
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        } else {
          out += char(c);  // UTF-8 passes through
        }
    }
  }
  return out + "\"";
}

}  // namespace kiln::cli
