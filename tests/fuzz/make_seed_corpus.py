#!/usr/bin/env python3
"""Writes the seed corpora of kiln's libFuzzer targets (tests/fuzz, scripts/fuzz).

    make_seed_corpus.py OUT --kiln KILN

OUT/onnx_import/    small ONNX models covering the importer's paths: convolutions, matrix
                    products, shape arithmetic, data-dependent shapes, control flow, Resize,
                    quantization, external data, several opsets
OUT/plan_reader/    the same models built into CPU plans with KILN (a `kiln` binary)
OUT/timing_cache/   a timing cache written by KILN
OUT/npy_reader/     .npy files of every dtype numpy writes, format versions 1.0, 2.0 and 3.0,
                    scalars and empty arrays
Deterministic: the same files every time, so a corpus can be regenerated instead of stored.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(
        nodes, "seed",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def seed_models():
    rng = np.random.default_rng(0)
    f = TensorProto.FLOAT
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    yield "conv_relu", model(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])],
        [("x", f, [1, 3, 8, 8])], [("y", f, [1, 4, 8, 8])],
        [("w", w), ("b", np.zeros(4, np.float32))])
    yield "matmul_add_softmax", model(
        [helper.make_node("MatMul", ["x", "w"], ["m"]),
         helper.make_node("Add", ["m", "b"], ["a"]),
         helper.make_node("Softmax", ["a"], ["y"], axis=-1)],
        [("x", f, ["N", 4])], [("y", f, ["N", 3])],
        [("w", rng.standard_normal((4, 3)).astype(np.float32)),
         ("b", np.ones(3, np.float32))])
    yield "shape_reshape", model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
         helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
         helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
         helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [("x", f, ["B", 2, 3])], [("y", f, ["B", 6])],
        [("i0", np.array(0, np.int64)), ("ax", np.array([0], np.int64)),
         ("minus1", np.array([-1], np.int64))])
    yield "nonzero_gather", model(
        [helper.make_node("NonZero", ["x"], ["nz"]),
         helper.make_node("Transpose", ["nz"], ["y"])],
        [("x", f, [3, 4])], [("y", TensorProto.INT64, None)])
    yield "expand_reduce", model(
        [helper.make_node("Expand", ["x", "shape"], ["e"]),
         helper.make_node("ReduceMax", ["e"], ["y"], keepdims=0)],
        [("x", f, [1, 4])], [("y", f, [])], [("shape", np.array([8, 4], np.int64))])
    yield "constant_of_shape", model(
        [helper.make_node("ConstantOfShape", ["s"], ["y"],
                          value=numpy_helper.from_array(np.array([1.5], np.float32)))],
        [("s", TensorProto.INT64, [2])], [("y", f, None)])
    then_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", f, [2])])
    else_graph = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", f, [2])])
    yield "if", model(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        [("c", TensorProto.BOOL, []), ("x", f, [2])], [("y", f, [2])])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", f, [2])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", f, [2])],
        [numpy_helper.from_array(np.ones(2, np.float32), "one")])
    yield "loop", model(
        [helper.make_node("Loop", ["n", "c", "v"], ["y"], body=body)],
        [("n", TensorProto.INT64, []), ("c", TensorProto.BOOL, []), ("v", f, [2])],
        [("y", f, [2])])
    yield "resize", model(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
        [("x", f, [1, 1, 4, 4])], [("y", f, [1, 1, 8, 8])],
        [("scales", np.array([1, 1, 2, 2], np.float32))], opset=19)
    yield "quantize", model(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        [("x", f, [4])], [("y", f, [4])],
        [("s", np.array(0.1, np.float32)), ("z", np.array(3, np.uint8))])
    yield "cast_int4", model(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT4)],
        [("x", f, [4])], [("y", TensorProto.INT4, [4])], opset=21)
    yield "old_opset_reshape", model(
        [helper.make_node("Reshape", ["x"], ["y"], shape=[2, 3])],
        [("x", f, [6])], [("y", f, [2, 3])], opset=1)
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], [("x", f, [4])], [("y", f, [4])],
              [("w", np.arange(4, dtype=np.float32))])
    tensor = m.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    yield "external_data", m


def seed_arrays():
    shapes = [(), (0,), (3,), (2, 3), (1, 0, 2)]
    dtypes = ["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32",
              "uint32", "int64", "uint64", "bool"]
    for dtype in dtypes:
        for shape in shapes:
            values = (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(dtype)
            yield f"{dtype}_{'x'.join(map(str, shape)) or 'scalar'}", values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--kiln", required=True, help="a kiln binary, to build the plan seeds")
    args = parser.parse_args()
    dirs = {name: os.path.join(args.out, name)
            for name in ("onnx_import", "plan_reader", "timing_cache", "npy_reader")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    for name, m in seed_models():
        path = os.path.join(dirs["onnx_import"], name + ".onnx")
        with open(path, "wb") as f:
            f.write(m.SerializeToString())
        plan = os.path.join(dirs["plan_reader"], name + ".plan")
        cache = os.path.join(dirs["timing_cache"], "cpu.cache")
        if name == "external_data":
            with open(os.path.join(dirs["onnx_import"], "weights.bin"), "wb") as f:
                f.write(np.arange(4, dtype=np.float32).tobytes())
        shapes = [f"--shapes={i.name}:2x" + "x".join(
                      str(d.dim_value) for d in i.type.tensor_type.shape.dim[1:])
                  for i in m.graph.input
                  if any(d.dim_param for d in i.type.tensor_type.shape.dim)]
        result = subprocess.run([args.kiln, "build", path, "-o", plan, "--device=cpu",
                                 "--timingCacheFile=" + cache, *shapes],
                                capture_output=True, text=True)
        if result.returncode != 0:  # some seeds need runtime data (If, Loop): importer only
            print(f"{name}: no plan seed ({result.stderr.strip().splitlines()[-1]})")
    for name, values in seed_arrays():
        for version in ((1, 0), (2, 0), (3, 0)):
            path = os.path.join(dirs["npy_reader"], f"{name}_v{version[0]}.npy")
            with open(path, "wb") as f:
                np.lib.format.write_array(f, values, version=version)
    counts = {name: len(os.listdir(d)) for name, d in dirs.items()}
    print("seed corpus:", ", ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
