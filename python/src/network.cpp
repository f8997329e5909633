// NetworkDefinition, ITensor and ILayer: the layer API, as TensorRT's INetworkDefinition.
// ITensor and ILayer objects belong to their network: each Python handle keeps its network
// alive, and a tensor of another network is refused (kiln would otherwise mix two graphs).
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "common.h"

namespace kiln::python {
namespace {

using nb::rv_policy;

// A host copy of a numpy-compatible object laid out as kiln::Weights; `array` keeps the
// contiguous buffer alive while the network copies it.
struct HostWeights {
  nb::object array;
  Weights weights;
  Dims shape;
};

HostWeights host_weights(nb::handle object, const char* what) {
  if (object.is_none()) invalid_argument(std::string(what) + ": weights are None");
  nb::object numpy = nb::module_::import_("numpy");
  HostWeights host;
  nb::object original = numpy.attr("asarray")(object);
  host.shape = dims_from_object(original.attr("shape"), what);
  host.array = numpy.attr("ascontiguousarray")(original);
  host.weights.type = data_type_from_object(host.array.attr("dtype"));
  host.weights.count = nb::cast<int64_t>(host.array.attr("size"));
  nb::object data = host.array.attr("__array_interface__")["data"];
  host.weights.values = reinterpret_cast<const void*>(nb::cast<uintptr_t>(data[0]));
  return host;
}

// The tensor, checked to belong to `network`.
ITensor& own(NetworkDefinition& network, ITensor* tensor, const char* what) {
  if (tensor == nullptr) invalid_argument(std::string(what) + ": tensor is None");
  if (network.tensor(tensor->name()) != tensor) {
    invalid_argument(std::string(what) + ": tensor '" + tensor->name() +
                     "' belongs to another network");
  }
  return *tensor;
}

std::string tensor_repr(const ITensor& tensor) {
  return "<kiln.ITensor '" + tensor.name() + "' " + to_string(tensor.type()) + " " +
         repr_of(dims_to_tuple(tensor.dims())) + ">";
}

void bind_tensor_and_layer(nb::module_& m) {
  nb::class_<ITensor>(m, "ITensor",
                      "A tensor of a network (owned by it): an input, a layer's output or a "
                      "constant.")
      .def_prop_rw("name", &ITensor::name, &ITensor::set_name)
      .def_prop_ro("dtype", &ITensor::type, "The tensor's kiln.DataType.")
      .def_prop_ro(
          "shape", [](const ITensor& t) { return dims_to_tuple(t.dims()); },
          "Declared dims; -1 for dims known only once input shapes are set.")
      .def_prop_ro("is_network_input", &ITensor::is_network_input)
      .def_prop_ro("is_network_output", &ITensor::is_network_output)
      .def("__repr__", &tensor_repr);

  nb::class_<ILayer>(m, "ILayer",
                     "A layer of a network (owned by it): one kiln op with its parameters.")
      .def_prop_ro("type", &ILayer::type, "The op this layer runs ('Conv', 'MatMul', ...).")
      .def_prop_rw("name", &ILayer::name, &ILayer::set_name)
      .def_prop_ro("num_inputs", &ILayer::num_inputs)
      .def_prop_ro("num_outputs", &ILayer::num_outputs)
      .def("get_input", &ILayer::input, nb::arg("index"), rv_policy::reference_internal,
           "The input tensor at `index`; None for an omitted optional input.")
      .def("get_output", &ILayer::output, nb::arg("index"), rv_policy::reference_internal)
      .def("set_int", &ILayer::set_int, nb::arg("key"), nb::arg("value"),
           "Sets an integer parameter (ONNX attribute names: \"strides\", \"group\", ...).")
      .def("set_float", &ILayer::set_float, nb::arg("key"), nb::arg("value"))
      .def(
          "set_ints",
          [](ILayer& layer, const std::string& key, nb::handle values) {
            layer.set_ints(key, dims_from_object(values, key.c_str()));
          },
          nb::arg("key"), nb::arg("values"))
      .def("set_string", &ILayer::set_string, nb::arg("key"), nb::arg("value"))
      .def(
          "set_stride",
          [](ILayer& layer, nb::handle stride) {
            layer.set_stride(dims_from_object(stride, "stride"));
          },
          nb::arg("stride"), "Convolution or pooling strides, one per spatial dim.")
      .def(
          "set_padding",
          [](ILayer& layer, nb::handle pre, nb::handle post) {
            const Dims before = dims_from_object(pre, "padding");
            layer.set_padding(before, post.is_none() ? before : dims_from_object(post, "padding"));
          },
          nb::arg("pre"), nb::arg("post").none() = nb::none(),
          "Zero padding before and after each spatial dim (post defaults to pre).")
      .def(
          "set_dilation",
          [](ILayer& layer, nb::handle dilation) {
            layer.set_dilation(dims_from_object(dilation, "dilation"));
          },
          nb::arg("dilation"))
      .def("set_num_groups", &ILayer::set_num_groups, nb::arg("groups"))
      .def("__repr__", [](const ILayer& layer) {
        return "<kiln.ILayer " + layer.type() + " '" + layer.name() + "'>";
      });
}

}  // namespace

void bind_network(nb::module_& m) {
  bind_tensor_and_layer(m);

  // Every add_* returns the new layer, owned by the network (reference_internal keeps the
  // network alive as long as Python holds the layer).
  constexpr auto kOwned = rv_policy::reference_internal;
  nb::class_<NetworkDefinition> network(m, "NetworkDefinition",
                                        "A network built layer by layer (or filled by "
                                        "OnnxParser), as TensorRT's INetworkDefinition.");
  network.def(nb::init<>())
      .def(
          "add_input",
          [](NetworkDefinition& n, const std::string& name, nb::handle dtype, nb::handle shape) {
            return n.add_input(name, data_type_from_object(dtype),
                               dims_from_object(shape, "add_input"));
          },
          nb::arg("name"), nb::arg("dtype"), nb::arg("shape"), kOwned,
          "A network input; -1 dims are dynamic and need an optimization profile.")
      .def(
          "mark_output",
          [](NetworkDefinition& n, ITensor* t) { n.mark_output(own(n, t, "mark_output")); },
          nb::arg("tensor"))
      .def(
          "unmark_output",
          [](NetworkDefinition& n, ITensor* t) { n.unmark_output(own(n, t, "unmark_output")); },
          nb::arg("tensor"))
      .def(
          "add_constant",
          [](NetworkDefinition& n, nb::handle shape, nb::handle weights) {
            HostWeights host = host_weights(weights, "add_constant");
            const Dims dims =
                shape.is_none() ? host.shape : dims_from_object(shape, "add_constant");
            return n.add_constant(dims, host.weights);
          },
          nb::arg("shape").none(), nb::arg("weights").none(), kOwned,
          "A constant from a numpy array (copied); shape=None takes the array's shape.");

  auto add_convolution = [](NetworkDefinition& n, ITensor* input, int64_t num_output_maps,
                            nb::handle kernel_shape, nb::handle kernel, nb::handle bias) {
    HostWeights w = host_weights(kernel, "add_convolution kernel");
    HostWeights b;
    if (!bias.is_none()) b = host_weights(bias, "add_convolution bias");
    return n.add_convolution(own(n, input, "add_convolution"), num_output_maps,
                             dims_from_object(kernel_shape, "kernel_shape"), w.weights, b.weights);
  };
  auto add_deconvolution = [](NetworkDefinition& n, ITensor* input, int64_t num_output_maps,
                              nb::handle kernel_shape, nb::handle kernel, nb::handle bias) {
    HostWeights w = host_weights(kernel, "add_deconvolution kernel");
    HostWeights b;
    if (!bias.is_none()) b = host_weights(bias, "add_deconvolution bias");
    return n.add_deconvolution(own(n, input, "add_deconvolution"), num_output_maps,
                               dims_from_object(kernel_shape, "kernel_shape"), w.weights,
                               b.weights);
  };
  const char* conv_doc =
      "Convolution over the last len(kernel_shape) dims of an NCHW-style input; kernel is a "
      "numpy array of num_output_maps * (C / groups) * prod(kernel_shape) values.";
  auto add_pooling = [](NetworkDefinition& n, ITensor* input, PoolingType type, nb::handle window) {
    return n.add_pooling(own(n, input, "add_pooling"), type,
                         dims_from_object(window, "window_size"));
  };
  for (const char* name : {"add_convolution", "add_convolution_nd"}) {
    network.def(name, add_convolution, nb::arg("input"), nb::arg("num_output_maps"),
                nb::arg("kernel_shape"), nb::arg("kernel"), nb::arg("bias").none() = nb::none(),
                kOwned, conv_doc);
  }
  for (const char* name : {"add_deconvolution", "add_deconvolution_nd"}) {
    network.def(name, add_deconvolution, nb::arg("input"), nb::arg("num_output_maps"),
                nb::arg("kernel_shape"), nb::arg("kernel"), nb::arg("bias").none() = nb::none(),
                kOwned);
  }
  for (const char* name : {"add_pooling", "add_pooling_nd"}) {
    network.def(name, add_pooling, nb::arg("input"), nb::arg("type"), nb::arg("window_size"),
                kOwned);
  }

  network
      .def(
          "add_matrix_multiply",
          [](NetworkDefinition& n, ITensor* a, MatrixOperation op_a, ITensor* b,
             MatrixOperation op_b) {
            return n.add_matrix_multiply(own(n, a, "add_matrix_multiply"), op_a,
                                         own(n, b, "add_matrix_multiply"), op_b);
          },
          nb::arg("input0"), nb::arg("op0"), nb::arg("input1"), nb::arg("op1"), kOwned)
      .def(
          "add_elementwise",
          [](NetworkDefinition& n, ITensor* a, ITensor* b, ElementWiseOperation op) {
            return n.add_elementwise(own(n, a, "add_elementwise"), own(n, b, "add_elementwise"),
                                     op);
          },
          nb::arg("input1"), nb::arg("input2"), nb::arg("op"), kOwned,
          "Elementwise binary op with numpy broadcasting.")
      .def(
          "add_unary",
          [](NetworkDefinition& n, ITensor* input, UnaryOperation op) {
            return n.add_unary(own(n, input, "add_unary"), op);
          },
          nb::arg("input"), nb::arg("op"), kOwned)
      .def(
          "add_activation",
          [](NetworkDefinition& n, ITensor* input, ActivationType type, float alpha, float beta) {
            return n.add_activation(own(n, input, "add_activation"), type, alpha, beta);
          },
          nb::arg("input"), nb::arg("type"), nb::arg("alpha") = 0.0f, nb::arg("beta") = 0.0f,
          kOwned,
          "alpha/beta as TensorRT defines them per activation (leaky slope, clip bounds, ...).")
      .def(
          "add_softmax",
          [](NetworkDefinition& n, ITensor* input, int axis) {
            return n.add_softmax(own(n, input, "add_softmax"), axis);
          },
          nb::arg("input"), nb::arg("axis") = -1, kOwned)
      .def(
          "add_shuffle",
          [](NetworkDefinition& n, ITensor* input, nb::handle dims) {
            return n.add_shuffle(own(n, input, "add_shuffle"),
                                 dims_from_object(dims, "reshape_dims"));
          },
          nb::arg("input"), nb::arg("reshape_dims"), kOwned,
          "Reshape to reshape_dims (0 copies the input extent, one -1 is inferred).")
      .def(
          "add_reshape",
          [](NetworkDefinition& n, ITensor* input, ITensor* shape) {
            return n.add_reshape(own(n, input, "add_reshape"), own(n, shape, "add_reshape"));
          },
          nb::arg("input"), nb::arg("shape"), kOwned, "Reshape to the values of a shape tensor.")
      .def(
          "add_transpose",
          [](NetworkDefinition& n, ITensor* input, nb::handle perm) {
            return n.add_transpose(own(n, input, "add_transpose"),
                                   dims_from_object(perm, "permutation"));
          },
          nb::arg("input"), nb::arg("permutation"), kOwned)
      .def(
          "add_concatenation",
          [](NetworkDefinition& n, const std::vector<ITensor*>& inputs, int axis) {
            for (ITensor* t : inputs) own(n, t, "add_concatenation");
            return n.add_concatenation(inputs, axis);
          },
          nb::arg("inputs"), nb::arg("axis") = 0, kOwned)
      .def(
          "add_slice",
          [](NetworkDefinition& n, ITensor* input, nb::handle start, nb::handle shape,
             nb::handle stride) {
            return n.add_slice(own(n, input, "add_slice"), dims_from_object(start, "start"),
                               dims_from_object(shape, "shape"),
                               dims_from_object(stride, "stride"));
          },
          nb::arg("input"), nb::arg("start"), nb::arg("shape"), nb::arg("stride"), kOwned)
      .def(
          "add_gather",
          [](NetworkDefinition& n, ITensor* data, ITensor* indices, int axis) {
            return n.add_gather(own(n, data, "add_gather"), own(n, indices, "add_gather"), axis);
          },
          nb::arg("input"), nb::arg("indices"), nb::arg("axis") = 0, kOwned)
      .def(
          "add_reduce",
          [](NetworkDefinition& n, ITensor* input, ReduceOperation op, nb::handle axes,
             bool keep_dims) {
            if (PyLong_Check(axes.ptr())) {
              invalid_argument(
                  "add_reduce: axes is a list of axes such as [1, 2] (kiln does not "
                  "take TensorRT's bit mask)");
            }
            return n.add_reduce(own(n, input, "add_reduce"), op, dims_from_object(axes, "axes"),
                                keep_dims);
          },
          nb::arg("input"), nb::arg("op"), nb::arg("axes"), nb::arg("keep_dims"), kOwned)
      .def(
          "add_normalization",
          [](NetworkDefinition& n, ITensor* input, ITensor* scale, ITensor* bias,
             NormalizationType type, int axis, float epsilon) {
            return n.add_normalization(own(n, input, "add_normalization"),
                                       own(n, scale, "add_normalization"),
                                       own(n, bias, "add_normalization"), type, axis, epsilon);
          },
          nb::arg("input"), nb::arg("scale"), nb::arg("bias"), nb::arg("type"),
          nb::arg("axis") = -1, nb::arg("epsilon") = 1e-5f, kOwned,
          "LAYER normalizes over `axis` and after; INSTANCE and GROUP per channel (dim 1; set "
          "the 'num_groups' int on the layer for GROUP).")
      .def(
          "add_resize",
          [](NetworkDefinition& n, ITensor* input, ResizeMode mode,
             const std::vector<float>& scales) {
            return n.add_resize(own(n, input, "add_resize"), mode, scales);
          },
          nb::arg("input"), nb::arg("mode"), nb::arg("scales"), kOwned)
      .def(
          "add_cast",
          [](NetworkDefinition& n, ITensor* input, nb::handle to) {
            return n.add_cast(own(n, input, "add_cast"), data_type_from_object(to));
          },
          nb::arg("input"), nb::arg("to_type"), kOwned)
      .def(
          "add_select",
          [](NetworkDefinition& n, ITensor* condition, ITensor* then_input, ITensor* else_input) {
            return n.add_select(own(n, condition, "add_select"), own(n, then_input, "add_select"),
                                own(n, else_input, "add_select"));
          },
          nb::arg("condition"), nb::arg("then_input"), nb::arg("else_input"), kOwned)
      .def(
          "add_shape",
          [](NetworkDefinition& n, ITensor* input) {
            return n.add_shape(own(n, input, "add_shape"));
          },
          nb::arg("input"), kOwned)
      .def(
          "add_identity",
          [](NetworkDefinition& n, ITensor* input) {
            return n.add_identity(own(n, input, "add_identity"));
          },
          nb::arg("input"), kOwned)
      .def(
          "add_layer",
          [](NetworkDefinition& n, const std::string& op, const std::vector<ITensor*>& inputs,
             int num_outputs) {
            for (ITensor* t : inputs) {
              if (t) own(n, t, "add_layer");
            }
            return n.add_layer(op, inputs, num_outputs);
          },
          nb::arg("op"), nb::arg("inputs"), nb::arg("num_outputs") = 1, kOwned,
          "Any kiln op by name (ONNX op names) with its attributes set afterwards through "
          "the layer's set_int/set_float/set_ints/set_string; None for an omitted input.")
      .def_prop_ro("num_inputs", &NetworkDefinition::num_inputs)
      .def_prop_ro("num_outputs", &NetworkDefinition::num_outputs)
      .def_prop_ro("num_layers", &NetworkDefinition::num_layers)
      .def("get_input", &NetworkDefinition::input, nb::arg("index"), kOwned)
      .def("get_output", &NetworkDefinition::output, nb::arg("index"), kOwned)
      .def("get_layer", &NetworkDefinition::layer, nb::arg("index"), kOwned)
      .def("get_tensor", &NetworkDefinition::tensor, nb::arg("name"), kOwned,
           "The tensor of that name, or None.")
      .def("to_string", &NetworkDefinition::to_string, "kiln's text form of the network's graph.")
      .def("__str__", &NetworkDefinition::to_string)
      .def("__repr__", [](const NetworkDefinition& n) {
        return "<kiln.NetworkDefinition: " + std::to_string(n.num_inputs()) + " inputs, " +
               std::to_string(n.num_outputs()) + " outputs, " + std::to_string(n.num_layers()) +
               " layers>";
      });
}

}  // namespace kiln::python
