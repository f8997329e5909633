#!/usr/bin/env python3
"""kiln's Python quick start: the same model built and run twice, first through the
TensorRT-style objects, then through the short path.

    python3 examples/python/quickstart.py               # a small MLP written with onnx.helper
    python3 examples/python/quickstart.py model.onnx    # any model (dynamic dims set to 1)

Run from a build tree with PYTHONPATH=build/python, or after `pip install .`. GPU engines
with torch tensors: examples/python/gpu_torch.py.
"""

import sys
import tempfile

import numpy as np

import kiln


def small_mlp_bytes() -> bytes:
    """x[batch, 16] -> Gemm(16x32) -> Relu -> Gemm(32x4) -> Softmax -> probabilities."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.standard_normal((16, 32)).astype(np.float32) * 0.25,
        "b1": np.zeros(32, np.float32),
        "w2": rng.standard_normal((32, 4)).astype(np.float32) * 0.25,
        "b2": np.zeros(4, np.float32),
    }
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
        "small_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def tensorrt_style(model_bytes: bytes) -> None:
    """ONNX -> OnnxParser -> Builder -> plan -> Runtime -> Engine -> ExecutionContext."""
    logger = kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    parser.parse(model_bytes)  # raises kiln.KilnError naming every problem

    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(1 if d < 0 else d for d in tensor.shape)
        max_shape = tuple(8 if d < 0 else d for d in tensor.shape)
        profile.set_shape(tensor.name, shape, shape, max_shape)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    print(f"built a plan of {len(plan)} bytes")

    runtime = kiln.Runtime(logger)
    engine = runtime.deserialize_engine(plan)
    context = engine.create_execution_context()
    buffers = {}
    rng = np.random.default_rng(1)
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.INPUT:
            shape = tuple(2 if d < 0 else d for d in engine.get_tensor_shape(name))
            context.set_input_shape(name, shape)
            buffers[name] = rng.standard_normal(shape).astype(engine.get_tensor_dtype(name))
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.OUTPUT:
            buffers[name] = np.empty(context.get_tensor_shape(name),
                                     engine.get_tensor_dtype(name))
    for name, array in buffers.items():
        context.set_tensor_address(name, array.ctypes.data)
    context.execute_async_v3(0)  # CPU engines run synchronously
    for name, array in buffers.items():
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.OUTPUT:
            print(f"{name}: shape {array.shape}, first values {array.ravel()[:4]}")


def short_path(model_bytes: bytes) -> None:
    """kiln.build -> call with numpy arrays -> save -> kiln.load."""
    # Dynamic dims (-1) get the range 1..8; kiln.build needs that only for dynamic inputs.
    network = kiln.NetworkDefinition()
    kiln.OnnxParser(network, kiln.Logger()).parse(model_bytes)
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    min_shapes = {t.name: tuple(1 if d < 0 else d for d in t.shape) for t in inputs}
    max_shapes = {t.name: tuple(8 if d < 0 else d for d in t.shape) for t in inputs}
    # device="auto": the GPU where one is usable (numpy in, numpy out either way).
    engine = kiln.build(model_bytes, min_shapes=min_shapes, max_shapes=max_shapes)
    print(engine)
    rng = np.random.default_rng(2)
    feeds = {name: rng.standard_normal(tuple(3 if d < 0 else d for d in spec.shape))
             .astype(spec.dtype) for name, spec in engine.inputs.items()}
    outputs = engine(feeds)
    with tempfile.TemporaryDirectory() as folder:
        engine.save(f"{folder}/model.plan")
        reloaded = kiln.load(f"{folder}/model.plan")
        again = reloaded(feeds)
    for name, value in outputs.items():
        assert np.array_equal(value, again[name])
        print(f"{name}: shape {value.shape}, same after save/load")


def main() -> None:
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            model_bytes = f.read()
    else:
        model_bytes = small_mlp_bytes()
    print(f"kiln {kiln.__version__}")
    tensorrt_style(model_bytes)
    short_path(model_bytes)


if __name__ == "__main__":
    main()
