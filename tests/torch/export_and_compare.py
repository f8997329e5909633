#!/usr/bin/env python3
"""Exports real models with torch (random weights, no downloads), runs them through kiln's CLI
and onnxruntime (CPU), and reports the relative L2 error of each output.

Run where torch, torchvision and transformers are installed (the GPU machine):
    python3 tests/torch/export_and_compare.py --kiln build/bin/kiln --out /tmp/torch_models
Exit status is non-zero when any model fails to import/run or differs by more than --tol.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import traceback

import numpy as np


def relative_l2(got, want):
    got = got.astype(np.float64)
    want = want.astype(np.float64)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def models():
    import torch
    import torchvision
    import transformers

    def vision(name, ctor):
        torch.manual_seed(0)
        m = ctor(weights=None).eval()
        x = torch.randn(2, 3, 224, 224)
        return name, m, (x,), ["input"], {"input": {0: "batch"}}

    yield vision("resnet18", torchvision.models.resnet18)
    yield vision("resnet50", torchvision.models.resnet50)
    yield vision("mobilenet_v2", torchvision.models.mobilenet_v2)
    yield vision("efficientnet_b0", torchvision.models.efficientnet_b0)

    torch.manual_seed(0)
    cfg = transformers.BertConfig(num_hidden_layers=4)
    bert = transformers.BertModel(cfg).eval()

    class BertWrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state, out.pooler_output

    ids = torch.randint(0, cfg.vocab_size, (2, 32))
    mask = torch.ones(2, 32, dtype=torch.int64)
    mask[1, 24:] = 0
    yield ("bert_4layer", BertWrap(bert).eval(), (ids, mask), ["input_ids", "attention_mask"],
           {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}})

    torch.manual_seed(0)
    gcfg = transformers.GPT2Config(n_layer=2)
    gpt2 = transformers.GPT2Model(gcfg).eval()

    class Gpt2Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            return self.m(input_ids=input_ids, use_cache=False).last_hidden_state

    yield ("gpt2_2layer", Gpt2Wrap(gpt2).eval(), (torch.randint(0, gcfg.vocab_size, (1, 32)),), ["input_ids"],
           {"input_ids": {0: "batch", 1: "seq"}})

    torch.manual_seed(0)
    vcfg = transformers.ViTConfig(num_hidden_layers=2)
    vit = transformers.ViTModel(vcfg, add_pooling_layer=False).eval()

    class VitWrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).last_hidden_state

    yield ("vit_2layer", VitWrap(vit).eval(), (torch.randn(1, 3, 224, 224),), ["pixel_values"],
           {"pixel_values": {0: "batch"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--exporters", default="legacy,dynamo")
    ap.add_argument("--models", default="", help="comma-separated subset (default: all)")
    args = ap.parse_args()
    import onnxruntime as ort
    import torch

    os.makedirs(args.out, exist_ok=True)
    results = []
    wanted = set(filter(None, args.models.split(",")))
    for name, model, inputs, input_names, dynamic_axes in models():
        if wanted and name not in wanted:
            continue
        for exporter in args.exporters.split(","):
            tag = f"{name}/{exporter}"
            d = os.path.join(args.out, f"{name}_{exporter}")
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            row = {"model": name, "exporter": exporter}
            try:
                t0 = time.time()
                with torch.no_grad():
                    if exporter == "legacy":
                        torch.onnx.export(model, inputs, path, input_names=input_names,
                                          dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)
                    else:
                        torch.onnx.export(model, inputs, path, input_names=input_names, dynamo=True,
                                          external_data=False)
                row["export_s"] = round(time.time() - t0, 1)
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
                want = sess.run(None, feeds)
                out_names = [o.name for o in sess.get_outputs()]
                cmd = [args.kiln, "run", path, "--output-dir", os.path.join(d, "kiln_out")]
                for k, v in feeds.items():
                    f = os.path.join(d, f"in_{k}.npy")
                    np.save(f, v)
                    cmd += ["--input", f"{k}={f}"]
                t0 = time.time()
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                row["kiln_s"] = round(time.time() - t0, 1)
                if p.returncode != 0:
                    row["error"] = (p.stderr.strip().splitlines() or ["(no message)"])[-1][:400]
                else:
                    errs = []
                    for n, w in zip(out_names, want):
                        safe = "".join(c if (c.isalnum() or c in "._-") else "_" for c in n)
                        got = np.load(os.path.join(d, "kiln_out", safe + ".npy"))
                        errs.append(relative_l2(got, w) if got.shape == w.shape else float("inf"))
                    row["max_rel_l2"] = max(errs)
                    row["ok"] = row["max_rel_l2"] < args.tol
            except Exception as e:  # export failures are reported, not fatal
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                traceback.print_exc(limit=2)
            results.append(row)
            print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    failed = [r for r in results if not r.get("ok")]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
