// TfIdfVectorizer over integer tokens, as the CPU backend computes it: per row of X ([C] or
// [N, C]) the occurrences of the pool's n-grams of size in [min_gram_length, max_gram_length],
// each n-gram's items max_skip_count + 1 or fewer tokens apart (the same gap throughout,
// 1-grams counted once), weighted as TF (counts), IDF (weight where the count is non-zero) or
// TFIDF (weight * count) into float32 columns.
//
// The node's pool becomes, on the host, one table per n-gram size, sorted lexicographically,
// uploaded once per context. One thread per (row, start, gap, size) looks its n-gram up by
// binary search and counts a hit with an atomic add into the output (exact: counts are small
// integers); a second pass applies the weighting.
#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

enum class Weighting { kTf, kIdf, kTfIdf };

constexpr int kMaxGram = 8;

// The tables as parsed on the host.
struct TfIdfTables {
  Weighting weighting = Weighting::kTf;
  int64_t min_gram = 1, max_gram = 1, max_skip = 0;
  int64_t output_size = 0;
  // Per size n (index n - 1): the n-grams back to back (sorted) and their columns.
  std::vector<std::vector<int64_t>> grams;
  std::vector<std::vector<int64_t>> columns;
  std::vector<float> weights;  // per column; empty: all 1
};

