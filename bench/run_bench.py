#!/usr/bin/env python3
"""kiln against torch eager and torch.compile(mode="reduce-overhead") on one GPU, same run.

For each model and batch: torch eager and torch.compile in FP32 (TF32 allowed, as kiln's and
TensorRT's FP32 default) and FP16 (the model in half precision); kiln built from the ONNX export
of the same model (static shapes) in FP32 (TF32) and FP16 (--fp16: mixed precision, FP32
inputs and outputs), autotuned (the default builder optimization level, one timing cache shared
by the run's builds), timed by `kiln exec --useCudaGraph --noDataTransfers` (GPU compute time,
median); the build time is recorded too. torch times are CUDA-event medians of --iters calls after --warmup calls. Accuracy:
kiln's outputs (kiln run) against torch eager FP32 on the same inputs, relative L2.

Random weights (no downloads). Results are appended, one JSON object per line, to --out.
    python3 bench/run_bench.py --kiln build/bin/kiln --out results.jsonl --models resnet50
Then bench/make_table.py turns the JSON lines into bench/results/<date>-<device>.md.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

CONFIGS = {
    "resnet50": [1, 32, 256],
    "bert_base": [1, 32],
    "gpt2": [1],
    "vit_b16": [1, 64],
}


def make_model(name):
    import torch
    import torchvision
    import transformers

    torch.manual_seed(0)
    if name == "resnet50":
        return torchvision.models.resnet50(weights=None).eval()
    if name == "vit_b16":
        vit = torchvision.models.vit_b_16(weights=None).eval()
        # torchvision zero-initializes the classifier head: every logit would be 0, and the
        # accuracy check would compare zeros. Random values make it see the whole network.
        torch.nn.init.normal_(vit.heads.head.weight, std=0.02)
        return vit
    if name == "bert_base":
        bert = transformers.BertModel(transformers.BertConfig()).eval()

        class Bert(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = bert

            def forward(self, input_ids, attention_mask):
                return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Bert().eval()
    if name == "gpt2":
        gpt2 = transformers.GPT2Model(transformers.GPT2Config()).eval()

        class Gpt2(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = gpt2

            def forward(self, input_ids):
                return self.m(input_ids=input_ids, use_cache=False).last_hidden_state

        return Gpt2().eval()
    raise ValueError(name)


def make_inputs(name, batch):
    """Named CPU tensors: images 224x224, sequences of 128 tokens."""
    import torch

    g = torch.Generator().manual_seed(1)
    if name in ("resnet50", "vit_b16"):
        return {"input": torch.randn(batch, 3, 224, 224, generator=g)}
    if name == "bert_base":
        return {"input_ids": torch.randint(0, 30522, (batch, 128), generator=g),
                "attention_mask": torch.ones(batch, 128, dtype=torch.int64)}
    if name == "gpt2":
        return {"input_ids": torch.randint(0, 50257, (batch, 128), generator=g)}
    raise ValueError(name)


def time_torch(fn, warmup, iters):
    import torch

    with torch.no_grad():
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return float(np.median(times))


def export_onnx(model, inputs, path):
    import torch

    with torch.no_grad():
        torch.onnx.export(model, tuple(inputs.values()), path, input_names=list(inputs),
                          dynamo=True, external_data=False)


def kiln_exec(kiln, onnx_path, precision, inputs, iters, plan_path, timing_cache):
    """Builds (autotuned, sharing one timing cache across the run's engines), saves the plan for
    the accuracy check, and times the engine."""
    shapes = ",".join(f"{k}:{'x'.join(str(d) for d in v.shape)}" for k, v in inputs.items())
    cmd = [kiln, "exec", f"--onnx={onnx_path}", f"--shapes={shapes}", "--useCudaGraph",
           "--noDataTransfers", f"--iterations={iters}", "--duration=2", "--warmUp=200",
           f"--saveEngine={plan_path}", f"--timingCacheFile={timing_cache}"]
    if precision == "fp16":
        cmd.append("--fp16")
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["kiln exec failed"])[-1][:400])
    m = re.search(r"GPU Compute Time:.*?median = ([0-9.]+) ms", p.stdout)
    build = re.search(r"built .*? in ([0-9.]+) (m?s)", p.stdout + p.stderr)
    if not m:
        raise RuntimeError("no GPU Compute Time in kiln exec's output:\n" + p.stdout[-2000:])
    row = {"median_ms": float(m.group(1)), "exec_wall_s": round(wall, 1)}
    if build:
        row["build_s"] = float(build.group(1)) / (1000.0 if build.group(2) == "ms" else 1.0)
    return row


def kiln_outputs(kiln, model_path, precision, inputs, workdir):
    """kiln run on a saved plan (or, for bf16, a build from the ONNX model)."""
    cmd = [kiln, "run", model_path, "--output-dir", os.path.join(workdir, "out_" + precision)]
    if model_path.endswith(".onnx") and precision != "fp32":
        cmd.append("--" + precision)
    for k, v in inputs.items():
        f = os.path.join(workdir, f"in_{k}.npy")
        np.save(f, v.numpy())
        cmd += ["--input", f"{k}={f}"]
    # Accuracy only: an untuned build computes the same function, and faster.
    env = dict(os.environ, KILN_AUTOTUNE="0")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["kiln run failed"])[-1][:400])
    outs = sorted(f for f in os.listdir(os.path.join(workdir, "out_" + precision)) if f.endswith(".npy"))
    return np.load(os.path.join(workdir, "out_" + precision, outs[0]))


def relative_l2(got, want):
    got, want = got.astype(np.float64), want.astype(np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(CONFIGS))
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--batches", default="", help="comma-separated subset of each model's batches")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    ap.add_argument("--workdir", default=tempfile.mkdtemp(prefix="kiln_bench_"))
    args = ap.parse_args()
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device_name = torch.cuda.get_device_name(0)

    def emit(row):
        row.update({"device": device_name, "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__})
        print(json.dumps(row), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")

    for name in args.models.split(","):
        model = make_model(name)
        # Every export first: torch.export fails in a process where torch.compile has run.
        exported = {}
        wanted = {int(b) for b in args.batches.split(",") if b}
        for batch in [b for b in CONFIGS[name] if not wanted or b in wanted]:
            workdir = os.path.join(args.workdir, f"{name}_b{batch}")
            os.makedirs(workdir, exist_ok=True)
            onnx_path = os.path.join(workdir, "model.onnx")
            try:
                torch._dynamo.reset()
                export_onnx(model, make_inputs(name, batch), onnx_path)
                exported[batch] = (workdir, onnx_path)
            except Exception as e:
                emit({"model": name, "batch": batch, "system": "export",
                      "error": f"{type(e).__name__}: {str(e)[:300]}"})
        for batch, (workdir, onnx_path) in exported.items():
            inputs = make_inputs(name, batch)
            base = {"model": name, "batch": batch}
            reference = None
            for precision in ("fp32", "fp16"):
                dtype = torch.float32 if precision == "fp32" else torch.float16
                m = make_model(name) if precision == "fp16" else model
                m = m.to("cuda", dtype)
                gin = {k: (v.to("cuda", dtype) if v.is_floating_point() else v.to("cuda")) for k, v in inputs.items()}
                if precision == "fp32" and batch == CONFIGS[name][0]:
                    with torch.no_grad():
                        reference = m(*gin.values()).float().cpu().numpy()
                emit({**base, "system": "torch eager", "precision": precision,
                      "median_ms": time_torch(lambda: m(*gin.values()), args.warmup, args.iters)})
                if not args.no_compile:
                    try:
                        t0 = time.time()
                        compiled = torch.compile(m, mode="reduce-overhead")
                        with torch.no_grad():
                            for _ in range(3):
                                compiled(*gin.values())
                        compile_s = time.time() - t0
                        emit({**base, "system": "torch.compile", "precision": precision,
                              "median_ms": time_torch(lambda: compiled(*gin.values()), args.warmup, args.iters),
                              "compile_s": round(compile_s, 1)})
                    except Exception as e:
                        emit({**base, "system": "torch.compile", "precision": precision,
                              "error": f"{type(e).__name__}: {str(e)[:300]}"})
                del m
                torch.cuda.empty_cache()
                try:
                    plan_path = os.path.join(workdir, f"kiln_{precision}.plan")
                    row = kiln_exec(args.kiln, onnx_path, precision, inputs, args.iters, plan_path,
                                    os.path.join(args.workdir, "kiln_timing.cache"))
                    if reference is not None:
                        row["rel_l2_vs_torch_fp32"] = relative_l2(
                            kiln_outputs(args.kiln, plan_path, precision, inputs, workdir), reference)
                    emit({**base, "system": "kiln", "precision": precision, **row})
                except Exception as e:
                    traceback.print_exc(limit=1)
                    emit({**base, "system": "kiln", "precision": precision, "error": str(e)[:400]})
            if reference is not None:
                try:
                    err = relative_l2(kiln_outputs(args.kiln, onnx_path, "bf16", inputs, workdir), reference)
                    emit({**base, "system": "kiln", "precision": "bf16 (accuracy only)", "rel_l2_vs_torch_fp32": err})
                except Exception as e:
                    emit({**base, "system": "kiln", "precision": "bf16 (accuracy only)", "error": str(e)[:400]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
