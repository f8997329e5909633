"""One engine, several input shapes: profiles from set_shape and from kiln.build's arguments."""

import numpy as np
import pytest

import kiln
from conftest import make_model, mlp_model, onnxruntime_outputs
from onnx import TensorProto, helper


def test_one_engine_several_batch_sizes(mlp):
    model, path = mlp
    engine = kiln.build(path, min_shapes={"x": (1, 4)}, opt_shapes={"x": (4, 4)},
                        max_shapes={"x": (16, 4)})
    assert engine.engine.get_tensor_profile_shape("x", 0) == [(1, 4), (4, 4), (16, 4)]
    rng = np.random.default_rng(11)
    for batch in (1, 16, 3, 4, 1, 9):  # up, down, and back: the context resizes each time
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        y = engine({"x": x})["y"]
        assert y.shape == (batch, 3)
        np.testing.assert_allclose(y, onnxruntime_outputs(model, {"x": x})["y"],
                                   rtol=1e-5, atol=1e-6)


def test_context_shapes_follow_set_input_shape(logger):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse(mlp_model().SerializeToString())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_dimensions("x", kiln.OptProfileSelector.MIN, (1, 4))
    profile.set_dimensions("x", kiln.OptProfileSelector.OPT, (2, 4))
    profile.set_dimensions("x", kiln.OptProfileSelector.MAX, (6, 4))
    assert profile.get_shape("x") == [(1, 4), (2, 4), (6, 4)]
    assert profile.get_dimensions("x", kiln.OptProfileSelector.OPT) == (2, 4)
    assert profile.inputs == ["x"] and profile.has("x") and not profile.has("y")
    config.add_optimization_profile(profile)
    assert config.num_optimization_profiles == 1
    engine = builder.build_engine(network, config)
    context = engine.create_execution_context()
    assert not context.all_input_shapes_specified
    assert context.get_tensor_shape("y") == (-1, 3)
    for batch in (6, 1, 2):
        context.set_input_shape("x", (batch, 4))
        assert context.get_tensor_shape("x") == (batch, 4)
        assert context.get_tensor_shape("y") == (batch, 3)
    with pytest.raises(kiln.InvalidArgumentError, match="outside the engine's optimization"):
        context.set_input_shape("x", (7, 4))
    with pytest.raises(kiln.InvalidArgumentError, match="outside the engine's optimization"):
        context.set_input_shape("x", (2, 5))
    with pytest.raises(kiln.InvalidArgumentError, match="rank"):
        context.set_input_shape("x", (2, 4, 1))


def test_range_defaults_follow_kiln_build(mlp):
    _, path = mlp
    # Only max: opt = max, min = opt.
    engine = kiln.build(path, max_shapes={"x": (8, 4)})
    assert engine.engine.get_tensor_profile_shape("x") == [(8, 4), (8, 4), (8, 4)]
    # min and max: opt = max.
    engine = kiln.build(path, min_shapes={"x": (2, 4)}, max_shapes={"x": (8, 4)})
    assert engine.engine.get_tensor_profile_shape("x") == [(2, 4), (8, 4), (8, 4)]
    # Only opt fixes the shape.
    engine = kiln.build(path, opt_shapes={"x": (3, 4)})
    assert engine.engine.get_tensor_profile_shape("x") == [(3, 4), (3, 4), (3, 4)]


def test_two_dynamic_dims():
    model = make_model([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
                       [("x", TensorProto.FLOAT, ["b", "t", 3])],
                       [("y", TensorProto.FLOAT, ["b", 3])],
                       [("axes", np.array([1], np.int64))])
    engine = kiln.build(model, min_shapes={"x": (1, 1, 3)}, max_shapes={"x": (4, 8, 3)})
    rng = np.random.default_rng(5)
    for shape in ((1, 1, 3), (4, 8, 3), (2, 5, 3)):
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(engine(x)["y"], x.sum(axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(kiln.InvalidArgumentError, match="outside the engine's optimization"):
        engine(np.zeros((2, 9, 3), np.float32))
