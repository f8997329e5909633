// NonZero: the indices of the non-zero elements, as a [rank, count] int64 tensor (row-major
// order, as numpy's nonzero). Its extent `count` depends on the data: the first op that
// exercises kiln's data-dependent shapes.
#include "ops/op.h"

namespace kiln::ops {
namespace {

KILN_REGISTER_OP(OpDef{
    .name = "NonZero",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = [](InferContext& ctx) { ctx.set_output_data_dependent(0, DataType::kInt64, 2); },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          const int64_t rank = int64_t(x.rank());
          std::vector<int64_t> hits;
          for (int64_t i = 0; i < x.numel(); ++i) {
            if (x.as_double(i) != 0.0) hits.push_back(i);
          }
          // A scalar is treated as shape [1] (onnxruntime and the ONNX reference agree).
          const int64_t rows = std::max<int64_t>(rank, 1);
          Tensor& out = ctx.allocate_output(0, DataType::kInt64, {rows, int64_t(hits.size())});
          Dims strides = contiguous_strides(x.shape());
          for (size_t k = 0; k < hits.size(); ++k) {
            int64_t rest = hits[k];
            for (int64_t d = 0; d < rank; ++d) {
              out.data<int64_t>()[d * int64_t(hits.size()) + int64_t(k)] =
                  rest / strides[size_t(d)];
              rest %= strides[size_t(d)];
            }
            if (rank == 0) out.data<int64_t>()[k] = 0;
          }
        },
});

}  // namespace
}  // namespace kiln::ops
