#!/usr/bin/env python3
"""Turns bench/run_bench.py's JSON lines into a markdown table.
    python3 bench/make_table.py results.jsonl > bench/results/2026-11-24-h100.md
"""
import json
import sys
from collections import OrderedDict


def main():
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    if not rows:
        print("no results")
        return 1
    first = rows[0]
    print(f"# kiln vs torch — {first['device']}, {first['date']}\n")
    print(f"torch {first['torch']}; every system measured in the same run on the same GPU. "
          "Median milliseconds per inference (lower is better): torch from CUDA events around "
          "each call, kiln from `kiln exec --useCudaGraph --noDataTransfers` (GPU compute time). "
          "FP32 allows TF32 everywhere; FP16 is torch's model in half precision and kiln's "
          "--fp16 mixed precision (FP32 inputs and outputs). Random weights; images 224x224, "
          "sequences of 128 tokens. Speedup = best torch / kiln at that precision.\n")
    table = OrderedDict()
    errors = []
    accuracy = []
    builds = OrderedDict()
    for r in rows:
        key = (r["model"], r["batch"])
        if "error" in r:
            errors.append(f"- {r['model']} batch {r['batch']} {r['system']} {r.get('precision', '')}: {r['error']}")
            continue
        if "rel_l2_vs_torch_fp32" in r:
            accuracy.append((r["model"], r["batch"], r["precision"], r["rel_l2_vs_torch_fp32"]))
        if "median_ms" in r:
            table.setdefault(key, {})[(r["system"], r["precision"])] = r["median_ms"]
        if r["system"] == "kiln" and "build_s" in r:
            builds.setdefault(key, {})[r["precision"]] = r["build_s"]
    cols = [("torch eager", "fp32"), ("torch.compile", "fp32"), ("kiln", "fp32"),
            ("torch eager", "fp16"), ("torch.compile", "fp16"), ("kiln", "fp16")]
    print("| model | batch | " + " | ".join(f"{s} {p.upper()}" for s, p in cols) +
          " | kiln speedup FP32 | kiln speedup FP16 |")
    print("|" + "---|" * (len(cols) + 4))
    for (model, batch), v in table.items():
        cells = [f"{v[c]:.3f}" if c in v else "—" for c in cols]
        speed = []
        for p in ("fp32", "fp16"):
            torch_best = min([v[(s, p)] for s in ("torch eager", "torch.compile") if (s, p) in v], default=None)
            speed.append(f"{torch_best / v[('kiln', p)]:.2f}x" if torch_best and ("kiln", p) in v else "—")
        print(f"| {model} | {batch} | " + " | ".join(cells) + " | " + " | ".join(speed) + " |")
    if builds:
        print("\nkiln build time in seconds (ONNX to engine, autotuned; later builds reuse the "
              "run's timing cache, so shapes seen before build faster):\n")
        print("| model | batch | FP32 | FP16 |\n|---|---|---|---|")
        for (model, batch), v in builds.items():
            cells = [f"{v[p]:.1f}" if p in v else "—" for p in ("fp32", "fp16")]
            print(f"| {model} | {batch} | " + " | ".join(cells) + " |")
    if accuracy:
        print("\nAccuracy: kiln's output against torch eager FP32 on the same inputs (relative L2):\n")
        print("| model | batch | kiln precision | relative L2 |\n|---|---|---|---|")
        for model, batch, precision, err in accuracy:
            print(f"| {model} | {batch} | {precision} | {err:.2e} |")
    if errors:
        print("\nFailures in this run:\n")
        print("\n".join(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
