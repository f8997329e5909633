// The network definition: a model built layer by layer, as with TensorRT's
// INetworkDefinition. The ONNX parser fills a NetworkDefinition the same way.
//
//   auto network = builder.create_network();
//   ITensor* x = network->add_input("x", DataType::kFloat32, {-1, 3, 224, 224});
//   ILayer* conv = network->add_convolution(*x, 64, {7, 7}, weights, bias);
//   conv->set_stride({2, 2}); ...
//   network->mark_output(*conv->output(0));
//
// ITensor and ILayer objects are owned by the network and live as long as it does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/types.h"

namespace kiln {

namespace detail {
struct NetworkImpl;
}

// Host weights for a constant, convolution or matrix layer. The network copies them.
struct Weights {
  DataType type = DataType::kFloat32;
  const void* values = nullptr;
  int64_t count = 0;
};

enum class ElementWiseOperation {
  kSUM,
  kSUB,
  kPROD,
  kDIV,
  kPOW,
  kMAX,
  kMIN,
  kFLOOR_DIV,
  kEQUAL,
  kLESS,
  kGREATER,
  kAND,
  kOR,
  kXOR,
};

enum class UnaryOperation {
  kEXP,
  kLOG,
  kSQRT,
  kRECIP,
  kABS,
  kNEG,
  kSIN,
  kCOS,
  kTAN,
  kSINH,
  kCOSH,
  kASIN,
  kACOS,
  kATAN,
  kASINH,
  kACOSH,
  kATANH,
  kCEIL,
  kFLOOR,
  kERF,
  kNOT,
  kSIGN,
  kROUND,
  kISINF,
  kISNAN,
};

enum class ActivationType {
  kRELU,
  kSIGMOID,
  kTANH,
  kLEAKY_RELU,
  kELU,
  kSELU,
  kSOFTSIGN,
  kSOFTPLUS,
  kCLIP,
  kHARD_SIGMOID,
  kHARD_SWISH,
  kGELU_ERF,
  kGELU_TANH,
  kTHRESHOLDED_RELU,
};

enum class PoolingType { kMAX, kAVERAGE };
enum class ReduceOperation { kSUM, kPROD, kMAX, kMIN, kAVG };
enum class MatrixOperation { kNONE, kTRANSPOSE };
enum class ResizeMode { kNEAREST, kLINEAR, kCUBIC };
enum class NormalizationType { kLAYER, kINSTANCE, kGROUP };

class ITensor {
 public:
  const std::string& name() const;
  void set_name(const std::string& name);
  DataType type() const;
  // Declared dims; -1 for dims known only when input shapes are set (or not yet inferred).
  Dims dims() const;
  bool is_network_input() const;
  bool is_network_output() const;

 private:
  friend struct detail::NetworkImpl;
  ITensor() = default;
  void* value_ = nullptr;  // the ir::Value this handle names
  detail::NetworkImpl* network_ = nullptr;
};

class ILayer {
 public:
  // The op this layer runs ("Conv", "MatMul", ... — kiln's op set, see docs/operators.md).
  const std::string& type() const;
  const std::string& name() const;
  void set_name(const std::string& name);
  int num_inputs() const;
  int num_outputs() const;
  ITensor* input(int index) const;  // nullptr for an omitted optional input
  ITensor* output(int index) const;

  // Parameter setters (attribute names as in docs/operators.md, e.g. "strides", "group").
  // The op checks its parameters when the network is built.
  void set_int(const std::string& key, int64_t value);
  void set_float(const std::string& key, double value);
  void set_ints(const std::string& key, const std::vector<int64_t>& values);
  void set_string(const std::string& key, const std::string& value);

  // Convolution, deconvolution and pooling parameters.
  void set_stride(const Dims& stride) { set_ints("strides", stride); }
  void set_padding(const Dims& pre, const Dims& post);
  void set_dilation(const Dims& dilation) { set_ints("dilations", dilation); }
  void set_num_groups(int64_t groups) { set_int("group", groups); }

