#!/usr/bin/python3
"""The work of `dfmpc quantize` done by a short PyTorch script, for bench/quant_speed.sh.

    /usr/bin/python3 bench/quant_speed_torch.py MODEL.onnx OUT.onnx [--bits 2/6] [--stats ratio|keep]

Load: onnx.load + numpy_helper.to_array of every initializer into torch tensors.
Quantize: every Conv / Gemm weight rounded to nearest on a symmetric per-output-channel grid
(first and last weight layer 8 bits, the other convs alternately LOW and HIGH bits: the cost
of dfmpc's pairing plan, not its choice of layers).
Statistics (--stats ratio): every BN after a quantized conv gets a data-free update in torch
ops: running_mean += (W^ - W) E[x] (E[x] of the conv input from the BN + ReLU before it, as a
rectified Gaussian; 0 where the input is not such a ReLU), running_var *= |W^_o|^2 / |W_o|^2
(dfmpc's `--stats ratio`, simpler than its default joint+mmse repair).
Write: the changed initializers back into the proto, onnx.save.
Prints one JSON object: in-process seconds of load, quantize (incl. statistics) and write.
Needs Debian's PyTorch 1.13 and onnx 1.12 (call /usr/bin/python3 explicitly).
"""

import argparse
import json
import math
import time

import onnx
import torch
from onnx import numpy_helper


def load(path):
    model = onnx.load(path)
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    return model, weights


def rtn_per_channel(w, bits):
    levels = 2 ** (bits - 1) - 1
    flat = w.reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp_min(1e-12) / levels
    q = torch.clamp(torch.round(flat / scale[:, None]), -levels, levels) * scale[:, None]
    return q.reshape(w.shape)


def relu_gaussian_mean(mean, std):
    """E[max(x, 0)] for x ~ N(mean, std^2), per channel."""
    t = mean / std
    return mean * 0.5 * (1 + torch.erf(t / math.sqrt(2))) + std * torch.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)


def input_mean(node, producer, weights):
    """E[x] per input channel of a conv whose input is Relu(BatchNormalization(...)), else None."""
    relu = producer.get(node.input[0])
    if relu is None or relu.op_type != "Relu":
        return None
    bn = producer.get(relu.input[0])
    if bn is None or bn.op_type != "BatchNormalization":
        return None
    gamma, beta = weights[bn.input[1]], weights[bn.input[2]]
    return relu_gaussian_mean(beta, gamma.abs().clamp_min(1e-12))


def quantize(model, weights, low, high, stats):
    nodes = list(model.graph.node)
    producer = {o: n for n in nodes for o in n.output}
    consumers = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    layers = [n for n in nodes if n.op_type in ("Conv", "Gemm") and n.input[1] in weights]
    changed = set()
    for k, node in enumerate(layers):
        bits = 8 if k in (0, len(layers) - 1) else (low if k % 2 else high)
        w = weights[node.input[1]]
        q = rtn_per_channel(w, bits)
        weights[node.input[1]] = q
        changed.add(node.input[1])
        nxt = consumers.get(node.output[0], [])
        if stats == "keep" or len(nxt) != 1 or nxt[0].op_type != "BatchNormalization":
            continue
        bn = nxt[0]
        mean, var = weights[bn.input[3]], weights[bn.input[4]]
        ex = input_mean(node, producer, weights) if node.op_type == "Conv" else None
        if ex is not None:
            d = (q - w).sum(dim=(2, 3)) if q.dim() == 4 else q - w
            mean += d @ ex
        ratio = q.reshape(q.shape[0], -1).square().sum(1) / w.reshape(w.shape[0], -1).square().sum(1).clamp_min(1e-30)
        var *= ratio
        changed.update((bn.input[3], bn.input[4]))
    return changed


def write(model, weights, changed, path):
    for t in model.graph.initializer:
        if t.name in changed:
            t.CopyFrom(numpy_helper.from_array(weights[t.name].numpy(), t.name))
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--bits", default="2/6", help="LOW/HIGH or one width")
    ap.add_argument("--stats", default="ratio", choices=["ratio", "keep"])
    args = ap.parse_args()
    low, _, high = args.bits.partition("/")
    low, high = int(low), int(high or low)

    t0 = time.perf_counter()
    model, weights = load(args.model)
    t1 = time.perf_counter()
    with torch.no_grad():
        changed = quantize(model, weights, low, high, args.stats)
    t2 = time.perf_counter()
    write(model, weights, changed, args.out)
    t3 = time.perf_counter()
    print(json.dumps({"load": t1 - t0, "quantize": t2 - t1, "write": t3 - t2, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
