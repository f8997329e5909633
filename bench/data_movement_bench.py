"""Bandwidth of the CUDA data-movement kernels (Transpose, Gather) on one-op ONNX models.

Usage: python3 bench/data_movement_bench.py KILN [KILN ...]   (e.g. an old and a new build)

Each case is a chain of N identical nodes (self-inverse permutations; for Gather, N nodes reading
one input), timed with `kiln exec --useCudaGraph --noDataTransfers`; the per-op time is
(T(N) - T(1)) / (N - 1), which leaves out the graph launch. Bandwidth counts the bytes read and
written once each. Chains keep part of the working set in L2, so the chain figures can exceed
DRAM bandwidth; the single-node figures (T(1)) include the launch and are the conservative ones.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

N = 21


def transpose_chain(shape, perm, n):
    nodes, cur = [], "x"
    for i in range(n):
        nodes.append(helper.make_node("Transpose", [cur], [f"t{i}"], perm=perm))
        cur = f"t{i}"
    out_shape = shape if n % 2 == 0 else [shape[p] for p in perm]
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, shape)],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT16, out_shape)])


def gather_fan(shape, n):
    nodes, inits, outs = [], [], []
    for i in range(n):
        inits.append(numpy_helper.from_array(np.array(i % shape[0], dtype=np.int64), f"idx{i}"))
        nodes.append(helper.make_node("Gather", ["x", f"idx{i}"], [f"g{i}"], axis=0))
        outs.append(helper.make_tensor_value_info(f"g{i}", TensorProto.FLOAT16, shape[1:]))
    return helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, shape)], outs,
        initializer=inits)


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def median_ms(kiln, path):
    r = subprocess.run([kiln, "exec", f"--onnx={path}", "--useCudaGraph", "--noDataTransfers",
                        "--duration=1", "--warmUp=100", "--iterations=50"],
                       capture_output=True, text=True)
    m = re.search(r"GPU Compute Time: .*?median = ([0-9.e+-]+) ms", r.stdout)
    if not m:
        sys.stderr.write(r.stdout[-1500:] + r.stderr[-1500:])
        return float("nan")
    return float(m.group(1))


CASES = [
    ("transpose [64,197,12,64] perm(0,2,1,3)",
     lambda n: transpose_chain([64, 197, 12, 64], [0, 2, 1, 3], n), 64 * 197 * 12 * 64 * 2),
    ("transpose [64,12,197,64] perm(0,1,3,2)",
     lambda n: transpose_chain([64, 12, 197, 64], [0, 1, 3, 2], n), 64 * 197 * 12 * 64 * 2),
    ("gather index 0, axis 0 of [3,64,12,197,64]",
     lambda n: gather_fan([3, 64, 12, 197, 64], n), 64 * 197 * 12 * 64 * 2),
]


def main():
    kilns = sys.argv[1:]
    if not kilns:
        sys.exit(__doc__)
    work = tempfile.mkdtemp()
    one, many = os.path.join(work, "one.onnx"), os.path.join(work, "many.onnx")
    print("| case | " + " | ".join(f"{os.path.basename(k)}: us/op (T(1) us), GB/s"
                                    for k in kilns) + " |")
    for name, make, nbytes in CASES:
        save(make(1), one)
        save(make(N), many)
        row = []
        for kiln in kilns:
            t1, tn = median_ms(kiln, one), median_ms(kiln, many)
            per_op_us = (tn - t1) / (N - 1) * 1e3
            row.append(f"{per_op_us:.1f} ({t1 * 1e3:.1f}), {2 * nbytes / per_op_us / 1e3:.0f}")
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
