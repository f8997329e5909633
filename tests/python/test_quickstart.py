"""TensorRT's Python quick-start flow with kiln's names: ONNX -> OnnxParser -> Builder ->
serialized plan -> Runtime -> Engine -> ExecutionContext -> execute, against onnxruntime."""

import numpy as np
import pytest

import kiln
from conftest import mlp_model, onnxruntime_outputs


def build_plan(model_bytes, logger, batch_range=((1, 4), (4, 4), (8, 4))):
    builder = kiln.Builder(logger)
    network = builder.create_network(0)
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse(model_bytes)
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("x", *batch_range)
    assert config.add_optimization_profile(profile) == 0
    plan = builder.build_serialized_network(network, config)
    assert isinstance(plan, bytes) and len(plan) > 0
    return plan


def test_quickstart_matches_onnxruntime(logger):
    model = mlp_model(seed=3)
    plan = build_plan(model.SerializeToString(), logger)

    runtime = kiln.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    assert engine.num_io_tensors == 2
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    assert names == ["x", "y"]
    assert engine.get_tensor_mode("x") == kiln.TensorIOMode.INPUT
    assert engine.get_tensor_mode("y") == kiln.TensorIOMode.OUTPUT
    assert engine.get_tensor_mode("nothing") == kiln.TensorIOMode.NONE
    assert engine.get_tensor_dtype("x") == np.float32
    assert engine.get_tensor_data_type("y") == kiln.DataType.FLOAT32
    assert kiln.nptype(engine.get_tensor_data_type("y")) == np.dtype(np.float32)
    assert engine.get_tensor_shape("x") == (-1, 4)
    assert engine.get_tensor_profile_shape("x", 0) == [(1, 4), (4, 4), (8, 4)]
    assert engine.device == kiln.DeviceType.CPU

    context = engine.create_execution_context()
    x = np.random.default_rng(7).standard_normal((6, 4)).astype(np.float32)
    context.set_input_shape("x", x.shape)
    assert context.all_input_shapes_specified
    assert context.get_tensor_shape("y") == (6, 3)
    y = np.empty(context.get_tensor_shape("y"), dtype=kiln.nptype(engine.get_tensor_dtype("y")))
    context.set_tensor_address("x", x.ctypes.data)
    context.set_tensor_address("y", y.ctypes.data)
    assert context.get_tensor_address("y") == y.ctypes.data
    context.execute_async_v3(0)

    expected = onnxruntime_outputs(model, {"x": x})["y"]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    # The logger saw the import and the build.
    assert any("ONNX" in message for _, message in logger.messages)


def test_execute_v2_bindings_in_engine_order(logger):
    model = mlp_model(seed=4)
    engine = kiln.Runtime(logger).deserialize_engine(build_plan(model.SerializeToString(), logger))
    context = engine.create_execution_context()
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    context.set_input_shape("x", x.shape)
    y = np.zeros((2, 3), np.float32)
    assert context.execute_v2([x.ctypes.data, y.ctypes.data]) is True
    np.testing.assert_allclose(y, onnxruntime_outputs(model, {"x": x})["y"], rtol=1e-5, atol=1e-6)
    with pytest.raises(kiln.InvalidArgumentError, match="expected 2 addresses"):
        context.execute_v2([x.ctypes.data])


def test_parse_from_file_and_build_engine(mlp, logger):
    model, path = mlp
    builder = kiln.Builder(logger)
    network = builder.create_network()
    assert kiln.OnnxParser(network, logger).parse_from_file(path)  # a pathlib.Path works
    assert network.num_inputs == 1 and network.num_outputs == 1
    assert network.get_input(0).name == "x"
    assert network.get_input(0).shape == (-1, 4)
    assert network.get_input(0).dtype == kiln.DataType.FLOAT32
    assert [network.get_layer(i).type for i in range(network.num_layers)] == [
        "MatMul", "Add", "Relu", "MatMul", "Softmax"]
    config = builder.create_builder_config()
    profile = kiln.OptimizationProfile()
    profile.set_shape("x", (3, 4), (3, 4), (3, 4))
    config.add_optimization_profile(profile)
    engine = builder.build_engine(network, config)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    outputs = engine.create_execution_context().infer({"x": x})
    np.testing.assert_allclose(outputs["y"], onnxruntime_outputs(model, {"x": x})["y"],
                               rtol=1e-5, atol=1e-6)


def test_parse_accepts_model_proto_and_bytearray(logger):
    model = mlp_model()
    for given in (model, bytearray(model.SerializeToString()),
                  memoryview(model.SerializeToString())):
        network = kiln.NetworkDefinition()
        assert kiln.OnnxParser(network, logger).parse(given)
        assert network.num_layers == 5


def test_engine_introspection_and_describe(logger):
    engine = kiln.Runtime(logger).deserialize_engine(
        build_plan(mlp_model().SerializeToString(), logger))
    assert engine.num_layers >= 1
    assert engine.num_optimization_profiles == 1
    assert engine.weight_bytes == (4 * 8 + 8 + 8 * 3) * 4
    assert engine.arena_bytes == engine.device_memory_size
    text = engine.describe()
    assert "input  x" in text and "output y" in text
    with pytest.raises(IndexError):
        engine.get_tensor_name(2)
    with pytest.raises(kiln.InvalidArgumentError, match="no input or output named 'z'"):
        engine.get_tensor_shape("z")


def test_version():
    assert kiln.__version__.count(".") == 2
    assert all(part.isdigit() for part in kiln.__version__.split("."))
