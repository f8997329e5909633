"""Shared fixtures of kiln's Python API tests.

The tests import the `kiln` package from PYTHONPATH (ctest points it at <build>/python) and
compare kiln against onnxruntime and numpy. Small ONNX models are written here with
onnx.helper; the generated model fixtures come from $KILN_MODELS_DIR (<build>/models)."""

import os
import pathlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln

OPSET = 17


def make_model(nodes, inputs, outputs, initializers=(), opset=OPSET):
    """An ONNX model from nodes and (name, elem_type, shape) triples."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(a, name) for name, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def mlp_model(seed=0, batch="N"):
    """x[batch, 4] -> MatMul(4x8) + bias -> Relu -> MatMul(8x3) -> Softmax -> y[batch, 3]."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((4, 8)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 3)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    return make_model(nodes, [("x", TensorProto.FLOAT, [batch, 4])],
                      [("y", TensorProto.FLOAT, [batch, 3])],
                      [("w1", w1), ("b1", b1), ("w2", w2)])


def onnxruntime_outputs(model, feeds):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


@pytest.fixture(autouse=True)
def cpu_unless_marked_gpu(request, monkeypatch):
    """kiln.build defaults to device='auto' (the GPU where one is usable). The CPU suites pin
    that default to the CPU, so that they check the same values on every machine; tests marked
    `gpu` (test_gpu.py) and calls that name a device keep what they ask for."""
    if request.node.get_closest_marker("gpu") is not None:
        return
    original = kiln.build

    def build_on_cpu_by_default(*args, **kwargs):
        kwargs.setdefault("device", "cpu")
        return original(*args, **kwargs)

    monkeypatch.setattr(kiln, "build", build_on_cpu_by_default)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: runs on the GPU (skips, saying why, without one)")


class RecordingLogger(kiln.Logger):
    """Keeps every message kiln logs, as (severity, message)."""

    def __init__(self):
        super().__init__(kiln.Logger.VERBOSE)
        self.messages = []

    def log(self, severity, message):
        self.messages.append((severity, message))


@pytest.fixture
def logger():
    return RecordingLogger()


@pytest.fixture
def mlp(tmp_path):
    """(model, path) of the small dynamic-batch MLP, saved under tmp_path."""
    model = mlp_model()
    path = tmp_path / "mlp.onnx"
    onnx.save(model, str(path))
    return model, path


def models_dir():
    env = os.environ.get("KILN_MODELS_DIR")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[2] / "build" / "models"


def fixture_model(name):
    """(model.onnx path, [(inputs, outputs) per test data set]) of a generated fixture."""
    folder = models_dir() / name
    if not (folder / "model.onnx").exists():
        pytest.skip(f"model fixture {folder} is absent (scripts/test generates it)")
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    input_names = [i.name for i in model.graph.input]
    output_names = [o.name for o in model.graph.output]
    data_sets = []
    for data_dir in sorted(folder.glob("test_data_set_*")):
        def read(prefix, names):
            values = {}
            for k, name in enumerate(names):
                tensor = onnx.TensorProto()
                tensor.ParseFromString((data_dir / f"{prefix}_{k}.pb").read_bytes())
                values[name] = numpy_helper.to_array(tensor)
            return values
        data_sets.append((read("input", input_names), read("output", output_names)))
    return folder / "model.onnx", data_sets
