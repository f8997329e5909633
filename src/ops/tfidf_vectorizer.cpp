// TfIdfVectorizer (ONNX opset 9) over integer tokens: counts, in each row of X ([C] or [N, C],
// int32 or int64), the occurrences of the n-grams listed in pool_int64s and turns the counts
// into TF, IDF or TF-IDF values, one output column per n-gram (float32, [out] or [N, out]).
// String pools (pool_strings) are not supported.
//
// The pool lists the 1-grams, then the 2-grams, ... back to back; ngram_counts[k] is where the
// (k+1)-grams begin. The n-grams are numbered in pool order (all sizes, including those outside
// [min_gram_length, max_gram_length]), and ngram_indexes maps that number to an output column.
// An n-gram may skip up to max_skip_count tokens between its items (the same gap throughout);
// 1-grams are counted once, not once per gap.
#include <algorithm>
#include <map>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class Weighting { kTf, kIdf, kTfIdf };

struct TfIdfConfig {
  Weighting weighting = Weighting::kTf;
  int64_t min_gram = 1;
  int64_t max_gram = 1;
  int64_t max_skip = 0;
  // Each pool n-gram of a size in [min_gram, max_gram] and its output column.
  std::map<std::vector<int64_t>, int64_t> columns;
  int64_t output_size = 0;
  std::vector<double> weights;  // indexed by output column; empty: all 1
};

TfIdfConfig read_config(const ir::Node& node) {
  auto check = [&](bool cond, auto&&... args) {
    if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", args...);
  };
  TfIdfConfig config;
  const std::string mode = node.attr_string("mode");
  check(mode == "TF" || mode == "IDF" || mode == "TFIDF", "mode '", mode,
        "' is not TF, IDF or TFIDF");
  config.weighting = mode == "TF"    ? Weighting::kTf
                     : mode == "IDF" ? Weighting::kIdf
                                     : Weighting::kTfIdf;
  config.min_gram = node.attr_int("min_gram_length");
  config.max_gram = node.attr_int("max_gram_length");
  config.max_skip = node.attr_int("max_skip_count");
  check(config.min_gram >= 1 && config.min_gram <= config.max_gram, "min_gram_length ",
        config.min_gram, " and max_gram_length ", config.max_gram, " must satisfy 1 <= min <= max");
  check(config.max_skip >= 0, "max_skip_count ", config.max_skip, " is negative");
  check(node.attr_strings("pool_strings", {}).empty(),
        "string pools (pool_strings) are not supported");
  const std::vector<int64_t> pool = node.attr_ints("pool_int64s", {});
  const std::vector<int64_t> counts = node.attr_ints("ngram_counts");
  const std::vector<int64_t> indexes = node.attr_ints("ngram_indexes");
  check(!indexes.empty(), "ngram_indexes is empty");
  for (int64_t column : indexes) {
    check(column >= 0, "ngram_indexes has a negative entry ", column);
    config.output_size = std::max(config.output_size, column + 1);
  }
  size_t ngram_number = 0;
  for (size_t level = 0; level < counts.size(); ++level) {
    const int64_t n = int64_t(level) + 1;
    const int64_t begin = counts[level];
    const int64_t end = level + 1 < counts.size() ? counts[level + 1] : int64_t(pool.size());
    check(begin >= 0 && begin <= end && end <= int64_t(pool.size()), "ngram_counts ",
          to_string(counts), " does not split a pool of ", pool.size(), " items");
    check((end - begin) % n == 0, "the ", n, "-grams of the pool (", end - begin,
          " items) are not a whole number of ", n, "-grams");
    for (int64_t at = begin; at < end; at += n, ++ngram_number) {
      check(ngram_number < indexes.size(), "ngram_indexes has ", indexes.size(),
            " entries, fewer than the pool's n-grams");
      if (n < config.min_gram || n > config.max_gram) continue;
      // A repeated n-gram takes the column of its last occurrence, as in the ONNX reference.
      config.columns[std::vector<int64_t>(pool.begin() + at, pool.begin() + at + n)] =
          indexes[ngram_number];
    }
  }
  for (double w : node.attr_floats("weights", {})) config.weights.push_back(w);
  check(config.weights.empty() || int64_t(config.weights.size()) >= config.output_size,
        "weights has ", config.weights.size(), " values; one per output column (",
        config.output_size, ") expected");
  return config;
}

void infer_tfidf(InferContext& ctx) {
  const TfIdfConfig config = read_config(ctx.node());
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(dtype == DataType::kInt32 || dtype == DataType::kInt64, "X has type ", to_string(dtype),
            "; int32 or int64 expected (string inputs are not supported)");
  const Dims& x = ctx.input_shape(0);
  ctx.check(x.size() == 1 || x.size() == 2, "X must be [C] or [N, C], not ", to_string(x));
  ctx.set_output(0, DataType::kFloat32,
                 x.size() == 1 ? Dims{config.output_size} : Dims{x[0], config.output_size});
}

void compute_tfidf(ComputeContext& ctx) {
  const TfIdfConfig config = read_config(ctx.node());
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const int64_t rows = x.rank() == 1 ? 1 : x.dim(0);
  const int64_t row_size = x.rank() == 1 ? x.dim(0) : x.dim(1);
  const std::vector<int64_t> tokens = x.to_int64_vector();
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t* line = tokens.data() + row * row_size;
    std::vector<int64_t> counts(size_t(config.output_size), 0);
    for (int64_t gap = 1; gap <= config.max_skip + 1; ++gap) {
      // 1-grams do not depend on the gap: only the first pass counts them.
      const int64_t smallest = gap == 1 ? config.min_gram : std::max<int64_t>(config.min_gram, 2);
      for (int64_t start = 0; start < row_size; ++start) {
        for (int64_t n = smallest; n <= config.max_gram; ++n) {
          if (start + (n - 1) * gap >= row_size) break;
          std::vector<int64_t> ngram;
          for (int64_t k = 0; k < n; ++k) ngram.push_back(line[start + k * gap]);
          auto hit = config.columns.find(ngram);
          if (hit != config.columns.end()) ++counts[size_t(hit->second)];
        }
      }
    }
    for (int64_t col = 0; col < config.output_size; ++col) {
      const double count = double(counts[size_t(col)]);
      const double weight = config.weights.empty() ? 1.0 : config.weights[size_t(col)];
      double value = count;
      if (config.weighting == Weighting::kIdf) value = count > 0 ? weight : 0.0;
      if (config.weighting == Weighting::kTfIdf) value = weight * count;
      y.data<float>()[row * config.output_size + col] = float(value);
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "TfIdfVectorizer",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_tfidf,
    .compute = compute_tfidf,
});

}  // namespace
}  // namespace kiln::ops
