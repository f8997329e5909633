#!/usr/bin/env python3
"""Where kiln's GPU time goes, per op type: exports one benchmark model (bench/run_bench.py's
models and inputs), runs `kiln exec --exportProfile` on it and sums the layer times by op.
Layers kiln inserted (casts of mixed precision, fused nodes) are grouped by name prefix.
    python3 bench/profile_layers.py --kiln build/bin/kiln --model bert_base --batch 32 --fp16
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--fp16", action="store_true")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--workdir", default=tempfile.mkdtemp(prefix="kiln_profile_"))
    ap.add_argument("--extra", default="", help="more kiln exec flags, space separated")
    args = ap.parse_args()

    import onnx

    model = run_bench.make_model(args.model)
    inputs = run_bench.make_inputs(args.model, args.batch)
    path = os.path.join(args.workdir, f"{args.model}_b{args.batch}.onnx")
    if not os.path.exists(path):
        run_bench.export_onnx(model, inputs, path)
    op_of = {n.name: n.op_type for n in onnx.load(path, load_external_data=False).graph.node}
    shapes = ",".join(f"{k}:{'x'.join(str(d) for d in v.shape)}" for k, v in inputs.items())
    profile = os.path.join(args.workdir, "profile.json")
    cmd = [args.kiln, "exec", f"--onnx={path}", f"--shapes={shapes}", "--useCudaGraph",
           "--noDataTransfers", "--duration=1", f"--exportProfile={profile}"] + args.extra.split()
    if args.fp16:
        cmd.append("--fp16")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(p.stderr[-2000:])
    for line in p.stdout.splitlines():
        if "GPU Compute Time" in line or "Throughput" in line:
            print(line.strip())
    layers = [r for r in json.load(open(profile)) if "name" in r]
    by_op = collections.defaultdict(lambda: [0.0, 0])
    for r in layers:
        op = op_of.get(r["name"]) or ("kiln:" + r["name"].split("/")[0].split("_")[0])
        by_op[op][0] += r["averageMs"]
        by_op[op][1] += 1
    total = sum(v[0] for v in by_op.values())
    print(f"{args.model} batch {args.batch} {'fp16' if args.fp16 else 'fp32'}: "
          f"{len(layers)} layers, {total:.3f} ms profiled")
    for op, (ms, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0]):
        print(f"  {op:28s} {n:5d} layers {ms:8.3f} ms {100 * ms / total:5.1f}%")
    print("  top layers:")
    for r in sorted(layers, key=lambda r: -r["averageMs"])[: args.top]:
        print(f"    {r['averageMs']:8.4f} ms  {op_of.get(r['name'], '?'):16s} {r['name'][:80]}")


if __name__ == "__main__":
    main()
