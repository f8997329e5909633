"""The short path: kiln.build / kiln.load returning a callable engine."""

import threading

import numpy as np
import onnx
import pytest

import kiln
from conftest import make_model, mlp_model, onnxruntime_outputs
from onnx import TensorProto, helper


def test_build_from_path_and_call_with_dict(mlp):
    model, path = mlp
    engine = kiln.build(str(path), shapes={"x": (5, 4)})
    assert isinstance(engine, kiln.CallableEngine)
    assert engine.input_names == ["x"] and engine.output_names == ["y"]
    assert engine.inputs["x"] == kiln.TensorSpec("x", (-1, 4), np.dtype(np.float32))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    outputs = engine({"x": x})
    assert list(outputs) == ["y"]
    assert outputs["y"].dtype == np.float32 and outputs["y"].shape == (5, 3)
    np.testing.assert_allclose(outputs["y"], onnxruntime_outputs(model, {"x": x})["y"],
                               rtol=1e-5, atol=1e-6)


def test_positional_and_keyword_inputs():
    model = make_model([helper.make_node("Sub", ["a", "b"], ["d"])],
                       [("a", TensorProto.FLOAT, [2, 3]), ("b", TensorProto.FLOAT, [2, 3])],
                       [("d", TensorProto.FLOAT, [2, 3])])
    engine = kiln.build(model)  # an onnx.ModelProto; static shapes need no profile
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, np.float32)
    expected = a - b
    np.testing.assert_array_equal(engine(a, b)["d"], expected)
    np.testing.assert_array_equal(engine(b=b, a=a)["d"], expected)
    np.testing.assert_array_equal(engine(a, b=b)["d"], expected)
    # Lists take the input's dtype.
    np.testing.assert_array_equal(engine(a.tolist(), [[0.5] * 3] * 2)["d"], expected)
    with pytest.raises(kiln.InvalidArgumentError, match="both by position and by name"):
        engine(a, a=a)
    with pytest.raises(kiln.InvalidArgumentError, match="3 positional inputs given"):
        engine(a, b, a)


def test_non_contiguous_input_is_accepted():
    model = make_model([helper.make_node("Neg", ["x"], ["y"])], [("x", TensorProto.FLOAT, [3, 2])],
                       [("y", TensorProto.FLOAT, [3, 2])])
    engine = kiln.build(model.SerializeToString())  # bytes
    x = np.arange(6, dtype=np.float32).reshape(2, 3).T  # Fortran-ordered view
    np.testing.assert_array_equal(engine(x)["y"], -x)


def test_save_load_round_trip(mlp, tmp_path):
    model, path = mlp
    built = kiln.build(path, min_shapes={"x": (1, 4)}, max_shapes={"x": (16, 4)})
    plan_path = tmp_path / "mlp.plan"
    built.save(plan_path)
    assert plan_path.stat().st_size > 0
    x = np.random.default_rng(2).standard_normal((7, 4)).astype(np.float32)
    expected = built({"x": x})["y"]
    for loaded in (kiln.load(plan_path), kiln.load(str(plan_path)), kiln.load(built.serialize())):
        np.testing.assert_array_equal(loaded({"x": x})["y"], expected)
        assert loaded.engine.get_tensor_profile_shape("x") == [(1, 4), (16, 4), (16, 4)]
    # The plan bytes are exactly what was saved.
    assert plan_path.read_bytes() == built.serialize()


def test_fp16_build_runs_close_to_reference(mlp):
    model, path = mlp
    x = np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32)
    outputs = kiln.build(path, fp16=True, shapes={"x": (4, 4)})({"x": x})
    np.testing.assert_allclose(outputs["y"], onnxruntime_outputs(model, {"x": x})["y"], atol=2e-2)


def test_build_network_definition_directly():
    network = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (2, 2))
    network.mark_output(network.add_unary(x, kiln.UnaryOperation.EXP).get_output(0))
    engine = kiln.build(network)
    x_value = np.array([[0, 1], [2, -1]], np.float32)
    (y,) = engine({"x": x_value}).values()
    np.testing.assert_allclose(y, np.exp(x_value), rtol=1e-6)


