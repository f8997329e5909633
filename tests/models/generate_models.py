#!/usr/bin/env python3
"""Deterministic generator of kiln's model-level test cases.

Writes each model as an ONNX file with random (but well-scaled) weights, plus reference outputs
from onnxruntime (CPU, graph optimizations disabled) in the ONNX backend-test layout:

    OUTDIR/<model>/model.onnx
    OUTDIR/<model>/test_data_set_<k>/input_<i>.pb, output_<j>.pb   (onnx TensorProto files)
    OUTDIR/<model>/info.json                                        (names, dtypes, shapes, stats)
    OUTDIR/<model>/generator.stamp                                  (hash of this script + name)

A model whose stamp matches (and whose files exist) is skipped, so reruns are instant.

The graphs follow the patterns torch.onnx.export writes (opset 17, IR version 8): BatchNorm not
folded into Conv, Linear on 3-D input as MatMul + Add(bias, .), shapes for Reshape computed at
run time from Shape/Gather/Unsqueeze/Concat, Gelu spelled out with Erf, and so on.

Activations are kept O(1) through deep networks: conv weights use He init, and the running
statistics of every BatchNormalization are measured on a calibration image (a numpy forward pass
run alongside graph construction), so each BN really normalizes its input, as in a trained model.
Transformer weights use a normal init with std 0.02 (BERT's) and LayerNorm keeps the scale.

Usage: python3 tests/models/generate_models.py OUTDIR [--models a,b,...] [--force]
"""

import argparse
import glob
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
F32 = np.float32

# One fixed seed per model; data sets and calibration inputs use derived streams.
SEEDS = {
    "mlp_dynamic": 1001,
    "cnn_small": 1002,
    "transformer_tiny": 1003,
    "resnet50": 1004,
    "mobilenetv2": 1005,
    "bert_base": 1006,
}


# ----------------------------------------------------------------------------------------------
# Graph construction helpers
# ----------------------------------------------------------------------------------------------


