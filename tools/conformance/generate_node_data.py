#!/usr/bin/env python3
"""Writes the installed onnx package's node backend tests to disk.

onnx wheels since 1.16 no longer ship backend/test/data/node: the node tests (one model per op
case, at the newest opsets) live only as Python code that onnx's own runner loads at import time.
This script writes them in the usual on-disk layout, so kiln_conformance can run them like every
other suite:

    OUT/<test>/model.onnx
    OUT/<test>/test_data_set_<i>/input_<j>.pb, output_<j>.pb
    OUT/<test>/data.json          only where the case sets its own rtol/atol

Usage: generate_node_data.py OUT

The data is written once per onnx version (OUT/.onnx_version records it) into a temporary folder
that is renamed into place, so an interrupted run never leaves a half-written suite behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-7


def serialize_value(value, value_info, numpy_helper, TensorProto) -> bytes:
    """The bytes of one input or output file, by the graph's declared type, as onnx's own
    generate-data tool writes them."""
    kind = value_info.type.WhichOneof("value")
    if kind == "map_type":
        return numpy_helper.from_dict(value, value_info.name).SerializeToString()
    if kind == "sequence_type":
        return numpy_helper.from_list(value, value_info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, value_info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, value_info.name).SerializeToString()


def write_case(case, case_dir: str, numpy_helper, TensorProto) -> None:
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    if case.rtol != DEFAULT_RTOL or case.atol != DEFAULT_ATOL:
        with open(os.path.join(case_dir, "data.json"), "w") as f:
            json.dump({"rtol": case.rtol, "atol": case.atol}, f, sort_keys=True)
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        set_dir = os.path.join(case_dir, f"test_data_set_{i}")
        os.makedirs(set_dir)
        for j, value in enumerate(inputs):
            with open(os.path.join(set_dir, f"input_{j}.pb"), "wb") as f:
                f.write(serialize_value(value, graph.input[j], numpy_helper, TensorProto))
        for j, value in enumerate(outputs):
            with open(os.path.join(set_dir, f"output_{j}.pb"), "wb") as f:
                f.write(serialize_value(value, graph.output[j], numpy_helper, TensorProto))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.abspath(sys.argv[1])
    try:
        import onnx
        from onnx import TensorProto, numpy_helper
        from onnx.backend.test.loader import load_node_model_tests
    except ImportError as e:
        # Not fatal: the conformance run then has no onnx/node suite and says so.
        print(f"generate_node_data: onnx is not importable ({e}); no node tests written",
              file=sys.stderr)
        return 0

    stamp = os.path.join(out, ".onnx_version")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read().strip() == onnx.__version__:
                return 0

    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with warnings.catch_warnings():
        # The cases compute their expected outputs with numpy, some on purpose with inf/nan.
        warnings.simplefilter("ignore")
        cases = load_node_model_tests()
    written = 0
    for case in cases:
        if case.model is None or not case.data_sets:
            continue
        write_case(case, os.path.join(tmp, case.name), numpy_helper, TensorProto)
        written += 1
    with open(os.path.join(tmp, ".onnx_version"), "w") as f:
        f.write(onnx.__version__ + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print(f"generate_node_data: wrote {written} onnx {onnx.__version__} node tests to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
