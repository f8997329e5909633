"""The layer API (NetworkDefinition.add_*): tiny networks checked against numpy."""

import numpy as np
import pytest

import kiln

RNG = np.random.default_rng(2024)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def run(network, **inputs):
    return kiln.build(network)(inputs)


def conv2d_reference(x, w, b, stride, pad, groups=1):
    """Plain float64 loops: NCHW input, OIHW weights, symmetric zero padding."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for b_i in range(n):
        for oc in range(o):
            g = oc // per_group
            for i in range(oh):
                for j in range(ow):
                    patch = xp[b_i, g * cg:(g + 1) * cg, i * stride:i * stride + kh,
                               j * stride:j * stride + kw]
                    y[b_i, oc, i, j] = np.sum(patch * w[oc]) + (b[oc] if b is not None else 0)
    return y


def test_convolution_with_stride_padding_groups_and_relu():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (2, 4, 7, 6))
    w = randn(6, 2, 3, 3)
    b = randn(6)
    conv = network.add_convolution_nd(x, 6, (3, 3), w, b)
    conv.set_stride((2, 2))
    conv.set_padding((1, 1))
    conv.set_num_groups(2)
    assert conv.type == "Conv" and conv.num_inputs == 3
    relu = network.add_activation(conv.get_output(0), kiln.ActivationType.RELU)
    relu.get_output(0).name = "y"
    network.mark_output(relu.get_output(0))
    x_value = randn(2, 4, 7, 6)
    y = run(network, x=x_value)["y"]
    expected = np.maximum(conv2d_reference(x_value, w, b, stride=2, pad=1, groups=2), 0)
    assert y.shape == expected.shape == (2, 6, 4, 3)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_matrix_multiply_with_transposes_and_constants():
    network = kiln.NetworkDefinition()
    a = network.add_input("a", np.float32, (3, 5))  # numpy dtypes work as well
    b_value = randn(4, 5)
    b = network.add_constant((4, 5), b_value).get_output(0)
    mm = network.add_matrix_multiply(a, kiln.MatrixOperation.NONE, b,
                                     kiln.MatrixOperation.TRANSPOSE)
    network.mark_output(mm.get_output(0))
    a_value = randn(3, 5)
    (y,) = run(network, a=a_value).values()
    np.testing.assert_allclose(y, a_value @ b_value.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op, reference", [
    (kiln.ElementWiseOperation.SUM, np.add),
    (kiln.ElementWiseOperation.SUB, np.subtract),
    (kiln.ElementWiseOperation.PROD, np.multiply),
    (kiln.ElementWiseOperation.DIV, np.divide),
    (kiln.ElementWiseOperation.MAX, np.maximum),
    (kiln.ElementWiseOperation.MIN, np.minimum),
    (kiln.ElementWiseOperation.FLOOR_DIV, lambda a, b: np.floor(a / b)),
])
def test_elementwise_with_broadcasting(op, reference):
    network = kiln.NetworkDefinition()
    a = network.add_input("a", kiln.float32, (2, 3))
    b = network.add_input("b", kiln.float32, (1, 3))
    network.mark_output(network.add_elementwise(a, b, op).get_output(0))
    a_value = randn(2, 3)
    b_value = np.array([[0.5, -1.5, 2.0]], np.float32)
    (y,) = run(network, a=a_value, b=b_value).values()
    np.testing.assert_allclose(y, reference(a_value, b_value), rtol=1e-6)


def test_comparison_gives_bool_and_select_uses_it():
    network = kiln.NetworkDefinition()
    a = network.add_input("a", kiln.float32, (4,))
    b = network.add_input("b", kiln.float32, (4,))
    less = network.add_elementwise(a, b, kiln.ElementWiseOperation.LESS).get_output(0)
    assert less.dtype == kiln.DataType.BOOL
    network.mark_output(less)
    picked = network.add_select(less, a, b).get_output(0)
    network.mark_output(picked)
    a_value = np.array([1, 5, -2, 3], np.float32)
    b_value = np.array([2, 4, -3, 3], np.float32)
    outputs = run(network, a=a_value, b=b_value)
    np.testing.assert_array_equal(outputs[less.name], a_value < b_value)
    np.testing.assert_array_equal(outputs[picked.name], np.minimum(a_value, b_value))


@pytest.mark.parametrize("kind, alpha, beta, reference", [
    (kiln.ActivationType.SIGMOID, 0, 0, lambda x: 1 / (1 + np.exp(-x))),
    (kiln.ActivationType.TANH, 0, 0, np.tanh),
    (kiln.ActivationType.LEAKY_RELU, 0.1, 0, lambda x: np.where(x > 0, x, 0.1 * x)),
    (kiln.ActivationType.CLIP, -0.5, 0.25, lambda x: np.clip(x, -0.5, 0.25)),
    (kiln.ActivationType.ELU, 1.0, 0, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    (kiln.ActivationType.SOFTPLUS, 0, 0, lambda x: np.log1p(np.exp(x))),
])
def test_activations(kind, alpha, beta, reference):
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (3, 4))
    network.mark_output(network.add_activation(x, kind, alpha, beta).get_output(0))
    x_value = randn(3, 4) * 2
    (y,) = run(network, x=x_value).values()
    np.testing.assert_allclose(y, reference(x_value.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_unary_softmax_and_reduce():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (2, 3, 4))
    absolute = network.add_unary(x, kiln.UnaryOperation.ABS).get_output(0)
    root = network.add_unary(absolute, kiln.UnaryOperation.SQRT).get_output(0)
    soft = network.add_softmax(x, axis=1).get_output(0)
    mean = network.add_reduce(x, kiln.ReduceOperation.AVG, [0, 2], keep_dims=True).get_output(0)
    largest = network.add_reduce(x, kiln.ReduceOperation.MAX, [2], keep_dims=False).get_output(0)
    for t in (root, soft, mean, largest):
        network.mark_output(t)
    x_value = randn(2, 3, 4)
    outputs = run(network, x=x_value)
    np.testing.assert_allclose(outputs[root.name], np.sqrt(np.abs(x_value)), rtol=1e-6)
    e = np.exp(x_value - x_value.max(axis=1, keepdims=True))
    np.testing.assert_allclose(outputs[soft.name], e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(outputs[mean.name], x_value.mean(axis=(0, 2), keepdims=True),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs[largest.name], x_value.max(axis=2))


def test_shuffle_transpose_concat_slice_gather():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (2, 3, 4))
    flat = network.add_shuffle(x, (0, -1)).get_output(0)            # 2 x 12
    swapped = network.add_transpose(x, (2, 0, 1)).get_output(0)      # 4 x 2 x 3
    joined = network.add_concatenation([x, x], axis=1).get_output(0)  # 2 x 6 x 4
    sliced = network.add_slice(x, (0, 2, 3), (2, 2, 2), (1, -1, -2)).get_output(0)
    indices = network.add_constant(None, np.array([2, 0], np.int64)).get_output(0)
    gathered = network.add_gather(x, indices, axis=2).get_output(0)
    for t in (flat, swapped, joined, sliced, gathered):
        network.mark_output(t)
    x_value = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    outputs = run(network, x=x_value)
    np.testing.assert_array_equal(outputs[flat.name], x_value.reshape(2, 12))
    np.testing.assert_array_equal(outputs[swapped.name], x_value.transpose(2, 0, 1))
    np.testing.assert_array_equal(outputs[joined.name], np.concatenate([x_value, x_value], 1))
    np.testing.assert_array_equal(outputs[sliced.name], x_value[0:2, 2:0:-1, 3::-2])
    np.testing.assert_array_equal(outputs[gathered.name], x_value[:, :, [2, 0]])


def test_pooling_and_shape():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (1, 2, 4, 6))
    pool = network.add_pooling_nd(x, kiln.PoolingType.MAX, (2, 2))
    pool.set_stride((2, 2))
    avg = network.add_pooling(x, kiln.PoolingType.AVERAGE, (2, 3))
    avg.set_stride((2, 3))
    shape = network.add_shape(x).get_output(0)
    for t in (pool.get_output(0), avg.get_output(0), shape):
        network.mark_output(t)
    x_value = randn(1, 2, 4, 6)
    outputs = run(network, x=x_value)
    blocks = x_value.reshape(1, 2, 2, 2, 3, 2)
    np.testing.assert_array_equal(outputs[pool.get_output(0).name], blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(outputs[avg.get_output(0).name],
                               x_value.reshape(1, 2, 2, 2, 2, 3).mean(axis=(3, 5)), rtol=1e-5)
    np.testing.assert_array_equal(outputs[shape.name], [1, 2, 4, 6])


def test_layer_normalization_and_cast():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (3, 8))
    scale_value, bias_value = randn(8), randn(8)
    scale = network.add_constant((8,), scale_value).get_output(0)
    bias = network.add_constant((8,), bias_value).get_output(0)
    norm = network.add_normalization(x, scale, bias, kiln.NormalizationType.LAYER, axis=-1,
                                     epsilon=1e-5).get_output(0)
    as_int = network.add_cast(x, np.int32).get_output(0)
    network.mark_output(norm)
    network.mark_output(as_int)
    x_value = randn(3, 8) * 3
    outputs = run(network, x=x_value)
    x64 = x_value.astype(np.float64)
    mu = x64.mean(axis=-1, keepdims=True)
    var = x64.var(axis=-1, keepdims=True)
    np.testing.assert_allclose(outputs[norm.name], (x64 - mu) / np.sqrt(var + 1e-5) * scale_value
                               + bias_value, rtol=1e-4, atol=1e-5)
    assert outputs[as_int.name].dtype == np.int32
    np.testing.assert_array_equal(outputs[as_int.name], np.trunc(x_value).astype(np.int32))


def test_generic_layer_with_attributes():
    network = kiln.NetworkDefinition()
    a = network.add_input("a", kiln.float32, (2, 3))
    b_value = randn(4, 3)
    b = network.add_constant(None, b_value).get_output(0)
    assert b.shape == (4, 3)
    gemm = network.add_layer("Gemm", [a, b, None])
    gemm.set_int("transB", 1)
    gemm.set_float("alpha", 0.5)
    assert gemm.type == "Gemm" and gemm.get_input(2) is None
    network.mark_output(gemm.get_output(0))
    a_value = randn(2, 3)
    (y,) = run(network, a=a_value).values()
    np.testing.assert_allclose(y, 0.5 * a_value @ b_value.T, rtol=1e-5, atol=1e-6)


def test_network_introspection_and_naming():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (-1, 3))
    assert x.is_network_input and not x.is_network_output
    assert x.shape == (-1, 3) and x.dtype == kiln.DataType.FLOAT32
    layer = network.add_activation(x, kiln.ActivationType.RELU)
    layer.name = "my_relu"
    assert layer.name == "my_relu" and layer.num_outputs == 1
    out = layer.get_output(0)
    out.name = "relu_out"
    assert out.shape == (-1, 3)
    network.mark_output(out)
    assert out.is_network_output and network.num_outputs == 1
    assert network.get_tensor("relu_out") is out
    assert network.get_tensor("absent") is None
    assert network.get_output(0).name == "relu_out"
    assert "Relu" in network.to_string() and "Relu" in str(network)
    network.unmark_output(out)
    assert network.num_outputs == 0
    with pytest.raises(kiln.InvalidArgumentError, match="already exists"):
        out.name = "x"


def test_handles_keep_their_network_alive():
    def make():
        network = kiln.NetworkDefinition()
        x = network.add_input("x", kiln.float32, (2,))
        return network.add_unary(x, kiln.UnaryOperation.NEG)

    layer = make()  # the network has no other reference now
    assert layer.get_input(0).name == "x"
    assert layer.get_output(0).shape == (2,)
