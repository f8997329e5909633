#!/usr/bin/env python3
"""Attention at the shapes of BERT-base, ViT-B/16 and GPT-2: kiln's fused kernel against the
unfused chain kiln runs for the same math, and a look at how the benchmark models export it.

    python3 bench/attention_bench.py time --kiln build/bin/kiln [--out results.jsonl]
        For each shape, one FP16 model of the exporters' chain
            MatMul(Q, Transpose(K)) * scale [+ mask] -> Softmax -> MatMul(., V)
        timed by `kiln exec --fp16 --useCudaGraph --noDataTransfers` twice: with
        KILN_ATTENTION_FUSION=0 (cuBLASLt products + softmax) and =1 (the fusion pass turns it
        into one Attention node), and a one-node Attention model (opset 23). GPU compute time
        medians, in ms.
    python3 bench/attention_bench.py dump [--models bert_base,gpt2,vit_b16]
        Exports the models as bench/run_bench.py does (batch 1) and prints the nodes around
        the first Softmax of each: what the fusion pass has to match.
    python3 bench/attention_bench.py models --kiln build/bin/kiln [--models bert_base:32,...]
        Whole models (exported as bench/run_bench.py does): kiln FP16 with
        KILN_ATTENTION_FUSION=0 and =1, and how many attention blocks the pass fused.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

# name: (batch, heads, seq, head_size, mask) with mask "padding" (additive [B, 1, 1, S], as
# HF BERT's extended attention mask), "causal" (a constant triangular additive mask in the
# chain, is_causal in the one-node model) or None.
SHAPES = {
    "bert_b32": (32, 12, 128, 64, "padding"),
    "bert_b1": (1, 12, 128, 64, "padding"),
    "vit_b64": (64, 12, 197, 64, None),
    "vit_b1": (1, 12, 197, 64, None),
    "gpt2_b1": (1, 12, 128, 64, "causal"),
    "long_causal_d128": (4, 16, 1024, 128, "causal"),
    "long_d64": (4, 16, 1024, 64, None),
}


def build_models(name, workdir):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    b, h, s, d, mask = SHAPES[name]
    f16 = TensorProto.FLOAT16
    qkv = [helper.make_tensor_value_info(n, f16, [b, h, s, d]) for n in "QKV"]
    out = helper.make_tensor_value_info("Y", f16, [b, h, s, d])
    scale = 1.0 / np.sqrt(d)
    inits, inputs = [], list(qkv)
    if mask == "padding":
        inputs.append(helper.make_tensor_value_info("M", f16, [b, 1, 1, s]))
    elif mask == "causal":
        tri = np.triu(np.full((s, s), -np.inf, np.float16), 1).reshape(1, 1, s, s)
        inits.append(numpy_helper.from_array(tri, "M"))
    nodes = [
        helper.make_node("Transpose", ["K"], ["KT"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["Q", "KT"], ["S0"]),
        helper.make_node("Mul", ["S0", "scale"], ["S1"]),
    ]
    inits.append(numpy_helper.from_array(np.array(scale, np.float16), "scale"))
    last = "S1"
    if mask:
        nodes.append(helper.make_node("Add", ["S1", "M"], ["S2"]))
        last = "S2"
    nodes += [helper.make_node("Softmax", [last], ["P"], axis=-1),
              helper.make_node("MatMul", ["P", "V"], ["Y"])]
    chain = helper.make_model(helper.make_graph(nodes, "chain", inputs, [out], inits),
                              opset_imports=[helper.make_opsetid("", 23)])
    attrs = {"scale": float(scale)}
    att_inputs = ["Q", "K", "V"]
    if mask == "padding":
        att_inputs.append("M")
    if mask == "causal":
        attrs["is_causal"] = 1
    one = helper.make_model(
        helper.make_graph([helper.make_node("Attention", att_inputs, ["Y"], **attrs)], "attention",
                          inputs, [out]),
        opset_imports=[helper.make_opsetid("", 23)])
    paths = {}
    for tag, model in (("chain", chain), ("attention", one)):
        paths[tag] = os.path.join(workdir, f"{name}_{tag}.onnx")
        onnx.save(model, paths[tag])
    return paths


def kiln_time(kiln, path, fusion):
    env = dict(os.environ, KILN_ATTENTION_FUSION="1" if fusion else "0")
    cmd = [kiln, "exec", f"--onnx={path}", "--fp16", "--useCudaGraph", "--noDataTransfers",
           "--iterations=200", "--duration=1", "--warmUp=100"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    m = re.search(r"GPU Compute Time:.*?median = ([0-9.]+) ms", p.stdout)
    if p.returncode != 0 or not m:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return {"median_ms": float(m.group(1))}


def cmd_time(args):
    workdir = tempfile.mkdtemp(prefix="attn_bench_")
    for name in args.shapes.split(","):
        paths = build_models(name, workdir)
        row = {"shape": name, "bhsd_mask": SHAPES[name]}
        row["unfused"] = kiln_time(args.kiln, paths["chain"], False)
        row["fused_by_pass"] = kiln_time(args.kiln, paths["chain"], True)
        row["attention_node"] = kiln_time(args.kiln, paths["attention"], True)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def cmd_models(args):
    """Exports whole models (run_bench.py's) and times kiln FP16 with and without the fusion."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run_bench  # noqa: E402
    import torch

    workdir = args.workdir or tempfile.mkdtemp(prefix="attn_models_")
    os.makedirs(workdir, exist_ok=True)
    exported = []
    for spec in args.models.split(","):
        name, batch = spec.rsplit(":", 1)
        path = os.path.join(workdir, f"{name}_b{batch}.onnx")
        inputs = run_bench.make_inputs(name, int(batch))
        if not os.path.exists(path):
            torch._dynamo.reset()
            run_bench.export_onnx(run_bench.make_model(name), inputs, path + ".tmp")
            os.rename(path + ".tmp", path)
        exported.append((name, int(batch), path, inputs))
    if args.export_only:
        return
    for name, batch, path, inputs in exported:
        row = {"model": name, "batch": batch}
        for fusion in (False, True):
            env = dict(os.environ, KILN_ATTENTION_FUSION="1" if fusion else "0")
            shapes = ",".join(f"{k}:{'x'.join(str(d) for d in v.shape)}" for k, v in inputs.items())
            cmd = [args.kiln, "exec", f"--onnx={path}", f"--shapes={shapes}", "--fp16",
                   "--useCudaGraph", "--noDataTransfers", "--iterations=100", "--duration=1",
                   "--warmUp=200", "--verbose"]
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
            m = re.search(r"GPU Compute Time:.*?median = ([0-9.]+) ms", p.stdout)
            fused = re.search(r"attention fusion: (\d+)", p.stdout + p.stderr)
            key = "fused" if fusion else "unfused"
            row[key + "_ms"] = float(m.group(1)) if m else None
            row[key + "_blocks"] = int(fused.group(1)) if fused else 0
            if not m:
                row[key + "_error"] = (p.stderr.strip().splitlines() or ["failed"])[-1][:300]
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


def describe(model, value_name, shapes, constants):
    text = value_name
    if value_name in shapes:
        text += f"{shapes[value_name]}"
    if value_name in constants:
        c = constants[value_name]
        text += f"=const{list(c.shape)}" + (f"{c.ravel()[:4].tolist()}" if c.size <= 16 else "")
    return text


def cmd_dump(args):
    import onnx
    from onnx import numpy_helper

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import run_bench  # noqa: E402
    import torch

    workdir = tempfile.mkdtemp(prefix="attn_dump_")
    for name in args.models.split(","):
        path = os.path.join(workdir, f"{name}.onnx")
        torch._dynamo.reset()
        run_bench.export_onnx(run_bench.make_model(name), run_bench.make_inputs(name, 1), path)
        model = onnx.load(path)
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception as e:  # noqa: BLE001
            print("shape inference failed:", e)
        g = model.graph
        shapes = {}
        for vi in list(g.value_info) + list(g.input) + list(g.output):
            dims = [d.dim_value if d.HasField("dim_value") else d.dim_param
                    for d in vi.type.tensor_type.shape.dim]
            shapes[vi.name] = (onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type), dims)
        constants = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        producer = {}
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        constants[n.output[0]] = numpy_helper.to_array(a.t)
            for o in n.output:
                producer[o] = n
        users = {}
        for n in g.node:
            for i in n.input:
                users.setdefault(i, []).append(n)
        softmaxes = [n for n in g.node if n.op_type == "Softmax"]
        print(f"===== {name}: {len(g.node)} nodes, {len(softmaxes)} Softmax; opsets",
              [(o.domain, o.version) for o in model.opset_import])
        if not softmaxes:
            continue
        seen, order = set(), []

        def back(value, depth):
            n = producer.get(value)
            if n is None or depth > args.depth or id(n) in seen or n.op_type == "Constant":
                return
            seen.add(id(n))
            for i in n.input:
                back(i, depth + 1)
            order.append(n)

        sm = softmaxes[0]
        back(sm.output[0], 0)
        frontier = [sm.output[0]]
        for _ in range(4):
            nxt = []
            for v in frontier:
                for n in users.get(v, []):
                    if id(n) not in seen:
                        seen.add(id(n))
                        order.append(n)
                        nxt += list(n.output)
            frontier = nxt
        for n in order:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            attrs = {k: (v if not isinstance(v, bytes) else v.decode()) for k, v in attrs.items()
                     if not isinstance(v, onnx.TensorProto)}
            ins = ", ".join(describe(model, i, shapes, constants) for i in n.input)
            outs = ", ".join(describe(model, o, shapes, constants) for o in n.output)
            print(f"  {n.op_type} {n.name} {attrs if attrs else ''}\n      in: {ins}\n      out: {outs}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time")
    t.add_argument("--kiln", required=True)
    t.add_argument("--shapes", default=",".join(SHAPES))
    t.add_argument("--out", default="")
    d = sub.add_parser("dump")
    d.add_argument("--models", default="bert_base,gpt2,vit_b16")
    d.add_argument("--depth", type=int, default=9)
    m = sub.add_parser("models")
    m.add_argument("--kiln", required=True)
    m.add_argument("--models", default="bert_base:32,vit_b16:64,gpt2:1")
    m.add_argument("--out", default="")
    m.add_argument("--workdir", default="", help="keeps the exports (reused when present)")
    m.add_argument("--export-only", action="store_true")
    args = ap.parse_args()
    return {"time": cmd_time, "dump": cmd_dump, "models": cmd_models}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
