#!/usr/bin/env python3
"""End-to-end tests of the `kiln` command-line tool.

Each test writes tiny ONNX models with onnx.helper into a temporary directory, runs the built
`kiln` binary on them, and checks what it prints and writes against values computed here with
numpy. Error cases check the CLI's contract: a non-zero exit, exactly one `kiln: error:` line
on stderr, no crash, and no partial output file. GPUs are hidden from kiln (CUDA_VISIBLE_DEVICES)
except in the tests of the GPU paths, which skip where no GPU can be used.

    cli_test.py --kiln build/bin/kiln                 # every test
    cli_test.py --kiln build/bin/kiln CliTest.test_x  # one test (how ctest runs them)
    cli_test.py --list                                # names, for tests/cli/tests.cmake
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

KILN = None  # path of the kiln binary, set from --kiln or $KILN_BIN

OPSET = 17

NUMPY_TO_ONNX = {
    np.dtype("float32"): TensorProto.FLOAT,
    np.dtype("float64"): TensorProto.DOUBLE,
    np.dtype("float16"): TensorProto.FLOAT16,
    np.dtype("int8"): TensorProto.INT8,
    np.dtype("uint8"): TensorProto.UINT8,
    np.dtype("int16"): TensorProto.INT16,
    np.dtype("uint16"): TensorProto.UINT16,
    np.dtype("int32"): TensorProto.INT32,
    np.dtype("uint32"): TensorProto.UINT32,
    np.dtype("int64"): TensorProto.INT64,
    np.dtype("uint64"): TensorProto.UINT64,
    np.dtype("bool"): TensorProto.BOOL,
}

# Weights of the MLP model (x @ W + b, then Relu), fixed so that expected values are exact to
# compute here.
MLP_W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5) / 4
MLP_B = np.array([0.25, -0.5, 1.0], dtype=np.float32)


def save_model(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def make_mlp(path, batch="batch", input_name="x"):
    """y = Relu(x @ W + b) with x: [batch, 4] (batch dynamic when a string)."""
    return save_model(
        path,
        [helper.make_node("MatMul", [input_name, "W"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["pre"]),
         helper.make_node("Relu", ["pre"], ["y"])],
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        [numpy_helper.from_array(MLP_W, "W"), numpy_helper.from_array(MLP_B, "b")])


def mlp_reference(x):
    return np.maximum(x.astype(np.float64) @ MLP_W.astype(np.float64) + MLP_B, 0)


CONV_W = np.sin(np.arange(3 * 2 * 3 * 3, dtype=np.float32)).reshape(3, 2, 3, 3)
CONV_B = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def make_conv(path):
    """Static Conv: x [1,2,5,5] -> y [1,3,5,5], 3x3 kernel, padding 1."""
    return save_model(
        path,
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[3, 3],
                          pads=[1, 1, 1, 1])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 5])],
        [numpy_helper.from_array(CONV_W, "W"), numpy_helper.from_array(CONV_B, "B")])


def conv_reference(x):
    """A plain float64 loop: y[n,m,i,j] = B[m] + sum x_padded[n,c,i+p,j+q] * W[m,c,p,q]."""
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, c, h, w = x.shape
    y = np.zeros((n, 3, h, w))
    for m in range(3):
        for i in range(h):
            for j in range(w):
                window = padded[:, :, i:i + 3, j:j + 3]
                y[:, m, i, j] = CONV_B[m] + np.sum(window * CONV_W[m].astype(np.float64),
                                                    axis=(1, 2, 3))
    return y


def make_identity(path, dtype, shape, input_name="x", output_names=("y",)):
    """One input copied to each of `output_names` by Identity nodes."""
    elem = NUMPY_TO_ONNX[np.dtype(dtype)]
    return save_model(
        path,
        [helper.make_node("Identity", [input_name], [name]) for name in output_names],
        [helper.make_tensor_value_info(input_name, elem, shape)],
        [helper.make_tensor_value_info(name, elem, shape) for name in output_names])


def save_npy(path, array, version=None):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version)
    return path


# ---------------------------------------------------------------- kiln exec's report

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
STAT_METRICS = ("Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency")
STAT_NAMES = ("min", "max", "mean", "median", "percentile(90%)", "percentile(95%)",
              "percentile(99%)")


def parse_summary(test, out):
    """The numbers of kiln exec's performance summary, checking every line's format: trtexec's
    `Throughput: X qps`, `<metric>: min = X ms, max = X ms, ..., percentile(99%) = X ms` and
    `Total Host Walltime: X s`."""
    test.assertIn("=== Performance summary ===", out)
    summary = {}
    match = re.search(rf"^Throughput: ({NUMBER}) qps$", out, re.M)
    test.assertIsNotNone(match, out)
    summary["Throughput"] = float(match.group(1))
    stats_pattern = ", ".join(re.escape(name) + rf" = ({NUMBER}) ms" for name in STAT_NAMES)
    for metric in STAT_METRICS:
        match = re.search(rf"^{metric}: {stats_pattern}$", out, re.M)
        test.assertIsNotNone(match, f"no well-formed '{metric}' line in:\n{out}")
        summary[metric] = dict(zip(STAT_NAMES, map(float, match.groups())))
    for metric in ("Total Host Walltime", "Total GPU Compute Time"):
        match = re.search(rf"^{metric}: ({NUMBER}) s$", out, re.M)
        test.assertIsNotNone(match, f"no '{metric}' line in:\n{out}")
        summary[metric] = float(match.group(1))
    match = re.search(r"^Timing trace has (\d+) queries over", out, re.M)
    test.assertIsNotNone(match, out)
    summary["queries"] = int(match.group(1))
    return summary


def trtexec_stats(values):
    """trtexec's statistics, computed independently: numpy's median (the mean of the middle
    two for an even count) and trtexec's percentile, the sorted value at index
    n - 1 - floor((1 - p/100) * n)."""
    values = np.sort(np.asarray(values, np.float64))
    n = len(values)
    stats = {"min": values[0], "max": values[-1], "mean": values.mean(),
             "median": np.median(values)}
    for p in (90, 95, 99):
        stats[f"percentile({p}%)"] = values[max(n - 1 - int((1 - p / 100) * n), 0)]
    return stats


def parse_profile_table(test, out):
    """Rows of the --dumpProfile table: (time, average, median, percent, layer)."""
    test.assertIn("=== Profile (", out)
    table = out[out.index("=== Profile ("):]
    rows = []
    for line in table.splitlines()[2:]:
        match = re.match(rf"^\s*({NUMBER})\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})   (.*)$", line)
        if not match:
            break
        rows.append((*map(float, match.groups()[:4]), match.group(5)))
    return rows


class CliTest(unittest.TestCase):
    # kiln builds for the GPU by default where one can be used. The tests check exact values
    # and CPU-only features, so they hide the GPUs (CUDA_VISIBLE_DEVICES="") unless a test
    # sets this to exercise the GPU paths (which it skips where there is no GPU).
    gpu_visible = False

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="kiln_cli_test_")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def kiln(self, *args, expect=0):
        """Runs kiln; checks the exit status and that it did not crash."""
        env = dict(os.environ)
        if not self.gpu_visible:
            env["CUDA_VISIBLE_DEVICES"] = ""
        result = subprocess.run([KILN, *map(str, args)], capture_output=True, text=True,
                                timeout=120, cwd=self.dir, env=env)
        self.assertGreaterEqual(result.returncode, 0,
                                f"kiln {' '.join(map(str, args))} died from a signal\n"
                                f"{result.stderr}")
        for marker in ("Traceback", "terminate called", "Segmentation", "Aborted",
                       "AddressSanitizer"):
            self.assertNotIn(marker, result.stderr)
        if expect is not None:
            self.assertEqual(result.returncode, expect,
                             f"kiln {' '.join(map(str, args))}\nstdout:\n{result.stdout}\n"
                             f"stderr:\n{result.stderr}")
        return result

    def kiln_error(self, *args, code=1, contains=()):
        """Runs kiln expecting a failure with exactly one `kiln: error:` line."""
        result = self.kiln(*args, expect=code)
        error_lines = [line for line in result.stderr.splitlines()
                       if line.startswith("kiln: error:")]
        self.assertEqual(len(error_lines), 1, f"stderr:\n{result.stderr}")
        for text in ([contains] if isinstance(contains, str) else contains):
            self.assertIn(text, error_lines[0], f"stderr:\n{result.stderr}")
        return result

    def assert_only_files(self, directory, names):
        """Nothing but `names` in `directory`: no partial or temporary file was left."""
        self.assertEqual(sorted(os.listdir(directory)), sorted(names))

    # ---------------------------------------------------------------- help, version, usage

    def test_version(self):
        for flag in ("--version", "version"):
            result = self.kiln(flag)
            self.assertRegex(result.stdout.strip(), r"^kiln \d+\.\d+\.\d+$")

    def test_help(self):
        for args in (["help"], ["--help"], ["-h"]):
            out = self.kiln(*args).stdout
            for command in ("build", "run", "inspect", "exec"):
                self.assertIn(command, out)
        for command, flag in (("build", "--minShapes"), ("run", "--output-dir"),
                              ("inspect", "--shapes"), ("exec", "--useCudaGraph")):
            self.assertIn(flag, self.kiln(command, "--help").stdout)
            self.assertIn(flag, self.kiln("help", command).stdout)
        # --help wins over anything else on the line, even flags it does not know.
        self.assertIn("usage: kiln build", self.kiln("build", "--bogus", "--help").stdout)

    def test_usage_errors_exit_2_with_usage_line(self):
        result = self.kiln_error(code=2, contains="no command")
        self.assertIn("usage:", result.stderr)
        result = self.kiln_error("frobnicate", code=2, contains="unknown command 'frobnicate'")
        self.assertIn("usage:", result.stderr)
        result = self.kiln_error("help", "frobnicate", code=2, contains="frobnicate")
        model = make_mlp(self.path("m.onnx"))
        result = self.kiln_error("build", model, code=2, contains="-o")
        self.assertIn("usage: kiln build", result.stderr)
        self.kiln_error("run", code=2, contains="missing the model")
        self.kiln_error("inspect", model, model, code=2, contains="expected one model")
        self.kiln_error("build", model, "-o", code=2, contains="needs a value")
        self.kiln_error("build", model, "-o", "a.plan", "-o", "b.plan", code=2,
                        contains="more than once")
        self.kiln_error("build", model, "-o", "a.plan", "--fp16=yes", code=2,
                        contains="takes no value")
        self.assert_only_files(self.dir, ["m.onnx"])

    def test_unknown_flag(self):
        model = make_mlp(self.path("m.onnx"))
        result = self.kiln_error("build", model, "-o", "m.plan", "--shape=x:1x4", code=2,
                                 contains=["unknown flag '--shape'", "did you mean --shapes"])
        self.assertIn("usage: kiln build", result.stderr)
        self.kiln_error("run", model, "--frobnicate", code=2, contains="--frobnicate")
        self.assert_only_files(self.dir, ["m.onnx"])

    # ---------------------------------------------------------------- build and run

    def test_build_then_run_plan_matches_numpy(self):
        model = make_mlp(self.path("mlp.onnx"))
        result = self.kiln("build", model, "-o", "mlp.plan", "--shapes=x:2x4")
        out = result.stdout
        for text in ("x", "y", "layers", "arena", "built in", "saved mlp.plan"):
            self.assertIn(text, out)
        self.assertRegex(out, r"x\s+float32\s+-1x4")
        # min = max: the builder may resolve the output's batch statically.
        self.assertRegex(out, r"y\s+float32\s+(-1|2)x3")
        self.assert_only_files(self.dir, ["mlp.onnx", "mlp.plan"])

        x = np.array([[1, -2, 3, 0.5], [-1, 0.25, 2, -3]], dtype=np.float32)
        save_npy(self.path("x.npy"), x)
        result = self.kiln("run", "mlp.plan", "--input", "x=x.npy", "--output-dir", "out")
        y = np.load(self.path("out", "y.npy"))
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (2, 3))
        expected = mlp_reference(x)
        self.assertTrue(np.allclose(y, expected, rtol=1e-5, atol=1e-6), f"{y}\n{expected}")
        # The printed summary: name, dtype, shape, min/max/mean and the first values.
        self.assertIn("output y: float32 2x3", result.stdout)
        stats = re.search(r"min (\S+)\s+max (\S+)\s+mean (\S+)", result.stdout)
        self.assertIsNotNone(stats, result.stdout)
        self.assertTrue(np.allclose([float(v) for v in stats.groups()],
                                    [expected.min(), expected.max(), expected.mean()],
                                    rtol=1e-4, atol=1e-6))
        first = re.search(r"first 6 of 6:(.*)", result.stdout).group(1).split()
        self.assertTrue(np.allclose([float(v) for v in first], expected.ravel(), rtol=1e-4,
                                    atol=1e-6))
        self.assert_only_files(self.path("out"), ["y.npy"])

    def test_shape_range_profile(self):
        model = make_mlp(self.path("mlp.onnx"))
        self.kiln("build", model, "-o", "mlp.plan", "--minShapes=x:1x4", "--optShapes=x:4x4",
                  "--maxShapes=x:8x4")
        out = self.kiln("inspect", "mlp.plan").stdout
        self.assertIn("min 1x4 opt 4x4 max 8x4", out)
        for batch in (1, 5, 8):
            x = np.random.default_rng(batch).uniform(-2, 2, (batch, 4)).astype(np.float32)
            save_npy(self.path("x.npy"), x)
            self.kiln("run", "mlp.plan", "--input", "x=x.npy", "--output-dir", "out")
            y = np.load(self.path("out", "y.npy"))
            self.assertEqual(y.shape, (batch, 3))
            self.assertTrue(np.allclose(y, mlp_reference(x), rtol=1e-5, atol=1e-6))
        # Outside the profile: a clear error, and no output written.
        save_npy(self.path("x9.npy"), np.zeros((9, 4), np.float32))
        self.kiln_error("run", "mlp.plan", "--input", "x=x9.npy", "--output-dir", "out9",
                        contains="x")
        self.assertFalse(os.path.exists(self.path("out9")))
        # A plan's dynamic input with no file and no --shapes runs at the profile's opt shape.
        self.kiln("run", "mlp.plan", "--output-dir", "opt")
        self.assertEqual(np.load(self.path("opt", "y.npy")).shape, (4, 3))
        self.kiln("run", "mlp.plan", "--shapes=x:6x4", "--output-dir", "six")
        self.assertEqual(np.load(self.path("six", "y.npy")).shape, (6, 3))

    def test_range_defaults_when_only_some_ends_are_given(self):
        model = make_mlp(self.path("mlp.onnx"))
        self.kiln("build", model, "-o", "a.plan", "--minShapes=x:1x4", "--maxShapes=x:8x4")
        self.assertIn("min 1x4 opt 8x4 max 8x4", self.kiln("inspect", "a.plan").stdout)
        self.kiln("build", model, "-o", "b.plan", "--optShapes=x:3x4")
        self.assertIn("min 3x4 opt 3x4 max 3x4", self.kiln("inspect", "b.plan").stdout)

    def test_flag_spellings(self):
        model = make_mlp(self.path("mlp.onnx"))
        self.kiln("build", model, "-o", "a.plan", "--shapes", "x:2x4")
        self.kiln("build", model, "--output=b.plan", "--shapes=x:2x4")
        self.kiln("build", "--saveEngine", "c.plan", "--shapes=x:2x4", model, "--verbose")
        self.kiln("build", model, "--output", "d.plan", "--minShapes", "x:1x4",
                  "--maxShapes", "x:2x4")
        for plan in "abcd":
            self.assertTrue(os.path.isfile(self.path(plan + ".plan")))
        x = np.ones((2, 4), np.float32)
        save_npy(self.path("x.npy"), x)
        self.kiln("run", "a.plan", "--input=x=x.npy", "--output-dir=o1", "--seed=3")
        self.kiln("run", "a.plan", "-i", "x=x.npy", "--outputDir", "o2", "--seed", "3")
        for out in ("o1", "o2"):
            self.assertTrue(np.allclose(np.load(self.path(out, "y.npy")), mlp_reference(x),
                                        rtol=1e-5, atol=1e-6))

    def test_run_onnx_directly(self):
        model = make_mlp(self.path("mlp.onnx"))
        x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
        save_npy(self.path("x.npy"), x)
        # The file's dims set the dynamic batch; no --shapes needed.
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "out")
        self.assertTrue(np.allclose(np.load(self.path("out", "y.npy")), mlp_reference(x),
                                    rtol=1e-5, atol=1e-6))
        # With --shapes and random inputs.
        result = self.kiln("run", model, "--shapes=x:5x4", "--output-dir", "rand")
        self.assertIn("output y: float32 5x3", result.stdout)
        self.assertEqual(np.load(self.path("rand", "y.npy")).shape, (5, 3))
        self.assert_only_files(self.dir, ["mlp.onnx", "x.npy", "out", "rand"])

    def test_dynamic_input_without_shapes_is_a_clear_error(self):
        model = make_mlp(self.path("mlp.onnx"))
        for command in (["run", model], ["inspect", model], ["build", model, "-o", "m.plan"]):
            self.kiln_error(*command, contains=["'x'", "--shapes=x:1x4"])
        self.assert_only_files(self.dir, ["mlp.onnx"])

    def test_static_conv(self):
        model = make_conv(self.path("conv.onnx"))
        x = np.cos(np.arange(50, dtype=np.float32)).reshape(1, 2, 5, 5)
        save_npy(self.path("x.npy"), x)
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "out")
        y = np.load(self.path("out", "y.npy"))
        expected = conv_reference(x)
        self.assertEqual(y.shape, (1, 3, 5, 5))
        self.assertTrue(np.allclose(y, expected, rtol=1e-5, atol=1e-6),
                        f"max diff {np.abs(y - expected).max()}")
        # Static models build and inspect without any shape flag.
        self.kiln("build", model, "-o", "conv.plan")
        out = self.kiln("inspect", "conv.plan").stdout
        self.assertRegex(out, r"x\s+float32\s+1x2x5x5")
        self.assertRegex(out, r"y\s+float32\s+1x3x5x5")
        self.kiln("run", "conv.plan", "--input", "x=x.npy", "--output-dir", "out2")
        self.assertTrue(np.allclose(np.load(self.path("out2", "y.npy")), expected, rtol=1e-5,
                                    atol=1e-6))
        out = self.kiln("inspect", model).stdout
        self.assertIn("ONNX model", out)
        self.assertIn("layers:", out)
        # A file whose shape differs from a static input is refused, naming the file.
        save_npy(self.path("bad.npy"), np.zeros((1, 2, 5, 6), np.float32))
        self.kiln_error("run", model, "--input", "x=bad.npy", contains=["bad.npy", "dim 3"])
        # A static input given its own shape with --shapes is fine; another shape is not.
        self.kiln("run", model, "--shapes=x:1x2x5x5")
        self.kiln_error("run", model, "--shapes=x:2x2x5x5", contains=["dim 0", "fixed at 1"])

    def test_data_dependent_output_shape(self):
        # NonZero's output extent depends on the values: kiln run sizes it after the run.
        model = save_model(
            self.path("nz.onnx"), [helper.make_node("NonZero", ["x"], ["y"])],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
            [helper.make_tensor_value_info("y", TensorProto.INT64, [2, None])])
        x = np.array([[0, 5, 0], [1, 0, 2]], np.float32)
        save_npy(self.path("x.npy"), x)
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "out")
        y = np.load(self.path("out", "y.npy"))
        self.assertTrue(np.array_equal(y, np.array(np.nonzero(x))), f"got {y}")

    def test_inspect_onnx_and_plan(self):
        model = make_mlp(self.path("mlp.onnx"))
        out = self.kiln("inspect", model, "--shapes=x:3x4").stdout
        for text in ("model:", "inputs:", "outputs:", "layers:", "memory:", "arena"):
            self.assertIn(text, out)
        self.kiln("build", model, "-o", "mlp.plan", "--shapes=x:3x4")
        out = self.kiln("inspect", "mlp.plan").stdout
        self.assertIn("kiln plan", out)
        self.assertIn("min 3x4 opt 3x4 max 3x4", out)
        self.kiln_error("inspect", "mlp.plan", "--shapes=x:3x4", contains="ONNX models only")

    def test_precision_flags(self):
        model = make_mlp(self.path("mlp.onnx"))
        out = self.kiln("build", model, "-o", "h.plan", "--shapes=x:2x4", "--fp16").stdout
        self.assertIn("fp16 allowed", out)
        out = self.kiln("build", model, "-o", "b.plan", "--shapes=x:2x4", "--bf16",
                        "--noTF32").stdout
        self.assertIn("bf16 allowed", out)
        x = np.array([[1, -2, 3, 0.5], [-1, 0.25, 2, -3]], dtype=np.float32)
        save_npy(self.path("x.npy"), x)
        for plan in ("h.plan", "b.plan"):
            self.kiln("run", plan, "--input", "x=x.npy", "--output-dir", "o")
            # Reduced precision may be used: compare at bfloat16's resolution.
            self.assertTrue(np.allclose(np.load(self.path("o", "y.npy")), mlp_reference(x),
                                        rtol=2e-2, atol=2e-2))

    # ---------------------------------------------------------------- random inputs, names

    def test_random_inputs_are_seeded(self):
        for dtype, shape in (("float32", [64]), ("int64", [64]), ("bool", [64]),
                             ("float16", [64]), ("float64", [64]), ("uint8", [64])):
            model = make_identity(self.path(f"id_{dtype}.onnx"), dtype, shape)
            values = {}
            for seed in (5, 5, 6):
                self.kiln("run", model, "--seed", seed, "--output-dir", f"o_{seed}")
                values.setdefault(seed, []).append(np.load(self.path(f"o_{seed}", "y.npy")))
            a, b = values[5]
            c = values[6][0]
            self.assertEqual(a.dtype, np.dtype(dtype))
            self.assertTrue(np.array_equal(a, b), f"{dtype}: same seed, different values")
            self.assertFalse(np.array_equal(a, c), f"{dtype}: seed ignored")
            if dtype == "bool":
                self.assertTrue(a.any() and not a.all())
            elif dtype.startswith("float"):
                self.assertTrue(np.all(a >= -1) and np.all(a < 1) and a.min() < -0.5 and
                                a.max() > 0.5, f"{dtype}: {a}")
            else:
                self.assertTrue(np.all(a >= 0) and np.all(a < 10) and len(set(a.tolist())) > 5,
                                f"{dtype}: {a}")
        # The default seed is fixed too: two runs agree.
        model = self.path("id_float32.onnx")
        self.kiln("run", model, "--output-dir", "d1")
        self.kiln("run", model, "--output-dir", "d2")
        self.assertTrue(np.array_equal(np.load(self.path("d1", "y.npy")),
                                       np.load(self.path("d2", "y.npy"))))

    def test_bfloat16_inputs_and_outputs_use_float32_files(self):
        save_model(self.path("bf16.onnx"), [helper.make_node("Identity", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [4])],
                   [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [4])])
        # 1 + 2^-8 is halfway between two bfloat16 values: rounds to even (1.0); the others
        # are exact in bfloat16.
        x = np.array([1.5, -2.25, 1 + 2.0 ** -8, 3.015625], np.float32)
        save_npy(self.path("x.npy"), x)
        out = self.kiln("run", "bf16.onnx", "--input", "x=x.npy", "--output-dir", "o").stdout
        self.assertIn("bfloat16 saved as float32", out)
        y = np.load(self.path("o", "y.npy"))
        self.assertEqual(y.dtype, np.float32)
        self.assertTrue(np.array_equal(y, [1.5, -2.25, 1.0, 3.015625]), y)
        self.kiln("run", "bf16.onnx", "--output-dir", "r")
        y = np.load(self.path("r", "y.npy"))
        self.assertTrue(np.all(y >= -1) and np.all(y < 1))
        save_npy(self.path("x64.npy"), x.astype(np.float64))
        self.kiln_error("run", "bf16.onnx", "--input", "x=x64.npy", contains="float32")

    def test_output_names_are_sanitized(self):
        model = make_identity(self.path("names.onnx"), "float32", [2],
                              output_names=("out:0", "a/b c", "a:b c", "ok-name_1.v2"))
        x = np.array([1.5, -2.5], np.float32)
        save_npy(self.path("x.npy"), x)
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "out")
        # 'a/b c' and 'a:b c' both sanitize to a_b_c: the second gets a suffix.
        self.assert_only_files(self.path("out"),
                               ["out_0.npy", "a_b_c.npy", "a_b_c_2.npy", "ok-name_1.v2.npy"])
        for name in os.listdir(self.path("out")):
            self.assertTrue(np.array_equal(np.load(self.path("out", name)), x))

    def test_output_dir_is_all_or_nothing(self):
        long_name = "n" * (1 << 20)  # 1 MB: longer than any file name may be
        model = make_identity(self.path("two.onnx"), "float32", [2],
                              output_names=("a", "b", long_name))
        x = np.array([1.5, -2.5], np.float32)
        save_npy(self.path("x.npy"), x)
        # A new directory appears with every output, the over-long name shortened with a hash.
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "fresh")
        files = sorted(os.listdir(self.path("fresh")))
        self.assertEqual(files[:2], ["a.npy", "b.npy"])
        self.assertEqual(len(files), 3)
        self.assertRegex(files[2], r"^n{180}-[0-9a-f]{16}\.npy$")
        for name in files:
            self.assertTrue(np.array_equal(np.load(self.path("fresh", name)), x))
        # Into a directory with files, where one destination cannot be replaced: nothing is
        # written, the old a.npy stays, and no staging directory or temporary file remains.
        os.makedirs(self.path("old", "b.npy"))
        save_npy(self.path("old", "a.npy"), np.zeros(2, np.float32))
        self.kiln_error("run", model, "--input", "x=x.npy", "--output-dir", "old",
                        contains="b.npy")
        self.assert_only_files(self.path("old"), ["a.npy", "b.npy"])
        self.assertTrue(np.array_equal(np.load(self.path("old", "a.npy")), [0, 0]))
        # Once it can, the run replaces every old output.
        os.rmdir(self.path("old", "b.npy"))
        self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "old")
        self.assertEqual(len(os.listdir(self.path("old"))), 3)
        self.assertTrue(np.array_equal(np.load(self.path("old", "a.npy")), x))
        self.assert_only_files(self.dir, ["two.onnx", "x.npy", "fresh", "old"])

    def test_input_names_with_colons_and_equals(self):
        model = make_mlp(self.path("colon.onnx"), input_name="in:0")
        x = np.ones((2, 4), np.float32)
        save_npy(self.path("x.npy"), x)
        # The dims follow the LAST ':' of a shape item.
        self.kiln("run", model, "--shapes=in:0:3x4", "--output-dir", "a")
        self.assertEqual(np.load(self.path("a", "y.npy")).shape, (3, 3))
        self.kiln("run", model, "--shapes='in:0':2x4", "--output-dir", "q")
        self.assertEqual(np.load(self.path("q", "y.npy")).shape, (2, 3))
        self.kiln("build", model, "-o", "c.plan", "--minShapes=in:0:1x4",
                  "--maxShapes=in:0:4x4")
        self.kiln("run", "c.plan", "--input", "in:0=x.npy", "--output-dir", "b")
        self.assertTrue(np.allclose(np.load(self.path("b", "y.npy")), mlp_reference(x),
                                    rtol=1e-5, atol=1e-6))
        model = make_identity(self.path("eq.onnx"), "float32", [2], input_name="a=b")
        save_npy(self.path("v.npy"), np.array([3, 4], np.float32))
        self.kiln("run", model, "--input", "a=b=v.npy", "--output-dir", "e")
        self.assertTrue(np.array_equal(np.load(self.path("e", "y.npy")), [3, 4]))

    # ---------------------------------------------------------------- .npy reading and writing

    def test_npy_round_trip_every_dtype_and_version(self):
        rng = np.random.default_rng(0)
        for dtype in NUMPY_TO_ONNX:
            shape = (2, 3)
            if dtype == np.bool_:
                x = rng.integers(0, 2, shape).astype(bool)
            elif dtype.kind == "f":
                x = rng.normal(0, 100, shape).astype(dtype)
            else:
                info = np.iinfo(dtype)
                x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
            model = make_identity(self.path(f"id_{dtype}.onnx"), dtype, list(shape))
            for version in ((1, 0), (2, 0), (3, 0)):
                save_npy(self.path("x.npy"), x, version)
                self.kiln("run", model, "--input", "x=x.npy", "--output-dir", "out")
                y = np.load(self.path("out", "y.npy"))
                self.assertEqual(y.dtype, x.dtype)
                self.assertEqual(y.shape, x.shape)
                self.assertTrue(np.array_equal(x, y), f"{dtype} {version}")
                # What kiln writes is exactly what numpy writes for the same array.
                with open(self.path("out", "y.npy"), "rb") as f:
                    written = f.read()
                save_npy(self.path("ref.npy"), x, (1, 0))
                with open(self.path("ref.npy"), "rb") as f:
                    self.assertEqual(written, f.read(), str(dtype))

    def test_npy_scalar_and_empty_arrays(self):
        model = make_identity(self.path("scalar.onnx"), "float32", [])
        save_npy(self.path("s.npy"), np.array(2.5, np.float32))
        out = self.kiln("run", model, "--input", "x=s.npy", "--output-dir", "o").stdout
        y = np.load(self.path("o", "y.npy"))
        self.assertEqual(y.shape, ())
        self.assertEqual(float(y), 2.5)
        self.assertIn("min 2.5  max 2.5  mean 2.5", out)
        model = make_identity(self.path("empty.onnx"), "float32", ["n", 3])
        save_npy(self.path("e.npy"), np.zeros((0, 3), np.float32))
        out = self.kiln("run", model, "--input", "x=e.npy", "--output-dir", "o").stdout
        self.assertEqual(np.load(self.path("o", "y.npy")).shape, (0, 3))
        self.assertIn("empty", out)

    def test_npy_errors_name_the_file(self):
        model = make_identity(self.path("id.onnx"), "float32", [2, 3])
        good = np.arange(6, dtype=np.float32).reshape(2, 3)
        save_npy(self.path("good.npy"), good)
        with open(self.path("good.npy"), "rb") as f:
            data = f.read()
        save_npy(self.path("big.npy"), good.astype(">f4"))
        save_npy(self.path("fortran.npy"), np.asfortranarray(good))
        with open(self.path("truncated.npy"), "wb") as f:
            f.write(data[:-5])
        with open(self.path("header.npy"), "wb") as f:
            f.write(data[:30])
        with open(self.path("notnpy.npy"), "wb") as f:
            f.write(b"just some text, not an array\n")
        with open(self.path("badversion.npy"), "wb") as f:
            f.write(data[:6] + b"\x07\x00" + data[8:])
        with open(self.path("badheader.npy"), "wb") as f:
            f.write(data.replace(b"'fortran_order'", b"'fortran_ordeX'"))
        save_npy(self.path("f64.npy"), good.astype(np.float64))
        save_npy(self.path("complex.npy"), good.astype(np.complex64))
        cases = {
            "big.npy": "big-endian",
            "fortran.npy": "Fortran",
            "truncated.npy": "truncated",
            "header.npy": "truncated header",
            "notnpy.npy": "not a valid .npy",
            "badversion.npy": "version 7.0",
            "badheader.npy": "fortran_ordeX",
            "f64.npy": "float64",
            "complex.npy": "<c8",
            "missing.npy": "no such file",
        }
        for name, text in cases.items():
            self.kiln_error("run", model, "--input", f"x={name}", "--output-dir", "out",
                            contains=[name, text])
        self.assertFalse(os.path.exists(self.path("out")))
        self.kiln_error("run", model, "--input", "nosuch=good.npy",
                        contains=["no input named 'nosuch'", "inputs: x"])
        self.kiln_error("run", model, "--input", "good.npy", contains="NAME=FILE.npy")
        self.kiln_error("run", model, "--input", "x=good.npy", "--input", "x=good.npy",
                        contains="more than once")

    # ---------------------------------------------------------------- error cases

    def test_missing_and_corrupt_models(self):
        self.kiln_error("run", "nothere.onnx", contains=["nothere.onnx", "no such file"])
        self.kiln_error("build", "nothere.onnx", "-o", "x.plan", contains="nothere.onnx")
        self.kiln_error("inspect", "nothere.plan", contains="nothere.plan")
        os.mkdir(self.path("adir.onnx"))
        self.kiln_error("run", "adir.onnx", contains="directory")
        with open(self.path("corrupt.onnx"), "wb") as f:
            f.write(b"\x08\x07garbage that is not a protobuf\xff\xff\xff")
        for command in (["run", "corrupt.onnx"], ["inspect", "corrupt.onnx"],
                        ["build", "corrupt.onnx", "-o", "corrupt.plan"]):
            self.kiln_error(*command, contains="corrupt.onnx")
        self.assert_only_files(self.dir, ["adir.onnx", "corrupt.onnx"])

    def test_unsupported_nodes_are_one_error_with_details(self):
        graph = helper.make_graph(
            [helper.make_node("NoSuchOp", ["x"], ["t"], name="first"),
             helper.make_node("AlsoMissing", ["t"], ["y"], name="second")],
            "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.save(model, self.path("unsupported.onnx"))
        result = self.kiln_error("build", "unsupported.onnx", "-o", "u.plan")
        # Every unsupported node is reported at once, below the one error line.
        self.assertIn("first", result.stderr)
        self.assertIn("second", result.stderr)
        self.assertFalse(os.path.exists(self.path("u.plan")))

    # ------------------------------------------------ hostile models (the importer's checks)

    def save_relu(self, name, node_name="relu", opset=OPSET, ir_version=8, out_type=None,
                  attrs=None):
        """y = Relu(x), x float [2]; `attrs` (a list of AttributeProtos) go on the node as is."""
        node = helper.make_node("Relu", ["x"], ["y"], name=node_name)
        node.attribute.extend(attrs or [])
        graph = helper.make_graph(
            [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", out_type or TensorProto.FLOAT, [2])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir_version
        onnx.save(model, self.path(name))
        return name

    def test_external_data_through_symlinks(self):
        outside = tempfile.TemporaryDirectory(prefix="kiln_cli_outside_")
        self.addCleanup(outside.cleanup)
        weights = np.array([3.0, -1.0], dtype=np.float32)
        with open(os.path.join(outside.name, "passwd"), "wb") as f:
            f.write(weights.tobytes())
        os.symlink(outside.name, self.path("sub"))
        os.mkdir(self.path("weights"))
        with open(self.path("weights", "w.bin"), "wb") as f:
            f.write(weights.tobytes())
        os.symlink("weights/w.bin", self.path("inside.bin"))
        os.mkfifo(self.path("fifo"))

        def model_reading(location):
            w = numpy_helper.from_array(weights, "w")
            w.ClearField("raw_data")
            w.data_location = TensorProto.EXTERNAL
            w.external_data.add(key="location", value=location)
            graph = helper.make_graph(
                [helper.make_node("Mul", ["x", "w"], ["y"])], "g",
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], initializer=[w])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
            model.ir_version = 8
            onnx.save(model, self.path("model.onnx"))
            return "model.onnx"

        # A symlinked folder leading out of the model's folder: refused, naming the tensor,
        # the location and why.
        self.kiln_error("build", model_reading("sub/passwd"), "-o", "out.plan",
                        contains=["tensor 'w'", "'sub/passwd'", "outside the model's folder"])
        self.assertFalse(os.path.exists(self.path("out.plan")))
        # A FIFO: refused without opening it (which would block: the timeout would fire).
        self.kiln_error("build", model_reading("fifo"), "-o", "out.plan",
                        contains=["'fifo'", "a FIFO, not a regular file"])
        # A symlink within the folder to a file within it: read.
        save_npy(self.path("x.npy"), np.array([1.0, 2.0], dtype=np.float32))
        self.kiln("run", model_reading("inside.bin"), "--input", "x=x.npy", "--output-dir", "out")
        np.testing.assert_array_equal(np.load(self.path("out", "y.npy")), [3.0, -2.0])

    def test_strict_models(self):
        duplicate = [helper.make_attribute("alpha", 1.0), helper.make_attribute("alpha", 2.0)]
        self.kiln_error("build", self.save_relu("dup.onnx", attrs=duplicate), "-o", "dup.plan",
                        contains=["'relu'", "two attributes named 'alpha'"])
        self.kiln_error("build", self.save_relu("new.onnx", opset=99), "-o", "new.plan",
                        contains="opset 99 of domain '' is newer than the newest kiln supports")
        self.kiln_error("build", self.save_relu("ir0.onnx", ir_version=0), "-o", "ir0.plan",
                        contains="ir_version 0")
        self.kiln_error("build", self.save_relu("ir99.onnx", ir_version=99), "-o", "ir99.plan",
                        contains="IR version 99, newer than the newest this kiln knows")
        self.kiln_error("build", self.save_relu("int.onnx", out_type=TensorProto.INT64),
                        "-o", "int.plan",
                        contains=["graph output 'y'", "INT64", "kiln infers FLOAT"])
        self.assert_only_files(self.dir, ["dup.onnx", "new.onnx", "ir0.onnx", "ir99.onnx",
                                          "int.onnx"])

    def test_misspelled_attribute_is_an_error(self):
        """Conv with `Pads` used to run unpadded (1x4x6x6 where the graph says 1x4x8x8)."""
        def save_conv(name, attrs):
            w = numpy_helper.from_array(np.ones((4, 2, 3, 3), dtype=np.float32), "w")
            node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv1",
                                    kernel_shape=[3, 3], **attrs)
            graph = helper.make_graph(
                [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [w])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
            model.ir_version = 8
            onnx.save(model, self.path(name))
            return name

        self.kiln_error("build", save_conv("typo.onnx", {"Pads": [1, 1, 1, 1]}), "-o", "typo.plan",
                        contains=["ONNX node 'conv1' (Conv)", "attribute 'Pads'", "opset 13",
                                  "did you mean 'pads'?"])
        self.kiln_error("inspect", save_conv("int.onnx", {"pads": 1}),
                        contains=["'conv1'", "attribute 'pads' is INT", "declares it INTS"])
        self.assert_only_files(self.dir, ["typo.onnx", "int.onnx"])
        self.kiln("build", save_conv("good.onnx", {"pads": [1, 1, 1, 1]}), "-o", "good.plan")

    def test_hostile_names_are_escaped_and_shortened(self):
        name = "evil\n\x1b[2J\x1b]0;pwned\x07" + "n" * (1 << 20)
        duplicate = [helper.make_attribute("alpha", 1.0), helper.make_attribute("alpha", 2.0)]
        result = self.kiln_error("inspect", self.save_relu("evil.onnx", node_name=name,
                                                           attrs=duplicate),
                                 contains=["evil\\n\\x1B[2J", "bytes, hash "])
        self.assertNotIn("\x1b", result.stderr)
        self.assertNotIn("\x07", result.stderr)
        self.assertLess(len(result.stderr), 2000)

    def test_deeply_nested_subgraphs(self):
        def nested_ifs(depth):
            """y = If(c) whose then branch is an If(c) ... `depth` deep; else branches and the
            innermost then branch copy x. Built in place: onnx.helper copies each subgraph
            through protobuf's parser, which refuses messages nested over 100 deep."""
            model = helper.make_model(helper.make_graph(
                [], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                          helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
                opset_imports=[helper.make_opsetid("", OPSET)])
            model.ir_version = 8
            graph, out = model.graph, "y"
            for level in range(depth):
                node = graph.node.add(op_type="If", name=f"if{level}", input=["c"],
                                      output=[out])
                then_branch = node.attribute.add(name="then_branch",
                                                 type=onnx.AttributeProto.GRAPH).g
                else_branch = node.attribute.add(name="else_branch",
                                                 type=onnx.AttributeProto.GRAPH).g
                else_branch.name, then_branch.name = f"else{level}", f"then{level}"
                else_branch.node.add(op_type="Identity", input=["x"], output=[f"e{level}"])
                else_branch.output.add(name=f"e{level}")
                out = f"t{level}"
                then_branch.output.add(name=out)
                graph = then_branch
            graph.node.add(op_type="Identity", input=["x"], output=[out])
            path = self.path(f"nested{depth}.onnx")
            with open(path, "wb") as f:
                f.write(model.SerializeToString())
            return path

        # 32 levels (which used to fail as "protobuf parse failed") import and run.
        save_npy(self.path("c.npy"), np.array(False))
        save_npy(self.path("x.npy"), np.array([1.5, -2.0], dtype=np.float32))
        self.kiln("run", nested_ifs(32), "--input", "c=c.npy", "--input", "x=x.npy",
                  "--output-dir", "out")
        np.testing.assert_array_equal(np.load(self.path("out", "y.npy")), [1.5, -2.0])
        # Past kiln's limit of 64 levels of subgraphs, and past the parser's message nesting.
        self.kiln_error("inspect", nested_ifs(65),
                        contains=["'if64'", "nested 65 levels deep", "at most 64 levels"])
        self.kiln_error("inspect", nested_ifs(90),
                        contains=["nests protobuf messages more than", "the parser's limit"])

    def test_truncated_and_foreign_plans(self):
        model = make_mlp(self.path("mlp.onnx"))
        self.kiln("build", model, "-o", "mlp.plan", "--shapes=x:2x4")
        with open(self.path("mlp.plan"), "rb") as f:
            plan = f.read()
        with open(self.path("half.plan"), "wb") as f:
            f.write(plan[:len(plan) // 2])
        with open(self.path("flipped.plan"), "wb") as f:
            f.write(plan[:len(plan) // 2] + bytes([plan[len(plan) // 2] ^ 0xff]) +
                    plan[len(plan) // 2 + 1:])
        with open(self.path("empty.plan"), "wb") as f:
            pass
        for name in ("half.plan", "flipped.plan", "empty.plan"):
            for command in ("run", "inspect"):
                self.kiln_error(command, name)
        # An ONNX model under another name is read as a plan, and the error says so.
        os.rename(model, self.path("model.bin"))
        self.kiln_error("run", "model.bin", contains=".onnx")

    def test_bad_shape_specs(self):
        model = make_mlp(self.path("mlp.onnx"))
        cases = {
            "x:1x?": "x:1x?",
            "x1x4": "no ':'",
            "x:": "no dims",
            ":2x4": "empty input name",
            "x:2x4,": "empty item",
            "x:-1x4": "-1",
            "x:2x4,x:3x4": "more than once",
        }
        for spec, text in cases.items():
            self.kiln_error("build", model, "-o", "m.plan", f"--shapes={spec}",
                            contains=["--shapes", text])
            self.kiln_error("run", model, f"--shapes={spec}", contains=text)
        self.kiln_error("build", model, "-o", "m.plan", "--minShapes=x:1x4,y:zz",
                        contains=["--minShapes", "y:zz"])
        # Well-formed but wrong for this model.
        self.kiln_error("build", model, "-o", "m.plan", "--shapes=q:2x4",
                        contains=["'q'", "not an input", "inputs: x"])
        self.kiln_error("build", model, "-o", "m.plan", "--shapes=x:2x4x1",
                        contains=["has 2 dims"])
        self.kiln_error("build", model, "-o", "m.plan", "--shapes=x:2x5",
                        contains=["dim 1", "fixed at 4"])
        self.kiln_error("build", model, "-o", "m.plan", "--minShapes=x:4x4",
                        "--maxShapes=x:2x4", contains="min <= opt <= max")
        self.kiln_error("build", model, "-o", "m.plan", "--shapes=x:2x4",
                        "--maxShapes=x:2x4", contains="both")
        self.kiln_error("run", model, "--seed", "abc", contains=["--seed", "abc"])
        self.assert_only_files(self.dir, ["mlp.onnx"])

    def test_no_partial_outputs(self):
        model = make_mlp(self.path("mlp.onnx"))
        # Into a directory that does not exist: refused before building.
        self.kiln_error("build", model, "-o", "nodir/m.plan", "--shapes=x:2x4",
                        contains="nodir")
        self.assertFalse(os.path.exists(self.path("nodir")))
        # Over the model itself: refused, model intact.
        with open(model, "rb") as f:
            before = f.read()
        self.kiln_error("build", model, "-o", model, "--shapes=x:2x4", contains="model itself")
        with open(model, "rb") as f:
            self.assertEqual(f.read(), before)
        # A failed build leaves nothing behind, not even over an existing plan.
        with open(self.path("old.plan"), "wb") as f:
            f.write(b"previous contents")
        self.kiln_error("build", model, "-o", "old.plan", "--shapes=x:2x5")
        with open(self.path("old.plan"), "rb") as f:
            self.assertEqual(f.read(), b"previous contents")
        # --output-dir naming a file.
        with open(self.path("afile"), "w") as f:
            f.write("x")
        self.kiln_error("run", model, "--shapes=x:1x4", "--output-dir", "afile",
                        contains="afile")
        self.assert_only_files(self.dir, ["mlp.onnx", "old.plan", "afile"])
        # Writes that fail at the last step (the rename onto a directory) leave no temporary
        # file behind.
        os.makedirs(self.path("out", "y.npy"))
        self.kiln_error("run", model, "--shapes=x:1x4", "--output-dir", "out",
                        contains="out/y.npy")
        self.assert_only_files(self.path("out"), ["y.npy"])
        os.makedirs(self.path("plans", "m.plan"))
        self.kiln_error("build", model, "-o", "plans/m.plan", "--shapes=x:1x4")
        self.assert_only_files(self.path("plans"), ["m.plan"])
        self.assert_only_files(self.path("plans", "m.plan"), [])
        if os.geteuid() != 0:  # root ignores permissions
            os.mkdir(self.path("ro"))
            os.chmod(self.path("ro"), 0o500)
            try:
                self.kiln_error("run", model, "--shapes=x:1x4", "--output-dir", "ro",
                                contains="ro/y.npy")
                self.kiln_error("build", model, "-o", "ro/m.plan", "--shapes=x:1x4")
                self.assert_only_files(self.path("ro"), [])
            finally:
                os.chmod(self.path("ro"), 0o700)

    # ---------------------------------------------------------------- absurd sizes
    # Shapes whose element count or byte size overflows, or exceeds KILN_MAX_TENSOR_BYTES, are
    # one clear error naming the tensor (no crash, no empty tensor, no .npy written).

    def make_reduce_max(self, name, dims):
        return save_model(
            self.path(name),
            [helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0)],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])

    def test_input_dim_of_2_to_the_62(self):
        model = self.make_reduce_max("r.onnx", ["n"])
        result = self.kiln_error("run", model, "--device=cpu", "--shapes=x:4611686018427387904",
                                 "--output-dir", "out",
                                 contains=["input 'x'", "4611686018427387904 float32",
                                           "18446744073709551616 bytes",
                                           "KILN_MAX_TENSOR_BYTES"])
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assert_only_files(self.dir, ["r.onnx"])

    def test_input_whose_element_count_wraps(self):
        model = self.make_reduce_max("r2.onnx", ["a", "b"])
        self.kiln_error("run", model, "--device=cpu", "--shapes=x:1099511627776x1099511627776",
                        "--output-dir", "out",
                        contains=["input 'x'", "1099511627776x1099511627776",
                                  "KILN_MAX_TENSOR_BYTES"])
        self.assert_only_files(self.dir, ["r2.onnx"])
        # Static dims in the model: [2^32]^3 elements wrap to 0 in 64 bits.
        model = self.make_reduce_max("r3.onnx", [1 << 32] * 3)
        self.kiln_error("run", model, "--device=cpu", "--output-dir", "out",
                        contains=["input 'x'", "4294967296x4294967296x4294967296"])
        self.assert_only_files(self.dir, ["r2.onnx", "r3.onnx"])

    def test_constant_of_shape_and_expand_too_large(self):
        big = np.array([1 << 62, 1 << 62], dtype=np.int64)
        model = save_model(
            self.path("cos.onnx"),
            [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill"),
             helper.make_node("ReduceMax", ["big"], ["y"], keepdims=0)],
            [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
            [numpy_helper.from_array(big, "shape")])
        self.kiln_error("run", model, "--device=cpu", "--output-dir", "out",
                        contains=["tensor 'big' (output of node 'fill', op ConstantOfShape)",
                                  "KILN_MAX_TENSOR_BYTES"])
        # Expand to a shape read from the input file: refused as the engine runs.
        model = save_model(
            self.path("expand.onnx"),
            [helper.make_node("Expand", ["x", "shape"], ["e"], name="Expand_0"),
             helper.make_node("ReduceMax", ["e"], ["y"], keepdims=0)],
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
             helper.make_tensor_value_info("shape", TensorProto.INT64, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
        save_npy(self.path("shape.npy"), np.array([1 << 62], dtype=np.int64))
        self.kiln_error("run", model, "--device=cpu", "--input", "shape=shape.npy",
                        "--output-dir", "out",
                        contains=["tensor 'e' (output of node 'Expand_0', op Expand)",
                                  "18446744073709551616 bytes", "KILN_MAX_TENSOR_BYTES"])
        self.assert_only_files(self.dir, ["cos.onnx", "expand.onnx", "shape.npy"])

    def test_max_tensor_bytes_from_the_environment(self):
        model = make_mlp(self.path("mlp.onnx"))
        old = os.environ.get("KILN_MAX_TENSOR_BYTES")
        os.environ["KILN_MAX_TENSOR_BYTES"] = "1000"
        try:
            # x is 300x4 float32 = 4800 bytes.
            self.kiln_error("run", model, "--device=cpu", "--shapes=x:300x4",
                            contains=["input 'x' of shape 300x4 float32 needs 4800 bytes, more "
                                      "than the limit of 1000 bytes (KILN_MAX_TENSOR_BYTES)"])
            self.kiln("run", model, "--device=cpu", "--shapes=x:2x4")
            # The limit bounds every allocation: at 100 bytes each 2x4 tensor fits, but the
            # activation arena (its slots aligned to 256 bytes) does not.
            os.environ["KILN_MAX_TENSOR_BYTES"] = "100"
            self.kiln_error("run", model, "--device=cpu", "--shapes=x:2x4",
                            contains=["activation arena needs",
                                      "more than the limit of 100 bytes (KILN_MAX_TENSOR_BYTES)"])
        finally:
            if old is None:
                del os.environ["KILN_MAX_TENSOR_BYTES"]
            else:
                os.environ["KILN_MAX_TENSOR_BYTES"] = old

    # ---------------------------------------------------------------- kiln exec

    # Short measurements: CI machines are small and shared.
    QUICK = ("--iterations=20", "--duration=0", "--warmUp=0")

    def test_exec_summary_on_cpu(self):
        model = make_mlp(self.path("mlp.onnx"))
        out = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=cpu",
                        *self.QUICK, "--exportTimes=times.json").stdout
        self.assertIn("building engine for CPU", out)
        self.assertRegex(out, rf"built the engine in {NUMBER} ms")
        self.assertRegex(out, r"x\s+float32\s+2x4")
        self.assertRegex(out, r"y\s+float32\s+2x3")
        summary = parse_summary(self, out)
        self.assertGreaterEqual(summary["queries"], 20)
        for metric in STAT_METRICS:
            stats = summary[metric]
            self.assertLessEqual(stats["min"], stats["median"], metric)
            self.assertLessEqual(stats["median"], stats["max"], metric)
            self.assertLessEqual(stats["min"], stats["mean"], metric)
            self.assertLessEqual(stats["mean"], stats["max"], metric)
            self.assertLessEqual(stats["percentile(90%)"], stats["percentile(95%)"], metric)
            self.assertLessEqual(stats["percentile(95%)"], stats["percentile(99%)"], metric)
        # A CPU engine copies nothing between host and device, and says so.
        for metric in ("H2D Latency", "D2H Latency"):
            self.assertEqual(set(summary[metric].values()), {0.0}, metric)
        self.assertIn("CPU engine", out)
        self.assertGreater(summary["GPU Compute Time"]["max"], 0)

        # The summary is what the exported traces say, computed here independently.
        with open(self.path("times.json")) as f:
            times = json.load(f)
        self.assertEqual(len(times), summary["queries"])
        fields = ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs",
                  "endComputeMs", "startD2hMs", "endD2hMs", "h2dMs", "computeMs", "d2hMs",
                  "latencyMs", "endToEndMs", "stream")
        for t in times:
            self.assertEqual(set(t), set(fields))
            self.assertAlmostEqual(t["computeMs"], t["endComputeMs"] - t["startComputeMs"],
                                   places=5)
            self.assertAlmostEqual(t["latencyMs"], t["h2dMs"] + t["computeMs"] + t["d2hMs"],
                                   places=5)
            self.assertLessEqual(t["startH2dMs"], t["endD2hMs"])
        for metric, field in (("GPU Compute Time", "computeMs"), ("Latency", "latencyMs"),
                              ("Enqueue Time", "endEnqMs")):
            values = [t[field] - (t["startEnqMs"] if field == "endEnqMs" else 0) for t in times]
            expected = trtexec_stats(values)
            for name in STAT_NAMES:
                # Printed with 6 significant digits; the JSON with 9 (enqueue times are
                # differences of timestamps, exact to about 1e-5 ms).
                self.assertTrue(np.isclose(summary[metric][name], expected[name], rtol=2e-5,
                                           atol=5e-5 if field == "endEnqMs" else 2e-6),
                                f"{metric} {name}: {summary[metric][name]} vs {expected[name]}")
        walltime_s = (max(t["endD2hMs"] for t in times) -
                      min(t["startH2dMs"] for t in times)) / 1000
        self.assertTrue(np.isclose(summary["Total Host Walltime"], walltime_s, rtol=1e-4))
        self.assertTrue(np.isclose(summary["Throughput"], len(times) / walltime_s, rtol=1e-4))
        self.assertTrue(np.isclose(summary["Total GPU Compute Time"],
                                   sum(t["computeMs"] for t in times) / 1000, rtol=1e-4))

    def test_exec_duration_and_warmup(self):
        make_mlp(self.path("mlp.onnx"))
        out = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=cpu",
                        "--iterations=3", "--duration=0.3", "--warmUp=100").stdout
        summary = parse_summary(self, out)
        # It ran for at least the duration (less the time of one run, which is tiny here)...
        self.assertGreaterEqual(summary["Total Host Walltime"], 0.29)
        self.assertGreater(summary["queries"], 3)
        # ...after warming up for at least --warmUp milliseconds.
        match = re.search(rf"^Warmup completed (\d+) queries over ({NUMBER}) ms$", out, re.M)
        self.assertIsNotNone(match, out)
        self.assertGreater(int(match.group(1)), 0)
        self.assertGreaterEqual(float(match.group(2)), 100)
        # --verbose adds the averages of every --avgRuns runs and the metrics' meaning.
        out = self.kiln("exec", "mlp.onnx", "--shapes=x:2x4", "--device=cpu", "--iterations=9",
                        "--duration=0", "--warmUp=0", "--avgRuns=3", "--verbose",
                        "--percentile=50,99.9").stdout
        averages = re.findall(r"^Average on 3 runs - GPU latency: .* ms - Host latency: .* ms "
                              r"\(enqueue .* ms\)$", out, re.M)
        self.assertGreaterEqual(len(averages), 3)
        self.assertIn("Explanations of the performance metrics", out)
        self.assertIsNotNone(re.search(rf"median = {NUMBER} ms, percentile\(50%\) = {NUMBER} ms, "
                                       rf"percentile\(99.9%\) = {NUMBER} ms$", out, re.M), out)

    def test_exec_profile(self):
        make_conv(self.path("conv.onnx"))
        out = self.kiln("exec", "--onnx=conv.onnx", "--device=cpu", *self.QUICK,
                        "--dumpProfile", "--separateProfileRun",
                        "--exportProfile=profile.json").stdout
        rows = parse_profile_table(self, out)
        self.assertGreaterEqual(len(rows), 2, out)  # at least one layer and the total
        layers, total = rows[:-1], rows[-1]
        self.assertEqual(total[4], "Total")
        self.assertAlmostEqual(total[3], 100.0, places=1)
        times = [row[0] for row in layers]
        self.assertEqual(times, sorted(times, reverse=True))  # longest first
        self.assertTrue(np.isclose(sum(times), total[0], atol=0.01 * len(layers) + 1e-9))
        # The layers are the plan's, as kiln inspect names them.
        described = self.kiln("inspect", "conv.onnx", "--device=cpu").stdout
        for row in layers:
            self.assertIn(row[4], described)

        with open(self.path("profile.json")) as f:
            profile = json.load(f)
        count = profile[0]["count"]
        self.assertEqual(set(profile[0]), {"count"})
        self.assertGreaterEqual(count, 20)
        self.assertIn(f"=== Profile ({count} iterations", out)
        entries = profile[1:]
        self.assertEqual([e["name"] for e in entries], [row[4] for row in layers])
        for entry in entries:
            self.assertEqual(set(entry), {"name", "timeMs", "averageMs", "medianMs",
                                          "percentage"})
            self.assertTrue(np.isclose(entry["averageMs"], entry["timeMs"] / count, rtol=1e-6))
            self.assertGreaterEqual(entry["timeMs"], 0)
        self.assertTrue(np.isclose(sum(e["percentage"] for e in entries), 100, atol=1e-3))

    def test_exec_plans_streams_and_save(self):
        make_mlp(self.path("mlp.onnx"))
        # --saveEngine, then --loadEngine of what it saved.
        out = self.kiln("exec", "--onnx=mlp.onnx", "--device=cpu", "--minShapes=x:1x4",
                        "--optShapes=x:4x4", "--maxShapes=x:8x4", "--saveEngine=mlp.plan",
                        "--skipInference").stdout
        self.assertIn("saved engine to mlp.plan", out)
        self.assertNotIn("Performance summary", out)
        self.assertIn("min 1x4 opt 4x4 max 8x4", self.kiln("inspect", "mlp.plan").stdout)
        # Without --shapes a plan runs at its profile's opt shape, with it at that shape.
        out = self.kiln("exec", "--loadEngine=mlp.plan", *self.QUICK).stdout
        self.assertRegex(out, r"x\s+float32\s+4x4")
        parse_summary(self, out)
        out = self.kiln("exec", "--loadEngine=mlp.plan", "--shapes=x:7x4", *self.QUICK).stdout
        self.assertRegex(out, r"y\s+float32\s+7x3")
        # As in trtexec, --shapes with a range picks the run's shape within the range.
        out = self.kiln("exec", "--onnx=mlp.onnx", "--device=cpu", "--minShapes=x:1x4",
                        "--maxShapes=x:8x4", "--shapes=x:5x4", *self.QUICK).stdout
        self.assertRegex(out, r"y\s+float32\s+5x3")
        self.kiln_error("exec", "--onnx=mlp.onnx", "--device=cpu", "--minShapes=x:1x4",
                        "--maxShapes=x:8x4", "--shapes=x:9x4", *self.QUICK, contains="9x4")
        self.kiln_error("exec", "--loadEngine=mlp.plan", "--shapes=x:9x4", *self.QUICK,
                        contains=["9x4", "profile"])
        self.kiln_error("exec", "--loadEngine=mlp.plan", "--shapes=q:2x4", *self.QUICK,
                        contains=["'q'", "not an input"])
        self.kiln_error("exec", "--loadEngine=mlp.plan", "--maxShapes=x:9x4",
                        contains="--onnx")
        self.kiln_error("exec", "--loadEngine=mlp.plan", "--device=gpu", contains="cpu engine")
        # Two contexts run concurrently: both show up in the traces.
        out = self.kiln("exec", "--loadEngine=mlp.plan", "--infStreams=2", "--iterations=20",
                        "--duration=0.1", "--warmUp=0", "--exportTimes=t.json").stdout
        self.assertIn("2 streams", out)
        summary = parse_summary(self, out)
        with open(self.path("t.json")) as f:
            times = json.load(f)
        self.assertEqual(len(times), summary["queries"])
        self.assertEqual({t["stream"] for t in times}, {0, 1})
        # trtexec's older spelling, and flags kiln accepts and ignores.
        out = self.kiln("exec", "--loadEngine=mlp.plan", "--streams=2", "--workspace=1024",
                        "--useSpinWait", *self.QUICK).stdout
        self.assertIn("--workspace is accepted for trtexec and ignored", out)
        parse_summary(self, out)

    def test_exec_errors(self):
        make_mlp(self.path("mlp.onnx"))
        # Command lines that cannot be understood: exit 2 with the usage line.
        for args, text in ((["--iteration=5"], "did you mean --iterations"),
                           (["--useCudaGraph=1"], "takes no value"),
                           (["--duration"], "needs a value"),
                           (["--iterations=3", "--iterations=4"], "more than once")):
            result = self.kiln_error("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", *args, code=2,
                                     contains=text)
            self.assertIn("usage: kiln exec", result.stderr)
        self.kiln_error("exec", code=2, contains="missing the model")
        self.kiln_error("exec", "--onnx=mlp.onnx", "--loadEngine=m.plan", code=2,
                        contains="one model")
        # Bad values: exit 1, naming the flag and the value.
        for flag, text in (("--iterations=0", "at least 1"), ("--iterations=abc", "abc"),
                           ("--duration=-1", "-1"), ("--duration=3s", "3s"),
                           ("--warmUp=x", "--warmUp"), ("--infStreams=0", "--infStreams"),
                           ("--infStreams=1000", "at most"), ("--avgRuns=0", "--avgRuns"),
                           ("--percentile=101", "above 100"), ("--device=tpu", "tpu")):
            self.kiln_error("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", flag,
                            contains=flag.split("=")[0])
            self.kiln_error("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", flag, contains=text)
        # Dynamic input without a shape.
        self.kiln_error("exec", "--onnx=mlp.onnx", "--device=cpu", contains="--shapes=x:1x4")
        # Missing and corrupt plans: clear errors naming the file.
        self.kiln_error("exec", "--loadEngine=nothere.plan",
                        contains=["nothere.plan", "no such file"])
        with open(self.path("corrupt.plan"), "wb") as f:
            f.write(b"KILN" + bytes(range(256)) * 4)
        self.kiln_error("exec", "--loadEngine=corrupt.plan", contains="corrupt.plan")
        with open(self.path("empty.plan"), "wb"):
            pass
        self.kiln_error("exec", "--loadEngine=empty.plan", contains="empty.plan")
        self.kiln("build", "mlp.onnx", "-o", "mlp.plan", "--shapes=x:2x4", "--device=cpu")
        with open(self.path("mlp.plan"), "rb") as f:
            plan = f.read()
        with open(self.path("half.plan"), "wb") as f:
            f.write(plan[:len(plan) // 2])
        self.kiln_error("exec", "--loadEngine=half.plan", contains="half.plan")
        self.kiln_error("exec", "--onnx=nothere.onnx", contains="nothere.onnx")
        # Outputs that could not be written are refused before anything runs, leaving nothing.
        for flag in ("--exportTimes", "--exportProfile", "--saveEngine"):
            self.kiln_error("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=cpu",
                            f"{flag}=nodir/out.json", contains=[flag, "nodir"])
        self.kiln_error("exec", "--loadEngine=mlp.plan", "--saveEngine=copy.plan",
                        contains="--saveEngine")
        self.assert_only_files(self.dir, ["mlp.onnx", "mlp.plan", "corrupt.plan", "empty.plan",
                                          "half.plan"])

    def test_device_flag(self):
        self.gpu_visible = True
        make_mlp(self.path("mlp.onnx"))
        self.kiln_error("build", "mlp.onnx", "-o", "m.plan", "--shapes=x:2x4", "--device=tpu",
                        contains=["--device", "tpu"])
        out = self.kiln("build", "mlp.onnx", "-o", "cpu.plan", "--shapes=x:2x4",
                        "--device=cpu").stdout
        self.assertIn("on cpu", out)
        self.assertIn("device: cpu", self.kiln("inspect", "cpu.plan").stdout)
        self.kiln_error("run", "cpu.plan", "--device=gpu", contains="--device")
        self.kiln_error("run", "cpu.plan", "--fp16", contains=["--fp16", "ONNX"])
        # Without --device, build picks the GPU only where one can be used, and says so
        # otherwise.
        out = self.kiln("build", "mlp.onnx", "-o", "default.plan", "--shapes=x:2x4").stdout
        if "on gpu" not in out:
            self.assertIn("note: no GPU can be used", out)
            self.assertIn("on cpu", out)
        # --device=gpu where no GPU can be used: one clear error, for exec and run.
        result = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=gpu",
                           *self.QUICK, expect=None)
        if result.returncode != 0:
            self.kiln_error("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=gpu",
                            contains="no GPU can be used")
            self.kiln_error("run", "mlp.onnx", "--shapes=x:2x4", "--device=gpu",
                            contains="GPU")

    def test_exec_and_run_on_gpu(self):
        """The GPU paths; skipped where no GPU can be used (CI), run on a GPU machine."""
        self.gpu_visible = True
        make_mlp(self.path("mlp.onnx"))
        probe = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--device=gpu",
                          "--skipInference", "--saveEngine=gpu.plan", expect=None)
        result = self.kiln("exec", "--loadEngine=gpu.plan", *self.QUICK, expect=None)
        if probe.returncode != 0 or "no GPU can be used" in result.stderr:
            self.skipTest("no GPU: " + (probe.stderr or result.stderr).strip())
        self.assertEqual(result.returncode, 0, result.stderr)
        out = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", *self.QUICK,
                        "--exportTimes=t.json").stdout
        self.assertIn("building engine for GPU", out)
        summary = parse_summary(self, out)
        self.assertNotIn("CPU engine", out)
        self.assertGreater(summary["H2D Latency"]["max"], 0)
        self.assertGreater(summary["D2H Latency"]["max"], 0)
        self.assertGreater(summary["GPU Compute Time"]["min"], 0)
        with open(self.path("t.json")) as f:
            times = json.load(f)
        for t in times:  # H2D, then compute, then D2H, on one stream
            self.assertLessEqual(t["startH2dMs"], t["endH2dMs"])
            self.assertLessEqual(t["endH2dMs"], t["startComputeMs"] + 1e-6)
            self.assertLessEqual(t["endComputeMs"], t["startD2hMs"] + 1e-6)
        expected = trtexec_stats([t["computeMs"] for t in times])
        self.assertTrue(np.isclose(summary["GPU Compute Time"]["median"], expected["median"],
                                   rtol=2e-5, atol=2e-6))
        # CUDA graphs: captured without falling back.
        out = self.kiln("exec", "--loadEngine=gpu.plan", "--useCudaGraph", *self.QUICK).stdout
        self.assertNotIn("capture failed", out)
        self.assertIn("CUDA graphs", out)
        parse_summary(self, out)
        # No transfers: H2D and D2H are exactly 0.
        summary = parse_summary(self, self.kiln("exec", "--loadEngine=gpu.plan",
                                                "--noDataTransfers", *self.QUICK).stdout)
        self.assertEqual(set(summary["H2D Latency"].values()), {0.0})
        self.assertEqual(set(summary["D2H Latency"].values()), {0.0})
        # Streams, together with graphs.
        out = self.kiln("exec", "--loadEngine=gpu.plan", "--infStreams=3", "--useCudaGraph",
                        *self.QUICK, "--exportTimes=s.json").stdout
        parse_summary(self, out)
        with open(self.path("s.json")) as f:
            self.assertEqual({t["stream"] for t in json.load(f)}, {0, 1, 2})
        # Per-layer GPU times.
        out = self.kiln("exec", "--loadEngine=gpu.plan", *self.QUICK, "--dumpProfile").stdout
        rows = parse_profile_table(self, out)
        self.assertEqual(rows[-1][4], "Total")
        self.assertGreater(rows[-1][0], 0)
        # kiln run copies the inputs in and the outputs out.
        x = np.array([[1, -2, 3, 0.5], [-1, 0.25, 2, -3]], dtype=np.float32)
        save_npy(self.path("x.npy"), x)
        out = self.kiln("run", "gpu.plan", "--input", "x=x.npy", "--output-dir", "o").stdout
        self.assertIn("ran on the GPU", out)
        # TF32 matrix math is allowed by default: compare at its resolution.
        self.assertTrue(np.allclose(np.load(self.path("o", "y.npy")), mlp_reference(x),
                                    rtol=2e-3, atol=2e-3))
        self.kiln("run", "mlp.onnx", "--device=gpu", "--input", "x=x.npy", "--output-dir", "p")
        self.assertTrue(np.allclose(np.load(self.path("p", "y.npy")), mlp_reference(x),
                                    rtol=2e-3, atol=2e-3))
        # fp16 mixed precision builds and runs.
        out = self.kiln("exec", "--onnx=mlp.onnx", "--shapes=x:2x4", "--fp16", *self.QUICK).stdout
        self.assertIn("fp16 allowed", out)
        parse_summary(self, out)


def main():
    global KILN
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        for name in unittest.defaultTestLoader.getTestCaseNames(CliTest):
            print(f"CliTest.{name}")
        return 0
    if len(args) >= 2 and args[0] == "--kiln":
        KILN = os.path.abspath(args[1])
        args = args[2:]
    else:
        KILN = os.environ.get("KILN_BIN")
    if not KILN or not os.access(KILN, os.X_OK):
        print("cli_test.py: give the kiln binary with --kiln PATH or $KILN_BIN", file=sys.stderr)
        return 2
    program = unittest.main(module=__name__, argv=[sys.argv[0], "-v", *args], exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
