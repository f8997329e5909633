"""Error cases: each raises kiln's exception (the subclass for its ErrorCode) with a message
that says what was wrong and where."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import kiln
from conftest import make_model, mlp_model


@pytest.fixture
def engine(mlp):
    _, path = mlp
    return kiln.build(path, min_shapes={"x": (1, 4)}, max_shapes={"x": (8, 4)})


def test_exception_hierarchy():
    assert issubclass(kiln.KilnError, RuntimeError)
    assert issubclass(kiln.InvalidArgumentError, kiln.KilnError)
    assert issubclass(kiln.InvalidArgumentError, ValueError)
    assert issubclass(kiln.FileError, OSError)
    assert issubclass(kiln.UnsupportedError, NotImplementedError)
    for cls in (kiln.InvalidModelError, kiln.InvalidPlanError, kiln.VersionMismatchError,
                kiln.ExecutionError, kiln.InternalError):
        assert issubclass(cls, kiln.KilnError)
    assert kiln.KilnError.__module__ == "kiln"


def test_missing_model_file(tmp_path):
    missing = tmp_path / "nothere.onnx"
    with pytest.raises(kiln.FileError, match="nothere.onnx") as info:
        kiln.build(missing)
    assert info.value.code == kiln.ErrorCode.IO
    with pytest.raises(kiln.FileError, match="nothere.onnx"):
        kiln.OnnxParser(kiln.NetworkDefinition(), kiln.Logger()).parse_from_file(str(missing))


def test_corrupt_model(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf model\xff\xff")
    with pytest.raises(kiln.InvalidModelError) as info:
        kiln.build(path)
    assert "corrupt.onnx" in str(info.value)
    assert info.value.code == kiln.ErrorCode.INVALID_MODEL
    with pytest.raises(kiln.InvalidModelError):
        kiln.build(b"\xff\xfe garbage")


def test_unsupported_operator_is_named():
    graph = helper.make_graph([helper.make_node("FancyOp", ["x"], ["y"], name="my_fancy_node",
                                                domain="com.example")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    with pytest.raises(kiln.UnsupportedError, match="my_fancy_node") as info:
        kiln.build(model)
    assert "FancyOp" in str(info.value)


def test_wrong_input_name_lists_the_inputs(engine):
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(kiln.InvalidArgumentError, match=r"'z' is not an input.*'x'"):
        engine({"z": x})
    with pytest.raises(kiln.InvalidArgumentError, match=r"'y' is an output, not an input"):
        engine({"x": x, "y": x})
    with pytest.raises(kiln.InvalidArgumentError, match=r"missing input 'x' \(float32"):
        engine({})


def test_wrong_shape(engine):
    with pytest.raises(kiln.InvalidArgumentError,
                       match=r"input 'x' has shape \(-1, 4\).*shape \(2, 5\)"):
        engine({"x": np.zeros((2, 5), np.float32)})
    with pytest.raises(kiln.InvalidArgumentError, match=r"shape \(8,\)"):
        engine({"x": np.zeros(8, np.float32)})
    with pytest.raises(kiln.InvalidArgumentError, match="outside the engine's optimization"):
        engine({"x": np.zeros((9, 4), np.float32)})


def test_wrong_dtype_names_input_and_both_dtypes(engine):
    with pytest.raises(kiln.InvalidArgumentError,
                       match=r"input 'x' is float32, but the array given is float64.*astype"):
        engine({"x": np.zeros((2, 4), np.float64)})
    with pytest.raises(kiln.InvalidArgumentError, match="cannot convert"):
        engine({"x": [["a", "b", "c", "d"]]})


def test_truncated_and_corrupted_plans(engine, tmp_path):
    plan = engine.serialize()
    with pytest.raises(kiln.InvalidPlanError, match="truncated"):
        kiln.load(plan[: len(plan) // 2])
    path = tmp_path / "cut.plan"
    path.write_bytes(plan[:-64])
    with pytest.raises(kiln.InvalidPlanError, match="truncated") as info:
        kiln.load(path)
    assert info.value.code == kiln.ErrorCode.INVALID_PLAN
    flipped = bytearray(plan)
    flipped[len(plan) - 10] ^= 0x40
    with pytest.raises(kiln.InvalidPlanError, match="checksum"):
        kiln.load(bytes(flipped))
    with pytest.raises(kiln.InvalidPlanError, match="not a kiln plan"):
        kiln.load(b"PK\x03\x04 a zip file, say")
    with pytest.raises(kiln.FileError, match="missing.plan"):
        kiln.load(tmp_path / "missing.plan")
    with pytest.raises(TypeError, match="bytes-like"):
        kiln.Runtime(kiln.Logger()).deserialize_engine(12345)


def test_plan_from_another_version(engine):
    plan = bytearray(engine.serialize())
    plan[16:32] = b"0.0.9".ljust(16, b"\0")  # the kiln_version field of the header
    with pytest.raises(kiln.VersionMismatchError, match="0.0.9") as info:
        kiln.load(bytes(plan))
    assert kiln.__version__ in str(info.value)


def test_save_to_missing_directory_leaves_nothing(engine, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.plan"
    with pytest.raises(kiln.FileError):
        engine.save(target)
    assert not (tmp_path / "no").exists()


def test_build_shape_arguments_are_checked(mlp):
    _, path = mlp
    with pytest.raises(kiln.InvalidArgumentError, match=r"input 'x' has the dynamic shape "
                       r"\(-1, 4\).*shapes=\{'x': \(1, 4\)\}"):
        kiln.build(path)
    with pytest.raises(kiln.InvalidArgumentError, match=r"names 'input'.*inputs are: 'x'"):
        kiln.build(path, shapes={"input": (1, 4)})
    with pytest.raises(kiln.InvalidArgumentError, match="either one fixed shape or a min/opt/max"):
        kiln.build(path, shapes={"x": (1, 4)}, max_shapes={"x": (4, 4)})
    with pytest.raises(kiln.InvalidArgumentError, match=r"the min shape \(2, 5\) does not fit"):
        kiln.build(path, shapes={"x": (2, 5)})
    with pytest.raises(kiln.InvalidArgumentError, match="min <= opt <= max"):
        kiln.build(path, min_shapes={"x": (4, 4)}, max_shapes={"x": (2, 4)})
    with pytest.raises(kiln.InvalidArgumentError, match="unknown device 'tpu'"):
        kiln.build(path, shapes={"x": (1, 4)}, device="tpu")


def test_static_input_shape_is_checked():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", TensorProto.FLOAT, [2, 3])],
                       [("y", TensorProto.FLOAT, [2, 3])])
    with pytest.raises(kiln.InvalidArgumentError, match=r"static shape \(2, 3\), not \(4, 3\)"):
        kiln.build(model, shapes={"x": (4, 3)})
    engine = kiln.build(model, shapes={"x": (2, 3)})  # its own shape is fine
    context = engine.engine.create_execution_context()
    with pytest.raises(kiln.InvalidArgumentError, match="static shape 2x3"):
        context.set_input_shape("x", (4, 3))


def test_absurd_sizes_are_errors_naming_the_tensor():
    """Sizes that overflow 64 bits or exceed KILN_MAX_TENSOR_BYTES are refused before anything
    is allocated, at build time where the shapes are known there, else when the engine runs."""
    reduce_max = helper.make_node("ReduceMax", ["big"], ["y"], keepdims=0)
    expand = helper.make_node("Expand", ["x", "shape"], ["big"], name="Expand_0")
    model = make_model([expand, reduce_max], [("x", TensorProto.FLOAT, [1])],
                       [("y", TensorProto.FLOAT, [])],
                       [("shape", np.array([1 << 62], dtype=np.int64))])
    with pytest.raises(kiln.InvalidArgumentError,
                       match=r"tensor 'big' \(output of node 'Expand_0', op Expand\) of shape "
                             r"4611686018427387904 float32 needs 18446744073709551616 bytes, "
                             r"more than the limit of \d+ bytes \(KILN_MAX_TENSOR_BYTES\)"):
        kiln.build(model, device="cpu")

    # The shape as an input: known only when the engine is called.
    model = make_model([expand, reduce_max],
                       [("x", TensorProto.FLOAT, [1]), ("shape", TensorProto.INT64, [1])],
                       [("y", TensorProto.FLOAT, [])])
    engine = kiln.build(model, device="cpu")
    x = np.array([2.5], dtype=np.float32)
    with pytest.raises(kiln.InvalidArgumentError, match=r"tensor 'big' \(output of node 'Expand_0'"):
        engine({"x": x, "shape": np.array([1 << 62], dtype=np.int64)})
    assert engine({"x": x, "shape": np.array([3], dtype=np.int64)})["y"] == 2.5

    # Input extents whose element count wraps, and ConstantOfShape of [2^62, 2^62].
    model = make_model([helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0)],
                       [("x", TensorProto.FLOAT, ["a", "b", "c"])], [("y", TensorProto.FLOAT, [])])
    with pytest.raises(kiln.InvalidArgumentError, match="input 'x' of shape 4294967296x4294967296x4294967296"):
        kiln.build(model, shapes={"x": (1 << 32,) * 3}, device="cpu")
    model = make_model([helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
                        reduce_max], [], [("y", TensorProto.FLOAT, [])],
                       [("shape", np.array([1 << 62, 1 << 62], dtype=np.int64))])
    with pytest.raises(kiln.InvalidArgumentError, match=r"tensor 'big' \(output of node 'fill', op ConstantOfShape\)"):
        kiln.build(model, device="cpu")


def test_execute_without_addresses(engine):
    context = engine.engine.create_execution_context()
    context.set_input_shape("x", (2, 4))
    with pytest.raises(kiln.InvalidArgumentError, match="no address set for input 'x'"):
        context.execute()
    with pytest.raises(TypeError, match="must be an int"):
        context.set_tensor_address("x", "0x1234")
    with pytest.raises(kiln.InvalidArgumentError, match="no input or output named 'q'"):
        context.set_tensor_address("q", 0)


def test_profile_errors():
    profile = kiln.OptimizationProfile()
    with pytest.raises(kiln.InvalidArgumentError, match="dim 0 needs min <= opt <= max"):
        profile.set_shape("x", (4, 2), (2, 2), (8, 2))
    with pytest.raises(kiln.InvalidArgumentError, match="same rank"):
        profile.set_shape("x", (1, 2), (2, 2), (8, 2, 1))
    with pytest.raises(kiln.InvalidArgumentError, match="negative extent"):
        profile.set_dimensions("x", kiln.OptProfileSelector.MIN, (-1, 2))
    with pytest.raises(kiln.InvalidArgumentError, match="no shapes for input 'y'"):
        profile.get_shape("y")


def test_network_misuse():
    network = kiln.NetworkDefinition()
    other = kiln.NetworkDefinition()
    x = network.add_input("x", kiln.float32, (2,))
    with pytest.raises(kiln.InvalidArgumentError, match="belongs to another network"):
        other.add_unary(x, kiln.UnaryOperation.NEG)
    with pytest.raises(kiln.InvalidArgumentError, match="sequence of integers"):
        network.add_input("y", kiln.float32, "2x3")
    with pytest.raises(kiln.InvalidArgumentError, match="no data type for numpy dtype 'complex64'"):
        network.add_input("y", np.complex64, (2,))
    with pytest.raises(kiln.InvalidArgumentError, match="bit mask"):
        network.add_reduce(x, kiln.ReduceOperation.SUM, 1, True)
    with pytest.raises(kiln.UnsupportedError, match="no op 'NoSuchOp'"):
        network.add_layer("NoSuchOp", [x])
    with pytest.raises(kiln.InvalidArgumentError, match="expected 6 weights"):
        network.add_constant((2, 3), np.zeros(5, np.float32))
    with pytest.raises(kiln.InvalidArgumentError, match="already holds a model"):
        kiln.OnnxParser(network, kiln.Logger()).parse(mlp_model())


def test_build_failure_names_the_layer():
    network = kiln.NetworkDefinition()
    a = network.add_input("a", kiln.float32, (2, 3))
    b = network.add_input("b", kiln.float32, (4, 5))
    layer = network.add_matrix_multiply(a, kiln.MatrixOperation.NONE, b, kiln.MatrixOperation.NONE)
    network.mark_output(layer.get_output(0))
    with pytest.raises(kiln.KilnError, match=layer.name):
        kiln.build(network)


def test_out_of_memory_is_a_kiln_error(tmp_path):
    """A failed host allocation (std::bad_alloc) raises kiln.OutOfMemoryError, not raw text.
    Run in a child whose address space is capped just above what it uses, so the 1 GiB
    activation of Expand cannot be allocated."""
    assert issubclass(kiln.OutOfMemoryError, kiln.KilnError)
    assert issubclass(kiln.OutOfMemoryError, MemoryError)
    nodes = [
        helper.make_node("Expand", ["x", "shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0),
    ]
    model = make_model(nodes, [("x", TensorProto.FLOAT, [1])], [("y", TensorProto.FLOAT, [])],
                       [("shape", np.array([1 << 28], dtype=np.int64))])
    path = tmp_path / "big.onnx"
    onnx.save(model, str(path))
    script = f"""
import resource, sys
import numpy as np
import kiln
engine = kiln.build({str(path)!r}, device="cpu")
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (256 << 20), vm + (256 << 20)))
try:
    engine({{"x": np.ones(1, dtype=np.float32)}})
except kiln.OutOfMemoryError as e:
    print("OOM", e.code, e)
    sys.exit(0)
except kiln.KilnError as e:
    print("KILN", type(e).__name__, e)
    sys.exit(0)
print("RAN")
"""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    # A kiln error that says what could not be allocated (the arena: ExecutionError; any other
    # allocation: OutOfMemoryError); never raw text or a crash.
    assert result.stdout.startswith(("OOM", "KILN")), result.stdout + result.stderr
    assert "out of host memory" in result.stdout, result.stdout