TfIdfTables parse_tables(const ir::Node& node) {
  auto check = [&](bool cond, auto&&... args) {
    if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  TfIdfTables t;
  const std::string mode = node.attr_string("mode");
  check(mode == "TF" || mode == "IDF" || mode == "TFIDF", "mode '", mode,
        "' is not TF, IDF or TFIDF");
  t.weighting = mode == "TF" ? Weighting::kTf : mode == "IDF" ? Weighting::kIdf : Weighting::kTfIdf;
  t.min_gram = node.attr_int("min_gram_length");
  t.max_gram = node.attr_int("max_gram_length");
  t.max_skip = node.attr_int("max_skip_count");
  check(t.min_gram >= 1 && t.min_gram <= t.max_gram, "min_gram_length ", t.min_gram,
        " and max_gram_length ", t.max_gram, " must satisfy 1 <= min <= max");
  check(t.max_skip >= 0, "max_skip_count ", t.max_skip, " is negative");
  const std::vector<int64_t> pool = node.attr_ints("pool_int64s", {});
  const std::vector<int64_t> counts = node.attr_ints("ngram_counts");
  const std::vector<int64_t> indexes = node.attr_ints("ngram_indexes");
  check(!indexes.empty(), "ngram_indexes is empty");
  for (int64_t column : indexes) {
    check(column >= 0, "ngram_indexes has a negative entry ", column);
    t.output_size = std::max(t.output_size, column + 1);
  }
  std::map<std::vector<int64_t>, int64_t> found;  // ordered: sizes apart, lexicographic within
  size_t number = 0;
  for (size_t level = 0; level < counts.size(); ++level) {
    const int64_t n = int64_t(level) + 1;
    const int64_t begin = counts[level];
    const int64_t end = level + 1 < counts.size() ? counts[level + 1] : int64_t(pool.size());
    check(begin >= 0 && begin <= end && end <= int64_t(pool.size()), "ngram_counts ",
          to_string(counts), " does not split a pool of ", pool.size(), " items");
    check((end - begin) % n == 0, "the ", n, "-grams of the pool are not whole");
    for (int64_t at = begin; at < end; at += n, ++number) {
      check(number < indexes.size(), "ngram_indexes has fewer entries than the pool's n-grams");
      if (n < t.min_gram || n > t.max_gram) continue;
      found[std::vector<int64_t>(pool.begin() + at, pool.begin() + at + n)] = indexes[number];
    }
  }
  t.grams.resize(size_t(t.max_gram));
  t.columns.resize(size_t(t.max_gram));
  for (const auto& [gram, column] : found) {
    const size_t level = gram.size() - 1;
    t.grams[level].insert(t.grams[level].end(), gram.begin(), gram.end());
    t.columns[level].push_back(column);
  }
  for (double w : node.attr_floats("weights", {})) t.weights.push_back(float(w));
  check(t.weights.empty() || int64_t(t.weights.size()) >= t.output_size, "weights has ",
        t.weights.size(), " values; one per output column (", t.output_size, ") expected");
  return t;
}

// Device view of the tables: for size n, entries [offset[n-1], offset[n-1] + count[n-1]) of
// `columns` and n times as many items of `grams` from gram_offset[n-1].
struct DeviceTables {
  const int64_t* grams = nullptr;
  const int64_t* columns = nullptr;
  const float* weights = nullptr;
  int64_t count[kMaxGram] = {};
  int64_t offset[kMaxGram] = {};
  int64_t gram_offset[kMaxGram] = {};
};

struct TfIdfState {
  DeviceScratch memory;
  std::vector<int64_t> host;  // the upload's source, kept alive for the asynchronous copy
  bool uploaded = false;
  DeviceTables tables;
  TfIdfTables parsed;
};

template <typename T>
__global__ void tfidf_count_kernel(const T* x, int64_t rows, int64_t row_size, int64_t min_gram,
                                   int64_t max_gram, int64_t max_skip, DeviceTables tables,
                                   int64_t output_size, float* y) {
  const int64_t sizes = max_gram - min_gram + 1;
  const int64_t total = rows * row_size * (max_skip + 1) * sizes;
  KILN_GRID_STRIDE_LOOP(t, total) {
    const int64_t n = min_gram + t % sizes;
    const int64_t gap = 1 + (t / sizes) % (max_skip + 1);
    const int64_t start = (t / (sizes * (max_skip + 1))) % row_size;
    const int64_t row = t / (sizes * (max_skip + 1) * row_size);
    if (n == 1 && gap > 1) continue;  // 1-grams count once
    if (start + (n - 1) * gap >= row_size) continue;
    const T* line = x + row * row_size;
    const int64_t* grams = tables.grams + tables.gram_offset[n - 1];
    int64_t lo = 0, hi = tables.count[n - 1];
    while (lo < hi) {  // the first table entry not below the n-gram
      const int64_t mid = (lo + hi) / 2;
      int order = 0;
      for (int64_t k = 0; k < n && order == 0; ++k) {
        const int64_t token = int64_t(line[start + k * gap]);
        const int64_t entry = grams[mid * n + k];
        order = entry < token ? -1 : (entry > token ? 1 : 0);
      }
      if (order < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo >= tables.count[n - 1]) continue;
    bool equal = true;
    for (int64_t k = 0; k < n && equal; ++k) {
      equal = grams[lo * n + k] == int64_t(line[start + k * gap]);
    }
    if (equal) {
      atomicAdd(&y[row * output_size + tables.columns[tables.offset[n - 1] + lo]], 1.0f);
    }
  }
}

__global__ void tfidf_weight_kernel(float* y, int64_t rows, int64_t output_size,
                                    const float* weights, int mode) {
  KILN_GRID_STRIDE_LOOP(i, rows * output_size) {
    const float count = y[i];
    const float weight = weights ? weights[i % output_size] : 1.0f;
    if (mode == int(Weighting::kIdf)) y[i] = count > 0 ? weight : 0.0f;
    if (mode == int(Weighting::kTfIdf)) y[i] = __fmul_rn(weight, count);
  }
}

void upload(RunContext& rc, TfIdfState& s) {
  s.parsed = parse_tables(rc.node);
  const TfIdfTables& p = s.parsed;
  std::vector<int64_t>& host = s.host;
  host.clear();
  DeviceTables& d = s.tables;
  int64_t entries = 0;
  for (size_t level = 0; level < p.grams.size(); ++level) {
    d.count[level] = int64_t(p.columns[level].size());
    d.gram_offset[level] = int64_t(host.size());
    host.insert(host.end(), p.grams[level].begin(), p.grams[level].end());
  }
  const int64_t columns_at = int64_t(host.size());
  for (size_t level = 0; level < p.columns.size(); ++level) {
    d.offset[level] = entries;
    entries += int64_t(p.columns[level].size());
    host.insert(host.end(), p.columns[level].begin(), p.columns[level].end());
  }
  const int64_t weights_at = int64_t(host.size());
  // The weights as float bits, two per int64 slot.
  const size_t weight_slots = (p.weights.size() + 1) / 2;
  host.resize(host.size() + weight_slots, 0);
  if (!p.weights.empty()) {
    std::memcpy(host.data() + weights_at, p.weights.data(), p.weights.size() * sizeof(float));
  }
  const size_t bytes = std::max<size_t>(host.size(), 1) * sizeof(int64_t);
  auto* base = reinterpret_cast<int64_t*>(s.memory.get(rc.node, bytes));
  if (!host.empty()) {
    check_cuda(cudaMemcpyAsync(base, host.data(), host.size() * sizeof(int64_t),
                               cudaMemcpyHostToDevice, rc.stream),
               rc.node, "uploading the n-gram tables");
  }
  d.grams = base;
  d.columns = base + columns_at;
  d.weights = p.weights.empty() ? nullptr : reinterpret_cast<const float*>(base + weights_at);
  s.uploaded = true;
}

void run_tfidf(RunContext& rc) {
  auto& s = node_state<TfIdfState>(rc);
  if (!s.uploaded) upload(rc, s);
  const TfIdfTables& p = s.parsed;
  const DeviceTensor& x = rc.input(0);
  DeviceTensor& y = rc.outputs[0];
  const int64_t rows = x.shape.size() == 1 ? 1 : x.shape[0];
  const int64_t row_size = x.shape.back();
  check_cuda(cudaMemsetAsync(y.data, 0, y.nbytes(), rc.stream), rc.node, "clearing the output");
  const int64_t total = rows * row_size * (p.max_skip + 1) * (p.max_gram - p.min_gram + 1);
  if (total > 0) {
    auto launch = [&](auto tag) {
      using T = typename decltype(tag)::type;
      tfidf_count_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
          x.as<T>(), rows, row_size, p.min_gram, p.max_gram, p.max_skip, s.tables, p.output_size,
          y.as<float>());
    };
    if (x.dtype == DataType::kInt32) {
      launch(Tag<int32_t>{});
    } else {
      launch(Tag<int64_t>{});
    }
    check_cuda(cudaGetLastError(), rc.node, "launching the n-gram counts");
  }
  if (p.weighting != Weighting::kTf && y.numel() > 0) {
    tfidf_weight_kernel<<<grid_for(y.numel()), kBlock, 0, rc.stream>>>(
        y.as<float>(), rows, p.output_size, s.tables.weights, int(p.weighting));
    check_cuda(cudaGetLastError(), rc.node, "launching the weighting");
  }
}

bool supports_tfidf(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  if (t != DataType::kInt32 && t != DataType::kInt64) return false;
  if (!q.node->attr_strings("pool_strings", {}).empty()) return false;
  const int64_t max_gram = q.node->attr_int("max_gram_length", 1);
  return max_gram >= 1 && max_gram <= kMaxGram;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "TfIdfVectorizer", "cuda_tfidf_vectorizer", {}, supports_tfidf, run_tfidf});

}  // namespace
}  // namespace kiln::cuda