class GraphBuilder:
    """Collects nodes and initializers; names nodes and values the way torch's exporter does
    ("/layer1/layer1.0/conv1/Conv" producing "/layer1/layer1.0/conv1/Conv_output_0")."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._init_names = set()
        self._node_names = {}

    def _node_name(self, scope, op_type):
        base = f"{scope}/{op_type}"
        k = self._node_names.get(base, 0)
        self._node_names[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def param(self, name, array):
        """Adds an initializer and returns its name."""
        assert name not in self._init_names, name
        self._init_names.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, scope="", outputs=None, n_out=1, **attrs):
        """Adds a node; returns its output name (or list of names if n_out > 1)."""
        name = self._node_name(scope, op_type)
        if outputs is None:
            outputs = [f"{name}_output_{i}" for i in range(n_out)]
        elif isinstance(outputs, str):
            outputs = [outputs]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def const(self, value, scope="", dtype=None):
        """Adds a Constant node (torch writes small scalars and shape pieces this way)."""
        arr = np.array(value, dtype=dtype)
        return self.op("Constant", [], scope=scope, value=numpy_helper.from_array(arr))

    def make_model(self, graph_name, inputs, outputs):
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="kiln-generate_models",
            producer_version="1",
        )
        return model


def value_info(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


def normal(rng, shape, std):
    a = rng.standard_normal(shape, dtype=F32)
    a *= F32(std)
    return a


def uniform(rng, shape, lo, hi):
    return rng.uniform(lo, hi, shape).astype(F32)


# ----------------------------------------------------------------------------------------------
# Numpy reference pieces used only to calibrate BatchNorm running statistics
# ----------------------------------------------------------------------------------------------


def np_conv(x, w, b, stride, pad, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    if group == 1:
        if kh == 1 and kw == 1:
            cols = xp[:, :, ::stride, ::stride][:, :, :ho, :wo].reshape(n, c, ho * wo)
        else:
            win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
            win = win[:, :, :ho, :wo]  # n, c, ho, wo, kh, kw
            cols = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, ho * wo)
        y = np.matmul(w.reshape(o, -1), cols).reshape(n, o, ho, wo)
    elif cg == 1 and o == c:  # depthwise
        y = np.zeros((n, o, ho, wo), F32)
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, i : i + stride * (ho - 1) + 1 : stride,
                           j : j + stride * (wo - 1) + 1 : stride]
                y += w[None, :, 0, i, j, None, None] * patch
    else:
        og = o // group
        y = np.concatenate(
            [np_conv(x[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og], None, stride, pad, 1)
             for g in range(group)], axis=1)
    if b is not None:
        y = y + b[None, :, None, None]
    return y.astype(F32)


def np_pool(x, k, stride, pad, mode):
    fill = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill) if pad else x
    win = sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return (win.max(axis=(4, 5)) if mode == "max" else win.mean(axis=(4, 5))).astype(F32)


class CnnBuilder(GraphBuilder):
    """GraphBuilder for conv nets: each helper takes (name, calibration value) pairs, adds the
    node(s) and computes the numpy value on the calibration batch."""

    def __init__(self, rng):
        super().__init__()
        self.rng = rng

    def conv(self, x, prefix, scope, cout, k, stride=1, pad=0, group=1, bias=False):
        name, xv = x
        cin = xv.shape[1]
        fan_in = cin // group * k * k
        w = normal(self.rng, (cout, cin // group, k, k), math.sqrt(2.0 / fan_in))
        inputs = [name, self.param(prefix + ".weight", w)]
        b = None
        if bias:
            bound = 1.0 / math.sqrt(fan_in)
            b = uniform(self.rng, (cout,), -bound, bound)
            inputs.append(self.param(prefix + ".bias", b))
        y = self.op("Conv", inputs, scope=scope, dilations=[1, 1], group=group,
                    kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride])
        return y, np_conv(xv, w, b, stride, pad, group)

    def bn(self, x, prefix, scope, gamma=(0.5, 1.5), beta_std=0.2):
        name, xv = x
        c = xv.shape[1]
        mean = xv.mean(axis=(0, 2, 3))
        var = xv.var(axis=(0, 2, 3))
        var = np.maximum(var, 1e-2 * float(var.mean()) + 1e-6)
        # Running statistics = calibration statistics plus a little jitter (as from training).
        mean = (mean + 0.05 * np.sqrt(var) * self.rng.standard_normal(c)).astype(F32)
        var = (var * self.rng.uniform(0.9, 1.1, c)).astype(F32)
        g = uniform(self.rng, (c,), *gamma)
        b = normal(self.rng, (c,), beta_std)
        eps = 1e-5
        inputs = [name,
                  self.param(prefix + ".weight", g),
                  self.param(prefix + ".bias", b),
                  self.param(prefix + ".running_mean", mean),
                  self.param(prefix + ".running_var", var)]
        y = self.op("BatchNormalization", inputs, scope=scope, epsilon=eps, momentum=0.9)
        scale = (g / np.sqrt(var + eps))[None, :, None, None]
        yv = (xv - mean[None, :, None, None]) * scale + b[None, :, None, None]
        return y, yv.astype(F32)

    def relu(self, x, scope):
        return self.op("Relu", [x[0]], scope=scope), np.maximum(x[1], 0)

    def clip6(self, x, scope, lo, hi):
        return self.op("Clip", [x[0], lo, hi], scope=scope), np.clip(x[1], 0, 6)

    def add(self, a, b, scope):
        return self.op("Add", [a[0], b[0]], scope=scope), a[1] + b[1]

    def maxpool(self, x, scope, k, stride, pad):
        y = self.op("MaxPool", [x[0]], scope=scope, ceil_mode=0, dilations=[1, 1],
                    kernel_shape=[k, k], pads=[pad] * 4, strides=[stride, stride])
        return y, np_pool(x[1], k, stride, pad, "max")

    def avgpool(self, x, scope, k, stride):
        y = self.op("AveragePool", [x[0]], scope=scope, ceil_mode=0, count_include_pad=0,
                    kernel_shape=[k, k], pads=[0] * 4, strides=[stride, stride])
        return y, np_pool(x[1], k, stride, 0, "avg")

    def head(self, x, prefix, scope, num_classes, output):
        """GlobalAveragePool (or nothing if already pooled), Flatten, Gemm."""
        name, xv = x
        if xv.shape[2] != 1 or xv.shape[3] != 1:
            name = self.op("GlobalAveragePool", [name], scope=scope)
            xv = xv.mean(axis=(2, 3), keepdims=True)
        name = self.op("Flatten", [name], scope=scope, axis=1)
        xv = xv.reshape(xv.shape[0], -1)
        fan_in = xv.shape[1]
        w = normal(self.rng, (num_classes, fan_in), 1.0 / math.sqrt(fan_in))
        bound = 1.0 / math.sqrt(fan_in)
        b = uniform(self.rng, (num_classes,), -bound, bound)
        y = self.op("Gemm", [name, self.param(prefix + ".weight", w), self.param(prefix + ".bias", b)],
                    scope=scope, outputs=output, alpha=1.0, beta=1.0, transB=1)
        return y, xv @ w.T + b


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------


def image_sets(rng, batches, chw):
    return [{"input": rng.standard_normal((n,) + chw, dtype=F32)} for n in batches]


def build_mlp_dynamic(rng):
    g = GraphBuilder()
    x = "input"
    dims = [64, 128, 128, 10]
    for i in range(3):
        w = normal(rng, (dims[i], dims[i + 1]), math.sqrt(2.0 / dims[i]))
        b = normal(rng, (dims[i + 1],), 0.1)
        scope = f"/fc{i}"
        x = g.op("MatMul", [x, g.param(f"fc{i}.weight", w)], scope=scope)
        x = g.op("Add", [x, g.param(f"fc{i}.bias", b)], scope=scope)
        if i < 2:
            x = g.op("Relu", [x], scope=f"/relu{i}")
    g.op("Softmax", [x], scope="/softmax", outputs="output", axis=-1)
    model = g.make_model("mlp_dynamic",
                         [value_info("input", TensorProto.FLOAT, ["batch", 64])],
                         [value_info("output", TensorProto.FLOAT, ["batch", 10])])
    data = [{"input": rng.standard_normal((n, 64), dtype=F32)} for n in (1, 5)]
    return model, data


def build_cnn_small(rng):
    g = CnnBuilder(rng)
    cal = rng.standard_normal((4, 3, 32, 32), dtype=F32)
    x = ("input", cal)
    x = g.conv(x, "conv1", "/conv1", 16, 3, pad=1, bias=True)
    x = g.bn(x, "bn1", "/bn1")
    x = g.relu(x, "/relu1")
    x = g.maxpool(x, "/pool1", 2, 2, 0)                                   # 16x16x16
    x = g.conv(x, "conv2", "/conv2", 32, 3, stride=2, pad=1, group=2, bias=True)  # 32x8x8
    x = g.relu(x, "/relu2")
    x = g.avgpool(x, "/pool2", 2, 2)                                      # 32x4x4
    name = g.op("Flatten", [x[0]], scope="/flatten", axis=1)
    fan_in = 32 * 4 * 4
    w = normal(rng, (10, fan_in), 1.0 / math.sqrt(fan_in))
    b = normal(rng, (10,), 0.1)
    g.op("Gemm", [name, g.param("fc.weight", w), g.param("fc.bias", b)], scope="/fc",
         outputs="logits", alpha=1.0, beta=1.0, transB=1)
    model = g.make_model("cnn_small",
                         [value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
                         [value_info("logits", TensorProto.FLOAT, ["batch", 10])])
    return model, image_sets(rng, (1, 3), (3, 32, 32))


def build_resnet50(rng):
    """torchvision resnet50 (v1.5: stride on the 3x3 conv of the bottleneck)."""
    g = CnnBuilder(rng)
    cal = rng.standard_normal((1, 3, 224, 224), dtype=F32)
    x = ("input", cal)
    x = g.conv(x, "conv1", "/conv1", 64, 7, stride=2, pad=3)
    x = g.bn(x, "bn1", "/bn1")
    x = g.relu(x, "/relu")
    x = g.maxpool(x, "/maxpool", 3, 2, 1)
    inplanes = 64
    for li, (planes, blocks, stride) in enumerate(
            [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for bi in range(blocks):
            s = stride if bi == 0 else 1
            p = f"layer{li}.{bi}"
            sc = f"/layer{li}/layer{li}.{bi}"
            identity = x
            y = g.conv(x, p + ".conv1", sc + "/conv1", planes, 1)
            y = g.bn(y, p + ".bn1", sc + "/bn1")
            y = g.relu(y, sc + "/relu")
            y = g.conv(y, p + ".conv2", sc + "/conv2", planes, 3, stride=s, pad=1)
            y = g.bn(y, p + ".bn2", sc + "/bn2")
            y = g.relu(y, sc + "/relu_1")
            y = g.conv(y, p + ".conv3", sc + "/conv3", planes * 4, 1)
            # Smaller gamma on the last BN of the residual branch (trained nets look like this;
            # torchvision even offers zero-init here), so the residual stream grows slowly.
            y = g.bn(y, p + ".bn3", sc + "/bn3", gamma=(0.2, 0.6))
            if s != 1 or inplanes != planes * 4:
                identity = g.conv(x, p + ".downsample.0", sc + "/downsample/downsample.0",
                                  planes * 4, 1, stride=s)
                identity = g.bn(identity, p + ".downsample.1", sc + "/downsample/downsample.1",
                                gamma=(0.5, 1.0))
            inplanes = planes * 4
            x = g.add(y, identity, sc)
            x = g.relu(x, sc + "/relu_2")
    g.head(x, "fc", "/fc", 1000, "logits")
    model = g.make_model("resnet50",
                         [value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                         [value_info("logits", TensorProto.FLOAT, ["batch", 1000])])
    return model, image_sets(rng, (1, 2), (3, 224, 224))


def build_mobilenetv2(rng):
    """torchvision mobilenet_v2 (width 1.0): inverted residuals, ReLU6 as Clip(0, 6)."""
    g = CnnBuilder(rng)
    cal = rng.standard_normal((1, 3, 224, 224), dtype=F32)
    lo = g.param("clip.min", np.array(0.0, F32))
    hi = g.param("clip.max", np.array(6.0, F32))
    relu6_gamma = (0.5, 2.5)  # the top of the range makes some values reach the clip at 6

    def conv_bn_relu6(x, prefix, scope, cout, k, stride, group):
        x = g.conv(x, prefix + ".0", f"{scope}/{prefix}.0", cout, k,
                   stride=stride, pad=(k - 1) // 2, group=group)
        x = g.bn(x, prefix + ".1", f"{scope}/{prefix}.1", gamma=relu6_gamma)
        return g.clip6(x, f"{scope}/{prefix}.2", lo, hi)

    x = ("input", cal)
    x = conv_bn_relu6(x, "features.0", "/features/features.0", 32, 3, 2, 1)
    cin = 32
    idx = 1
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            p = f"features.{idx}.conv"
            sc = f"/features/features.{idx}/conv"
            y = x
            layer = 0
            if t != 1:
                y = conv_bn_relu6(y, f"{p}.{layer}", sc, hidden, 1, 1, 1)
                layer += 1
            y = conv_bn_relu6(y, f"{p}.{layer}", sc, hidden, 3, stride, hidden)  # depthwise
            layer += 1
            y = g.conv(y, f"{p}.{layer}", f"{sc}/conv.{layer}", c, 1)
            y = g.bn(y, f"{p}.{layer + 1}", f"{sc}/conv.{layer + 1}", gamma=(0.3, 1.0))
            if stride == 1 and cin == c:
                y = g.add(x, y, f"/features/features.{idx}")
            x = y
            cin = c
            idx += 1
    x = conv_bn_relu6(x, f"features.{idx}", f"/features/features.{idx}", 1280, 1, 1, 1)
    g.head(x, "classifier.1", "/classifier/classifier.1", 1000, "logits")
    model = g.make_model("mobilenetv2",
                         [value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
                         [value_info("logits", TensorProto.FLOAT, ["batch", 1000])])
    return model, image_sets(rng, (1, 2), (3, 224, 224))


def build_bert(rng, name, layers, hidden, heads, ffn, vocab, max_pos, std, data_shapes):
    """BERT encoder as torch.onnx.export writes HuggingFace's BertModel (eager attention)."""
    g = GraphBuilder()
    head_dim = hidden // heads
    ln_eps = 1e-12

    def linear(x, prefix, scope, din, dout):
        w = g.param(prefix + ".weight", normal(rng, (din, dout), std))  # stored transposed
        b = g.param(prefix + ".bias", normal(rng, (dout,), std))
        y = g.op("MatMul", [x, w], scope=scope)
        return g.op("Add", [b, y], scope=scope)

    def layer_norm(x, prefix, scope, output=None):
        gamma = g.param(prefix + ".weight", (1.0 + normal(rng, (hidden,), 0.05)).astype(F32))
        beta = g.param(prefix + ".bias", normal(rng, (hidden,), 0.05))
        return g.op("LayerNormalization", [x, gamma, beta], scope=scope, outputs=output,
                    axis=-1, epsilon=ln_eps)

    def dim(x, i, scope):
        """Unsqueeze(Gather(Shape(x), i), [0]): one dimension of x as a 1-element tensor."""
        s = g.op("Shape", [x], scope=scope)
        d = g.op("Gather", [s, g.const(i, scope, np.int64)], scope=scope, axis=0)
        return g.op("Unsqueeze", [d, g.const([0], scope, np.int64)], scope=scope)

    # Embeddings.
    sc = "/embeddings"
    word = g.param("embeddings.word_embeddings.weight", normal(rng, (vocab, hidden), std))
    pos = g.param("embeddings.position_embeddings.weight", normal(rng, (max_pos, hidden), std))
    tt = g.param("embeddings.token_type_embeddings.weight", normal(rng, (2, hidden), std))
    ids_shape = g.op("Shape", ["input_ids"], scope=sc)
    seq_len = g.op("Gather", [ids_shape, g.const(1, sc, np.int64)], scope=sc, axis=0)
    positions = g.op("Range", [g.const(0, sc, np.int64), seq_len, g.const(1, sc, np.int64)],
                     scope=sc)
    positions = g.op("Unsqueeze", [positions, g.const([0], sc, np.int64)], scope=sc)
    token_types = g.op("ConstantOfShape", [g.op("Shape", ["input_ids"], scope=sc)], scope=sc,
                       value=numpy_helper.from_array(np.array([0], np.int64)))
    e_word = g.op("Gather", [word, "input_ids"], scope=sc + "/word_embeddings")
    e_tt = g.op("Gather", [tt, token_types], scope=sc + "/token_type_embeddings")
    e = g.op("Add", [e_word, e_tt], scope=sc)
    e_pos = g.op("Gather", [pos, positions], scope=sc + "/position_embeddings")
    e = g.op("Add", [e, e_pos], scope=sc)
    x = layer_norm(e, "embeddings.LayerNorm", sc + "/LayerNorm")

    # Extended attention mask: (1 - mask[:, None, None, :]) * -10000.
    m = g.op("Unsqueeze", ["attention_mask", g.const([1], "", np.int64)])
    m = g.op("Unsqueeze", [m, g.const([2], "", np.int64)])
    m = g.op("Cast", [m], to=TensorProto.FLOAT)
    m = g.op("Sub", [g.const(1.0, "", F32), m])
    mask = g.op("Mul", [m, g.const(-10000.0, "", F32)])

    for li in range(layers):
        p = f"encoder.layer.{li}"
        sc = f"/encoder/layer.{li}"
        asc = sc + "/attention/self"

        def split_heads(t):
            shape = g.op("Concat", [dim(t, 0, asc), dim(t, 1, asc),
                                    g.const([heads], asc, np.int64),
                                    g.const([head_dim], asc, np.int64)], scope=asc, axis=0)
            t = g.op("Reshape", [t, shape], scope=asc)
            return g.op("Transpose", [t], scope=asc, perm=[0, 2, 1, 3])

        q = linear(x, p + ".attention.self.query", asc + "/query", hidden, hidden)
        k = linear(x, p + ".attention.self.key", asc + "/key", hidden, hidden)
        v = linear(x, p + ".attention.self.value", asc + "/value", hidden, hidden)
        k = split_heads(k)
        v = split_heads(v)
        q = split_heads(q)
        kt = g.op("Transpose", [k], scope=asc, perm=[0, 1, 3, 2])
        scores = g.op("MatMul", [q, kt], scope=asc)
        scores = g.op("Div", [scores, g.const(math.sqrt(head_dim), asc, F32)], scope=asc)
        scores = g.op("Add", [scores, mask], scope=asc)
        probs = g.op("Softmax", [scores], scope=asc, axis=-1)
        ctx = g.op("MatMul", [probs, v], scope=asc)
        ctx = g.op("Transpose", [ctx], scope=asc, perm=[0, 2, 1, 3])
        shape = g.op("Concat", [dim(ctx, 0, asc), dim(ctx, 1, asc),
                                g.const([hidden], asc, np.int64)], scope=asc, axis=0)
        ctx = g.op("Reshape", [ctx, shape], scope=asc)

        osc = sc + "/attention/output"
        y = linear(ctx, p + ".attention.output.dense", osc + "/dense", hidden, hidden)
        y = g.op("Add", [y, x], scope=osc)
        x = layer_norm(y, p + ".attention.output.LayerNorm", osc + "/LayerNorm")

        isc = sc + "/intermediate"
        h = linear(x, p + ".intermediate.dense", isc + "/dense", hidden, ffn)
        gsc = isc + "/intermediate_act_fn"
        erf = g.op("Erf", [g.op("Div", [h, g.const(math.sqrt(2.0), gsc, F32)], scope=gsc)],
                   scope=gsc)
        erf = g.op("Add", [erf, g.const(1.0, gsc, F32)], scope=gsc)
        h = g.op("Mul", [h, erf], scope=gsc)
        h = g.op("Mul", [h, g.const(0.5, gsc, F32)], scope=gsc)

        osc = sc + "/output"
        y = linear(h, p + ".output.dense", osc + "/dense", ffn, hidden)
        y = g.op("Add", [y, x], scope=osc)
        x = layer_norm(y, p + ".output.LayerNorm", osc + "/LayerNorm",
                       output="last_hidden_state" if li == layers - 1 else None)

    sc = "/pooler"
    first = g.op("Gather", [x, g.const(0, sc, np.int64)], scope=sc, axis=1)
    w = g.param("pooler.dense.weight", normal(rng, (hidden, hidden), std))
    b = g.param("pooler.dense.bias", normal(rng, (hidden,), std))
    first = g.op("Gemm", [first, w, b], scope=sc + "/dense", alpha=1.0, beta=1.0, transB=1)
    g.op("Tanh", [first], scope=sc + "/activation", outputs="pooler_output")

    model = g.make_model(
        name,
        [value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]),
         value_info("pooler_output", TensorProto.FLOAT, ["batch", hidden])])

    data = []
    for batch, seq in data_shapes:
        ids = rng.integers(1000 if vocab > 2000 else 3, vocab, (batch, seq), dtype=np.int64)
        ids[:, 0] = 101 if vocab > 101 else 1  # [CLS]
        mask = np.ones((batch, seq), np.int64)
        pad = max(1, seq // 4 - 4)  # the last sequence ends with padding
        mask[-1, seq - pad:] = 0
        ids[-1, seq - pad:] = 0    # [PAD]
        data.append({"input_ids": ids, "attention_mask": mask})
    return model, data


def build_bert_base(rng):
    return build_bert(rng, "bert_base", layers=12, hidden=768, heads=12, ffn=3072, vocab=30522,
                      max_pos=512, std=0.02, data_shapes=[(1, 128), (2, 64)])


def build_transformer_tiny(rng):
    # std 0.1 instead of 0.02: with hidden 64, 0.02 would leave attention nearly uniform.
    return build_bert(rng, "transformer_tiny", layers=2, hidden=64, heads=4, ffn=256, vocab=1000,
                      max_pos=64, std=0.1, data_shapes=[(1, 16), (3, 7)])


BUILDERS = {
    "mlp_dynamic": build_mlp_dynamic,
    "cnn_small": build_cnn_small,
    "transformer_tiny": build_transformer_tiny,
    "resnet50": build_resnet50,
    "mobilenetv2": build_mobilenetv2,
    "bert_base": build_bert_base,
}


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def stamp_for(name):
    with open(os.path.abspath(__file__), "rb") as f:
        src = f.read()
    return hashlib.sha256(src + b"\0" + name.encode()).hexdigest()


def up_to_date(model_dir, name):
    try:
        with open(os.path.join(model_dir, "generator.stamp")) as f:
            if f.read().strip() != stamp_for(name):
                return False
        with open(os.path.join(model_dir, "info.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return False
    files = ["model.onnx"]
    for ds in info["data_sets"]:
        files += [f"{ds['name']}/input_{i}.pb" for i in range(len(ds["inputs"]))]
        files += [f"{ds['name']}/output_{i}.pb" for i in range(len(ds["outputs"]))]
    return all(os.path.isfile(os.path.join(model_dir, f)) for f in files)


def to_json(obj):
    """Indented JSON with short lists (shapes, name lists) kept on one line."""
    text = json.dumps(obj, indent=1)
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
                  lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def tensor_stats(a):
    a64 = a.astype(np.float64)
    return {"mean": float(a64.mean()), "std": float(a64.std()),
            "min": float(a64.min()), "max": float(a64.max()),
            "finite": bool(np.isfinite(a).all())}


def generate(name, outdir):
    t0 = time.time()
    rng = np.random.default_rng(SEEDS[name])
    model, data_sets = BUILDERS[name](rng)
    t_build = time.time() - t0

    blob = model.SerializeToString()
    onnx.checker.check_model(blob, full_check=True)
    t_check = time.time() - t0 - t_build

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    input_names = [i.name for i in model.graph.input]
    output_names = [o.name for o in model.graph.output]
    results = [sess.run(output_names, ds) for ds in data_sets]
    del sess
    t_ort = time.time() - t0 - t_build - t_check

    final_dir = os.path.join(outdir, name)
    for stale in glob.glob(os.path.join(outdir, f".{name}.tmp*")):  # from interrupted runs
        shutil.rmtree(stale, ignore_errors=True)
    tmp_dir = os.path.join(outdir, f".{name}.tmp{os.getpid()}")
    os.makedirs(tmp_dir)
    with open(os.path.join(tmp_dir, "model.onnx"), "wb") as f:
        f.write(blob)
    info = {
        "model": name,
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "num_nodes": len(model.graph.node),
        "num_initializers": len(model.graph.initializer),
        "num_parameters": int(sum(np.prod(t.dims, dtype=np.int64)
                                  for t in model.graph.initializer)),
        "inputs": input_names,
        "outputs": output_names,
        "data_sets": [],
    }
    for k, (ds, outs) in enumerate(zip(data_sets, results)):
        ds_name = f"test_data_set_{k}"
        ds_dir = os.path.join(tmp_dir, ds_name)
        os.makedirs(ds_dir)
        entry = {"name": ds_name, "inputs": [], "outputs": []}
        for i, n in enumerate(input_names):
            a = ds[n]
            with open(os.path.join(ds_dir, f"input_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())
            entry["inputs"].append({"name": n, "dtype": str(a.dtype), "shape": list(a.shape)})
        for i, (n, a) in enumerate(zip(output_names, outs)):
            with open(os.path.join(ds_dir, f"output_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())
            entry["outputs"].append({"name": n, "dtype": str(a.dtype), "shape": list(a.shape),
                                     "stats": tensor_stats(a)})
        info["data_sets"].append(entry)
    with open(os.path.join(tmp_dir, "info.json"), "w") as f:
        f.write(to_json(info) + "\n")
    with open(os.path.join(tmp_dir, "generator.stamp"), "w") as f:
        f.write(stamp_for(name) + "\n")
    shutil.rmtree(final_dir, ignore_errors=True)
    os.rename(tmp_dir, final_dir)
    t_total = time.time() - t0

    stats = "; ".join(
        f"{o['name']}{o['shape']} std={o['stats']['std']:.3g}"
        for ds in info["data_sets"] for o in ds["outputs"])
    print(f"{name}: {info['num_nodes']} nodes, {info['num_parameters'] / 1e6:.2f}M params, "
          f"{len(data_sets)} data sets, {len(blob) / 2**20:.1f} MiB, {t_total:.1f}s "
          f"(build {t_build:.1f}, check {t_check:.1f}, ort {t_ort:.1f}) | {stats}", flush=True)
    for ds in info["data_sets"]:
        for o in ds["outputs"]:
            if not o["stats"]["finite"]:
                raise RuntimeError(f"{name}: non-finite values in {ds['name']}/{o['name']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--models", default=",".join(BUILDERS),
                    help="comma-separated subset of: " + ",".join(BUILDERS))
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        ap.error(f"unknown model(s) {','.join(unknown)}; known: {','.join(BUILDERS)}")
    os.makedirs(args.outdir, exist_ok=True)
    t0 = time.time()
    for name in names:
        model_dir = os.path.join(args.outdir, name)
        if not args.force and up_to_date(model_dir, name):
            print(f"{name}: up to date", flush=True)
            continue
        generate(name, args.outdir)
    print(f"total {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
