// NonMaxSuppression (ONNX opset 11 semantics): per batch and class, greedily keeps the
// highest-scoring boxes, dropping each box whose IoU with an already kept box exceeds
// iou_threshold, and boxes scoring at most score_threshold (when given). The result is a
// [selected, 3] int64 tensor of (batch, class, box) triples, ordered by batch, then class, then
// decreasing score (equal scores: lower box index first). Its length depends on the data.
//
// Boxes are [y1, x1, y2, x2] corners in either order (center_point_box = 0) or
// [x_center, y_center, width, height] (center_point_box = 1). Coordinates and scores are read
// as double; max_output_boxes_per_class (default 0: nothing is selected), iou_threshold
// (default 0) and score_threshold are optional one-element inputs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

constexpr size_t kBoxes = 0, kScores = 1, kMaxOutput = 2, kIouThreshold = 3, kScoreThreshold = 4;

struct Box {
  double x_min, y_min, x_max, y_max;
  double area() const { return (x_max - x_min) * (y_max - y_min); }
};

Box read_box(const Tensor& boxes, int64_t offset, bool center_point) {
  const double a = boxes.as_double(offset), b = boxes.as_double(offset + 1);
  const double c = boxes.as_double(offset + 2), d = boxes.as_double(offset + 3);
  if (center_point) {  // [x_center, y_center, width, height]
    return Box{a - c / 2, b - d / 2, a + c / 2, b + d / 2};
  }
  // [y1, x1, y2, x2], either corner first
  return Box{std::min(b, d), std::min(a, c), std::max(b, d), std::max(a, c)};
}

// Whether the IoU of two boxes exceeds the threshold; empty intersections never suppress.
bool overlaps_too_much(const Box& p, const Box& q, double iou_threshold) {
  const double ix = std::min(p.x_max, q.x_max) - std::max(p.x_min, q.x_min);
  const double iy = std::min(p.y_max, q.y_max) - std::max(p.y_min, q.y_min);
  if (ix <= 0 || iy <= 0) return false;
  const double intersection = ix * iy;
  const double union_area = p.area() + q.area() - intersection;
  if (p.area() <= 0 || q.area() <= 0 || union_area <= 0) return false;
  return intersection / union_area > iou_threshold;
}

// A one-element optional input as a double, or `fallback` when omitted or empty.
double optional_scalar(const ComputeContext& ctx, size_t i, double fallback) {
  if (!ctx.has_input(i) || ctx.input(i).numel() == 0) return fallback;
  return ctx.input(i).as_double(0);
}

void infer_nms(InferContext& ctx) {
  const Dims& boxes = ctx.input_shape(kBoxes);
  const Dims& scores = ctx.input_shape(kScores);
  for (size_t i : {kBoxes, kScores, kIouThreshold, kScoreThreshold}) {
    if (!ctx.has_input(i)) continue;
    const DataType t = ctx.input_dtype(i);
    ctx.check(t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
                  t == DataType::kBFloat16,
              "input ", i, " has type ", to_string(t), "; a float type expected");
  }
  ctx.check(boxes.size() == 3 && boxes[2] == 4, "boxes must be [batches, boxes, 4], not ",
            to_string(boxes));
  ctx.check(scores.size() == 3 && scores[0] == boxes[0] && scores[2] == boxes[1],
            "scores must be [batches, classes, boxes] = [", boxes[0], ", classes, ", boxes[1],
            "], not ", to_string(scores));
  if (ctx.has_input(kMaxOutput)) {
    ctx.check(ctx.input_dtype(kMaxOutput) == DataType::kInt64,
              "max_output_boxes_per_class must be int64");
  }
  for (size_t i : {kMaxOutput, kIouThreshold, kScoreThreshold}) {
    if (ctx.has_input(i)) {
      ctx.check(volume(ctx.input_shape(i)) <= 1, "input ", i, " must have one element, not ",
                to_string(ctx.input_shape(i)));
    }
  }
  const int64_t center_point_box = ctx.node().attr_int("center_point_box", 0);
  ctx.check(center_point_box == 0 || center_point_box == 1, "center_point_box ", center_point_box,
            " is not 0 or 1");
  ctx.set_output_data_dependent(0, DataType::kInt64, 2);
}

void compute_nms(ComputeContext& ctx) {
  const Tensor& boxes = ctx.input(kBoxes);
  const Tensor& scores = ctx.input(kScores);
  const bool center_point = ctx.node().attr_int("center_point_box", 0) == 1;
  const int64_t batches = scores.dim(0), classes = scores.dim(1), num_boxes = scores.dim(2);
  const int64_t max_per_class = std::max<int64_t>(int64_t(optional_scalar(ctx, kMaxOutput, 0)), 0);
  const double iou_threshold = optional_scalar(ctx, kIouThreshold, 0);
  const bool has_score_threshold =
      ctx.has_input(kScoreThreshold) && ctx.input(kScoreThreshold).numel() > 0;
  const double score_threshold = optional_scalar(ctx, kScoreThreshold, 0);

  std::vector<int64_t> selected;  // (batch, class, box) triples
  for (int64_t n = 0; n < batches; ++n) {
    std::vector<Box> batch_boxes;
    for (int64_t i = 0; i < num_boxes; ++i) {
      batch_boxes.push_back(read_box(boxes, (n * num_boxes + i) * 4, center_point));
    }
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t score_offset = (n * classes + c) * num_boxes;
      std::vector<int64_t> candidates;
      for (int64_t i = 0; i < num_boxes; ++i) {
        const double score = scores.as_double(score_offset + i);
        // A NaN score cannot be ranked: such a box is never selected.
        if (std::isnan(score)) continue;
        if (!has_score_threshold || score > score_threshold) candidates.push_back(i);
      }
      // Decreasing score; the stable sort keeps lower indices first among equal scores.
      std::stable_sort(candidates.begin(), candidates.end(), [&](int64_t a, int64_t b) {
        return scores.as_double(score_offset + a) > scores.as_double(score_offset + b);
      });
      std::vector<int64_t> kept;
      for (int64_t candidate : candidates) {
        if (int64_t(kept.size()) >= max_per_class) break;
        const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](int64_t k) {
          return overlaps_too_much(batch_boxes[size_t(candidate)], batch_boxes[size_t(k)],
                                   iou_threshold);
        });
        if (suppressed) continue;
        kept.push_back(candidate);
        selected.insert(selected.end(), {n, c, candidate});
      }
    }
  }
  Tensor& out =
      ctx.allocate_output(0, DataType::kInt64, {int64_t(selected.size() / 3), int64_t(3)});
  std::copy(selected.begin(), selected.end(), out.data<int64_t>());
}

KILN_REGISTER_OP(OpDef{
    .name = "NonMaxSuppression",
    .min_inputs = 2,
    .max_inputs = 5,
    .infer = infer_nms,
    .compute = compute_nms,
});

}  // namespace
}  // namespace kiln::ops