 private:
  friend struct detail::NetworkImpl;
  ILayer() = default;
  void* node_ = nullptr;  // the ir::Node this handle names
  detail::NetworkImpl* network_ = nullptr;
};

class NetworkDefinition {
 public:
  NetworkDefinition();
  ~NetworkDefinition();
  NetworkDefinition(const NetworkDefinition&) = delete;
  NetworkDefinition& operator=(const NetworkDefinition&) = delete;

  // An input; -1 dims are dynamic and need an optimization profile at build time.
  ITensor* add_input(const std::string& name, DataType type, const Dims& dims);
  void mark_output(ITensor& tensor);
  void unmark_output(ITensor& tensor);

  ILayer* add_constant(const Dims& dims, const Weights& weights);
  // Convolution over the last kernel_size.size() dims of an NCHW-style input.
  ILayer* add_convolution(ITensor& input, int64_t num_output_maps, const Dims& kernel_size,
                          const Weights& kernel, const Weights& bias = {});
  ILayer* add_deconvolution(ITensor& input, int64_t num_output_maps, const Dims& kernel_size,
                            const Weights& kernel, const Weights& bias = {});
  ILayer* add_matrix_multiply(ITensor& a, MatrixOperation op_a, ITensor& b, MatrixOperation op_b);
  ILayer* add_elementwise(ITensor& a, ITensor& b, ElementWiseOperation op);
  ILayer* add_unary(ITensor& input, UnaryOperation op);
  // alpha/beta as TensorRT defines them per activation (leaky slope, clip bounds, ...).
  ILayer* add_activation(ITensor& input, ActivationType type, float alpha = 0, float beta = 0);
  ILayer* add_pooling(ITensor& input, PoolingType type, const Dims& window);
  ILayer* add_softmax(ITensor& input, int axis = -1);
  // Reshape to `dims` (0 copies the input extent, one -1 is inferred).
  ILayer* add_shuffle(ITensor& input, const Dims& reshape_dims);
  ILayer* add_reshape(ITensor& input, ITensor& shape);
  ILayer* add_transpose(ITensor& input, const std::vector<int64_t>& permutation);
  ILayer* add_concatenation(const std::vector<ITensor*>& inputs, int axis);
  ILayer* add_slice(ITensor& input, const Dims& start, const Dims& size, const Dims& stride);
  ILayer* add_gather(ITensor& data, ITensor& indices, int axis);
  ILayer* add_reduce(ITensor& input, ReduceOperation op, const std::vector<int64_t>& axes,
                     bool keep_dims);
  // kLAYER normalizes over `axis` and after (scale and bias broadcast to those dims);
  // kINSTANCE and kGROUP per channel (dim 1; set "num_groups" on the layer for kGROUP).
  ILayer* add_normalization(ITensor& input, ITensor& scale, ITensor& bias, NormalizationType type,
                            int axis = -1, float epsilon = 1e-5f);
  ILayer* add_resize(ITensor& input, ResizeMode mode, const std::vector<float>& scales);
  ILayer* add_cast(ITensor& input, DataType to);
  ILayer* add_select(ITensor& condition, ITensor& then_input, ITensor& else_input);
  ILayer* add_shape(ITensor& input);
  ILayer* add_identity(ITensor& input);
  // Any kiln op by name with its attributes set afterwards through ILayer's setters; this is
  // how the ONNX parser adds most layers. Throws kiln::Error for an unknown op.
  ILayer* add_layer(const std::string& op, const std::vector<ITensor*>& inputs,
                    int num_outputs = 1);

  int num_inputs() const;
  int num_outputs() const;
  int num_layers() const;
  ITensor* input(int index) const;
  ITensor* output(int index) const;
  ILayer* layer(int index) const;
  // The tensor of that name, or nullptr.
  ITensor* tensor(const std::string& name) const;

  // kiln's text form of the network's graph, for debugging.
  std::string to_string() const;

  detail::NetworkImpl& impl() { return *impl_; }
  const detail::NetworkImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<detail::NetworkImpl> impl_;
};

}  // namespace kiln
