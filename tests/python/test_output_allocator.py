"""Outputs whose shape depends on the input values (NonZero, Unique): kiln.OutputAllocator as
TensorRT's IOutputAllocator, and the short path, which sizes such outputs itself. References
are numpy's and onnxruntime's outputs."""

import numpy as np
import pytest
from onnx import TensorProto, helper

import kiln
from conftest import make_model, onnxruntime_outputs


def nonzero_model():
    """y = NonZero(x > 0) as int64 [2, count]; z = x * 2 (an ordinary output beside it)."""
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["positive"]),
        helper.make_node("NonZero", ["positive"], ["y"]),
        helper.make_node("Add", ["x", "x"], ["z"]),
    ]
    return make_model(nodes, [("x", TensorProto.FLOAT, [3, 4])],
                      [("y", TensorProto.INT64, [2, None]), ("z", TensorProto.FLOAT, [3, 4])],
                      [("zero", np.array(0, np.float32))])


def build(model, logger, device=kiln.DeviceType.CPU):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse(model.SerializeToString())
    config = builder.create_builder_config()
    config.device = device
    return builder.build_engine(network, config)


class NumpyAllocator(kiln.OutputAllocator):
    """Host memory for a CPU engine, grown as needed; records every call."""

    def __init__(self):
        super().__init__()
        self.buffer = None
        self.calls = []
        self.shape = None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        self.calls.append((tensor_name, memory, size, alignment))
        if self.buffer is None or self.buffer.nbytes < size:
            self.buffer = np.zeros(max(size, 1), dtype=np.uint8)
        return self.buffer.ctypes.data

    def notify_shape(self, tensor_name, shape):
        self.shape = shape


def test_output_allocator_receives_size_and_shape(logger):
    engine = build(nonzero_model(), logger)
    context = engine.create_execution_context()
    assert context.has_data_dependent_shape("y")
    assert not context.has_data_dependent_shape("z")
    allocator = NumpyAllocator()
    assert context.set_output_allocator("y", allocator)
    assert context.get_output_allocator("y") is allocator
    rng = np.random.default_rng(5)
    for _ in range(3):  # the count changes from run to run
        x = rng.standard_normal((3, 4)).astype(np.float32)
        z = np.empty((3, 4), np.float32)
        context.set_tensor_address("x", x.ctypes.data)
        context.set_tensor_address("z", z.ctypes.data)
        context.execute()
        want = np.stack(np.nonzero(x > 0)).astype(np.int64)
        assert allocator.shape == want.shape
        assert allocator.calls[-1][0] == "y" and allocator.calls[-1][2] == want.nbytes
        got = allocator.buffer[:want.nbytes].view(np.int64).reshape(want.shape)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(z, x * 2)
        assert context.get_tensor_shape("y") == want.shape
    # The first call has no memory to offer back; later ones offer what was returned.
    assert allocator.calls[0][1] == 0
    assert allocator.calls[2][1] == allocator.buffer.ctypes.data


# An exception in reallocate_output cannot cross kiln's executor: Python prints it as
# "unraisable" and the run fails with a kiln error naming the output.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_missing_or_failing_allocator_is_an_error(logger):
    engine = build(nonzero_model(), logger)
    context = engine.create_execution_context()
    x = np.ones((3, 4), np.float32)
    z = np.empty((3, 4), np.float32)
    context.set_tensor_address("x", x.ctypes.data)
    context.set_tensor_address("z", z.ctypes.data)
    with pytest.raises(kiln.KilnError, match="'y'.*set_output_allocator"):
        context.execute()

    context.set_output_allocator("y", kiln.OutputAllocator())  # the base class gives nothing
    with pytest.raises(kiln.KilnError, match="OutputAllocator of 'y'"):
        context.execute()

    class Raising(kiln.OutputAllocator):
        def reallocate_output(self, tensor_name, memory, size, alignment):
            raise ValueError("out of memory on purpose")

    context.set_output_allocator("y", Raising())
    with pytest.raises(kiln.KilnError, match="OutputAllocator of 'y'"):
        context.execute()
    with pytest.raises(TypeError, match="kiln.OutputAllocator"):
        context.set_output_allocator("y", object())
    with pytest.raises(kiln.InvalidArgumentError, match="is an input"):
        context.set_output_allocator("x", NumpyAllocator())
    context.set_output_allocator("y", None)
    assert context.get_output_allocator("y") is None


def test_short_path_sizes_data_dependent_outputs(tmp_path):
    model = nonzero_model()
    engine = kiln.build(model)
    rng = np.random.default_rng(9)
    for _ in range(3):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        out = engine({"x": x})
        assert list(out) == ["y", "z"]
        want = onnxruntime_outputs(model, {"x": x})
        np.testing.assert_array_equal(out["y"], want["y"])
        np.testing.assert_array_equal(out["z"], want["z"])
    # An empty result (nothing positive) has shape (2, 0).
    out = engine({"x": -np.ones((3, 4), np.float32)})
    assert out["y"].shape == (2, 0) and out["y"].dtype == np.int64


def test_unique_outputs_from_the_short_path():
    nodes = [helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"], sorted=1)]
    model = make_model(nodes, [("x", TensorProto.FLOAT, [8])],
                       [("y", TensorProto.FLOAT, [None]), ("indices", TensorProto.INT64, [None]),
                        ("inverse", TensorProto.INT64, [8]), ("counts", TensorProto.INT64, [None])])
    engine = kiln.build(model)
    x = np.array([2, 1, 1, 3, 4, 3, 2, 2], np.float32)
    out = engine(x)
    y, indices, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                            return_counts=True)
    np.testing.assert_array_equal(out["y"], y)
    np.testing.assert_array_equal(out["indices"], indices)
    np.testing.assert_array_equal(out["inverse"], inverse)
    np.testing.assert_array_equal(out["counts"], counts)