def test_calls_from_several_threads_share_one_engine(mlp):
    model, path = mlp
    engine = kiln.build(path, min_shapes={"x": (1, 4)}, max_shapes={"x": (8, 4)})
    rng = np.random.default_rng(4)
    batches = [rng.standard_normal((n, 4)).astype(np.float32) for n in (1, 3, 5, 8)]
    expected = [onnxruntime_outputs(model, {"x": b})["y"] for b in batches]
    results = [None] * len(batches)

    def work(i):
        for _ in range(5):
            results[i] = engine({"x": batches[i]})["y"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_repr_names_inputs_and_outputs(mlp):
    _, path = mlp
    text = repr(kiln.build(path, shapes={"x": (1, 4)}))
    assert "x: float32 (-1, 4)" in text and "y: float32" in text


def test_mixed_dtypes_and_int64_outputs():
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64),
                        helper.make_node("Shape", ["x"], ["s"])],
                       [("x", TensorProto.DOUBLE, ["n"])],
                       [("y", TensorProto.INT64, ["n"]), ("s", TensorProto.INT64, [1])])
    engine = kiln.build(model, min_shapes={"x": (1,)}, max_shapes={"x": (10,)})
    x = np.array([1.7, -2.2, 3.0], np.float64)
    outputs = engine(x)
    assert outputs["y"].dtype == np.int64
    np.testing.assert_array_equal(outputs["y"], x.astype(np.int64))
    np.testing.assert_array_equal(outputs["s"], [3])


class _DLPackOnly:
    """A tensor that offers only the DLPack protocol (as torch tensors do), on `device`."""

    def __init__(self, array, device=None):
        self._array = array
        self._device = device

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device or self._array.__dlpack_device__()


def test_dlpack_inputs_on_the_cpu_are_accepted_and_gpu_ones_refused():
    model = make_model([helper.make_node("Abs", ["x"], ["y"])], [("x", TensorProto.FLOAT, [4])],
                       [("y", TensorProto.FLOAT, [4])])
    engine = kiln.build(model)
    x = np.array([-1.5, 2.0, -3.0, 0.0], np.float32)
    np.testing.assert_array_equal(engine(_DLPackOnly(x))["y"], np.abs(x))
    with pytest.raises(kiln.InvalidArgumentError, match="float32, but the array given is int32"):
        engine(_DLPackOnly(np.arange(4, dtype=np.int32)))
    with pytest.raises(kiln.UnsupportedError, match="on a GPU"):
        engine(_DLPackOnly(x, device=(2, 0)))  # kDLCUDA


def test_bfloat16_outputs_use_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)],
                       [("x", TensorProto.FLOAT, [5])], [("y", TensorProto.BFLOAT16, [5])])
    engine = kiln.build(model)
    assert engine.outputs["y"].dtype == np.dtype(ml_dtypes.bfloat16)
    assert engine.engine.get_tensor_data_type("y") == kiln.DataType.BFLOAT16
    x = np.array([1.0, 1.00390625, -2.5, 3.14159, 65504.0], np.float32)
    y = engine(x)["y"]
    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y, x.astype(ml_dtypes.bfloat16))


def test_dtype_conversions():
    assert kiln.data_type(np.float32) == kiln.DataType.FLOAT32
    assert kiln.data_type("int64") == kiln.DataType.INT64
    assert kiln.data_type(np.dtype(bool)) == kiln.DataType.BOOL
    assert kiln.data_type("float8e4m3") == kiln.DataType.FLOAT8E4M3
    assert kiln.nptype(kiln.DataType.FLOAT16) == np.float16
    assert kiln.nptype(kiln.float64) == np.float64
    assert kiln.nptype(np.uint8) == np.uint8
    assert kiln.DataType.INT16.itemsize == 2 and kiln.DataType.FLOAT64.itemsize == 8
    assert kiln.volume((2, 3, 4)) == 24 and kiln.volume((-1, 3)) == -1 and kiln.volume(()) == 1
    with pytest.raises(kiln.InvalidArgumentError, match="byte order"):
        kiln.data_type(np.dtype(">f4"))
    with pytest.raises(kiln.InvalidArgumentError, match="not a data type"):
        kiln.data_type("no-such-type")


def test_cpu_torch_tensors_give_torch_tensors():
    torch = pytest.importorskip("torch")
    model = make_model([helper.make_node("Sub", ["a", "b"], ["d"])],
                       [("a", TensorProto.FLOAT, [2, 3]), ("b", TensorProto.FLOAT, [2, 3])],
                       [("d", TensorProto.FLOAT, [2, 3])])
    engine = kiln.build(model, device="cpu")
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    b = torch.full((2, 3), 0.5, requires_grad=True)
    d = engine(a, b)["d"]
    assert isinstance(d, torch.Tensor) and d.dtype == torch.float32
    assert torch.equal(d, (a - b).detach())
    with pytest.raises(kiln.InvalidArgumentError, match="float32, but the array given is int64"):
        engine(a.long(), b)
