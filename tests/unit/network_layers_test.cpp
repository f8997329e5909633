// Layers of the network API beyond the MLP: convolution, pooling, deconvolution, slice,
// concatenation, reduce, normalization, resize, cast, select — each on values small enough
// to compute by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/kiln.h"

namespace kiln {
namespace {

// Builds a static-shape network with one input "x" and runs it on `x`, returning output 0.
std::vector<float> run_network(NetworkDefinition& net, const std::vector<float>& x,
                               Dims* out_dims = nullptr) {
  StderrLogger logger(Logger::Severity::kError);
  auto engine = Builder(logger).build_engine(net, BuilderConfig{});
  auto ctx = engine->create_execution_context();
  const std::string out = net.output(0)->name();
  Dims dims = ctx->tensor_shape(out);
  if (out_dims) *out_dims = dims;
  std::vector<float> y(size_t(volume(dims)), NAN);
  ctx->set_tensor_address("x", const_cast<float*>(x.data()));
  ctx->set_tensor_address(out, y.data());
  ctx->execute();
  return y;
}

TEST(NetworkLayers, ConvolutionWithStridePaddingAndBias) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 1, 3, 3});
  std::vector<float> k{1, 0, 0, -1}, b{0.5f};
  ILayer* conv = net.add_convolution(*x, 1, {2, 2}, Weights{DataType::kFloat32, k.data(), 4},
                                     Weights{DataType::kFloat32, b.data(), 1});
  conv->set_stride({2, 2});
  conv->set_padding({1, 1}, {0, 0});
  net.mark_output(*conv->output(0));
  // padded input (zeros on top/left): out[i][j] = p[2i][2j] - p[2i+1][2j+1] + 0.5
  std::vector<float> xs{1, 2, 3, 4, 5, 6, 7, 8, 9};
  Dims dims;
  auto y = run_network(net, xs, &dims);
  EXPECT_EQ(dims, (Dims{1, 1, 2, 2}));
  EXPECT_EQ(y, (std::vector<float>{0 - 1 + 0.5f, 0 - 3 + 0.5f, 0 - 7 + 0.5f, 5 - 9 + 0.5f}));
}

TEST(NetworkLayers, PoolingAndDeconvolution) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 1, 4, 4});
  ILayer* pool = net.add_pooling(*x, PoolingType::kMAX, {2, 2});
  pool->set_stride({2, 2});
  std::vector<float> k{1, 1, 1, 1};
  ILayer* deconv =
      net.add_deconvolution(*pool->output(0), 1, {2, 2}, Weights{DataType::kFloat32, k.data(), 4});
  deconv->set_stride({2, 2});
  net.mark_output(*deconv->output(0));
  std::vector<float> xs(16);
  for (int i = 0; i < 16; ++i) xs[size_t(i)] = float(i);
  Dims dims;
  auto y = run_network(net, xs, &dims);
  // max of each 2x2 block (5, 7, 13, 15), spread back over the block
  EXPECT_EQ(dims, (Dims{1, 1, 4, 4}));
  EXPECT_EQ(y, (std::vector<float>{5, 5, 7, 7, 5, 5, 7, 7, 13, 13, 15, 15, 13, 13, 15, 15}));
}

TEST(NetworkLayers, SliceConcatReduce) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {2, 3});
  ILayer* tail = net.add_slice(*x, {0, 1}, {2, 2}, {1, 1});   // columns 1..2
  ILayer* rev = net.add_slice(*x, {1, 2}, {2, 3}, {-1, -1});  // rows and columns reversed
  ILayer* cat = net.add_concatenation({tail->output(0), rev->output(0)}, 1);  // [2, 5]
  ILayer* sum = net.add_reduce(*cat->output(0), ReduceOperation::kSUM, {1}, false);
  net.mark_output(*sum->output(0));
  std::vector<float> xs{1, 2, 3, 4, 5, 6};
  // row 0: 2+3 + (6+5+4) = 20; row 1: 5+6 + (3+2+1) = 17
  EXPECT_EQ(run_network(net, xs), (std::vector<float>{20, 17}));
}

TEST(NetworkLayers, LayerNormalization) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 4});
  std::vector<float> g{1, 1, 2, 2}, b{0, 0, 0, 1};
  ILayer* gl = net.add_constant({4}, Weights{DataType::kFloat32, g.data(), 4});
  ILayer* bl = net.add_constant({4}, Weights{DataType::kFloat32, b.data(), 4});
  ILayer* ln = net.add_normalization(*x, *gl->output(0), *bl->output(0), NormalizationType::kLAYER,
                                     -1, 0.0f);
  net.mark_output(*ln->output(0));
  // x = 1,2,3,4: mean 2.5, variance 1.25
  double s = 1 / std::sqrt(1.25);
  auto y = run_network(net, {1, 2, 3, 4});
  std::vector<double> want{-1.5 * s, -0.5 * s, 2 * 0.5 * s, 2 * 1.5 * s + 1};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(y[i], want[i], 1e-6);
}

TEST(NetworkLayers, ResizeCastSelect) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 1, 1, 2});
  ILayer* up = net.add_resize(*x, ResizeMode::kNEAREST, {1, 1, 2, 2});  // [1,1,2,4]
  ILayer* as_int = net.add_cast(*up->output(0), DataType::kInt32);
  ILayer* back = net.add_cast(*as_int->output(0), DataType::kFloat32);  // truncates toward 0
  float zero = 0;
  ILayer* z = net.add_constant({1}, Weights{DataType::kFloat32, &zero, 1});
  ILayer* positive =
      net.add_elementwise(*back->output(0), *z->output(0), ElementWiseOperation::kGREATER);
  ILayer* neg = net.add_unary(*back->output(0), UnaryOperation::kNEG);
  ILayer* abs = net.add_select(*positive->output(0), *back->output(0), *neg->output(0));
  net.mark_output(*abs->output(0));
  Dims dims;
  auto y = run_network(net, {2.7f, -1.5f}, &dims);
  EXPECT_EQ(dims, (Dims{1, 1, 2, 4}));
  EXPECT_EQ(y, (std::vector<float>{2, 2, 1, 1, 2, 2, 1, 1}));
}

TEST(NetworkLayers, UnknownLayerAndBadWeights) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 2});
  EXPECT_THROW(net.add_layer("NoSuchOp", {x}), Error);
  std::vector<float> w(5);
  EXPECT_THROW(net.add_convolution(*x, 2, {2, 2}, Weights{DataType::kFloat32, w.data(), 5}), Error);
  EXPECT_THROW(net.add_constant({2, 2}, Weights{DataType::kFloat32, w.data(), 5}), Error);
}

TEST(NetworkLayers, TensorDimsBeforeBuild) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {-1, 3, 8, 8});
  std::vector<float> w(4 * 3 * 3 * 3, 0.1f);
  ILayer* conv =
      net.add_convolution(*x, 4, {3, 3}, Weights{DataType::kFloat32, w.data(), int64_t(w.size())});
  EXPECT_EQ(conv->output(0)->dims(), (Dims{-1, 4, 6, 6}));
  EXPECT_EQ(conv->type(), "Conv");
}

}  // namespace
}  // namespace kiln
