#!/usr/bin/python3
"""PyTorch (Debian's torch 1.13, CPU) speed of the CIFAR ResNets in /work/shared/models.

onnx2torch is not available here, so this builds the CIFAR ResNet (He et al. 2016, option-A
shortcuts: x[:, :, ::2, ::2] zero-padded in channels) as an ordinary torch module and loads
its weights from the ONNX initializers (Conv / BatchNormalization / Gemm nodes in graph order),
for both the `_bn` files (conv without bias + BN) and the `_folded` files (conv with bias).

    /usr/bin/python3 bench/speed_torch.py MODEL --batch B --threads 2 --seconds S [--data F] [--modes eager,jit]
        one JSON line per mode: images_per_second, seconds, runs, cpu_seconds, peak_rss_mb
        (forward only timed; peak RSS is the process's up to then, torch import included)
    /usr/bin/python3 bench/speed_torch.py MODEL --verify N --data F [--dfmpc build/dfmpc]
        compares torch's logits on the first N images with ONNX Runtime's (bench/ort/logits.mjs)
        and torch's top-1 with `dfmpc eval --limit N`; exits 1 on a mismatch.

Mode jit runs torch.jit.trace + torch.jit.freeze (+ optimize_for_inference) instead of eager mode.
Needs /usr/bin/python3 (the interpreter with python3-torch and python3-onnx).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.bn2 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else None
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            sc = x
        else:  # option A: subsample, then zero channels on both sides
            sc = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, n, bn, classes=10, widths=(16, 32, 64)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(widths[0]) if bn else nn.Identity()
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                blocks.append(Block(cin, w, 2 if (i > 0 and j == 0) else 1, bn))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(widths[-1], classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.linear(x)


def load_onnx_resnet(path):
    """Builds the torch module matching the ONNX file and copies its weights in."""
    m = onnx.load(path)
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    has_bn = len(bns) > 0
    if (len(convs) - 1) % 6 != 0 or len(gemms) != 1 or (has_bn and len(bns) != len(convs)):
        raise SystemExit(f"{path}: not a CIFAR ResNet with option-A shortcuts "
                         f"({len(convs)} Conv, {len(bns)} BN, {len(gemms)} Gemm)")
    n = (len(convs) - 1) // 6
    classes = init[gemms[0].input[1]].shape[0]
    net = CifarResNet(n, has_bn, classes)
    tconvs = [net.conv1] + [c for b in net.blocks for c in (b.conv1, b.conv2)]
    tbns = [net.bn1] + [x for b in net.blocks for x in (b.bn1, b.bn2)]
    with torch.no_grad():
        for node, conv in zip(convs, tconvs):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if list(attrs.get("strides", [1, 1])) != list(conv.stride):
                raise SystemExit(f"{path}: {node.name} stride {attrs.get('strides')} != {conv.stride}")
            w = init[node.input[1]]
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise SystemExit(f"{path}: {node.name} weight {tuple(w.shape)} != {tuple(conv.weight.shape)}")
            conv.weight.copy_(w)
            if len(node.input) > 2 and node.input[2]:
                conv.bias.copy_(init[node.input[2]])
        if has_bn:
            for node, bn in zip(bns, tbns):
                eps = [onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"]
                bn.eps = eps[0] if eps else 1e-5
                s, b, mu, var = (init[i] for i in node.input[1:5])
                bn.weight.copy_(s)
                bn.bias.copy_(b)
                bn.running_mean.copy_(mu)
                bn.running_var.copy_(var)
        g = gemms[0]
        transb = [onnx.helper.get_attribute_value(a) for a in g.attribute if a.name == "transB"]
        w = init[g.input[1]]
        net.linear.weight.copy_(w if (transb and transb[0]) else w.t())
        net.linear.bias.copy_(init[g.input[2]])
    return net.eval()


def load_cifar(path, limit):
    rec = 1 + 3 * 32 * 32
    raw = np.fromfile(path, dtype=np.uint8, count=limit * rec).reshape(-1, rec)
    labels = raw[:, 0].astype(np.int64)
    px = raw[:, 1:].reshape(-1, 3, 32, 32)
    # float32 throughout, like dfmpc and torchvision: (float32(v/255) - mean) / std
    x = (px.astype(np.float32) / np.float32(255) - MEAN[None, :, None, None]) / STD[None, :, None, None]
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(labels)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_runner(net, example, jit):
    if not jit:
        return net
    with torch.no_grad():
        traced = torch.jit.trace(net, example)
        frozen = torch.jit.freeze(traced)
        try:
            frozen = torch.jit.optimize_for_inference(frozen)
        except Exception:  # optional pass; keep the frozen module when it is not available
            pass
    return frozen


def cmd_speed(a):
    torch.set_num_threads(a.threads)
    net = load_onnx_resnet(a.model)
    if a.data:
        x, _ = load_cifar(a.data, a.batch)
        if x.shape[0] < a.batch:
            raise SystemExit(f"{a.data}: fewer than {a.batch} images")
    else:
        x = torch.from_numpy(np.random.default_rng(12345).uniform(-2, 2, (a.batch, 3, 32, 32)).astype(np.float32))
    modes = ["jit"] if a.jit else a.modes.split(",")
    for mode in modes:  # one JSON line per mode; peak RSS is the process's so far
        if mode not in ("eager", "jit"):
            raise SystemExit(f"unknown mode {mode} (eager, jit)")
        runner = make_runner(net, x, mode == "jit")
        ctx = torch.no_grad if mode == "jit" else torch.inference_mode
        with ctx():
            for _ in range(max(a.warmup, 2) if mode == "jit" else a.warmup):
                runner(x)
            runs, spent = 0, 0.0
            cpu0 = time.process_time()
            while spent < a.seconds or runs < 1:
                t0 = time.perf_counter()
                runner(x)
                spent += time.perf_counter() - t0
                runs += 1
            cpu = time.process_time() - cpu0
        print(json.dumps({
            "engine": "pytorch-jit-frozen" if mode == "jit" else "pytorch-eager", "version": torch.__version__,
            "model": a.model, "batch": a.batch, "threads": torch.get_num_threads(), "runs": runs,
            "images": runs * a.batch, "seconds": spent, "images_per_second": runs * a.batch / spent,
            "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
        }), flush=True)


def cmd_verify(a):
    torch.set_num_threads(a.threads)
    net = load_onnx_resnet(a.model)
    x, labels = load_cifar(a.data, a.verify)
    with torch.inference_mode():
        logits = torch.cat([net(x[i:i + 100]) for i in range(0, x.shape[0], 100)]).numpy()
        jit_logits = make_runner(net, x[:100], True)(x[:100]).numpy() if a.jit else None
    report = {"model": a.model, "images": int(x.shape[0])}
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ort.f32")
        subprocess.run(["node", os.path.join(HERE, "ort", "logits.mjs"), a.model, a.data, out,
                        "--limit", str(a.verify)], check=True, stdout=subprocess.DEVNULL)
        ort = np.fromfile(out, dtype=np.float32).reshape(logits.shape)
    diff = float(np.abs(ort - logits).max())
    agree = float((ort.argmax(1) == logits.argmax(1)).mean())
    report.update(max_abs_diff_vs_ort=diff, max_abs_logit=float(np.abs(ort).max()),
                  argmax_agreement_vs_ort=agree)
    ok &= diff <= a.tol and agree == 1.0
    if jit_logits is not None:
        jd = float(np.abs(jit_logits - logits[:100]).max())
        report["max_abs_diff_jit_vs_eager"] = jd
        ok &= jd <= a.tol
    top1 = float((logits.argmax(1) == labels.numpy()).mean() * 100)
    report["torch_top1"] = top1
    if a.dfmpc:
        r = subprocess.run([a.dfmpc, "eval", a.model, "--data", a.data, "--mean", "0.485,0.456,0.406",
                            "--std", "0.229,0.224,0.225", "--limit", str(a.verify), "--threads",
                            str(a.threads), "--json"], check=True, capture_output=True, text=True)
        d = json.loads(r.stdout.strip().splitlines()[-1])
        report["dfmpc_top1"] = d["top1"]
        ok &= abs(d["top1"] - top1) < 1e-9
    report["ok"] = bool(ok)
    print(json.dumps(report))
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first (at least 2 for jit: the profiling executor profiles the first run and optimises on the second)")
    p.add_argument("--data", default="")
    p.add_argument("--jit", action="store_true", help="same as --modes jit")
    p.add_argument("--modes", default="eager",
                   help="comma-separated, measured in turn in one process: eager (torch.inference_mode), "
                        "jit (torch.jit.trace + freeze + optimize_for_inference)")
    p.add_argument("--verify", type=int, default=0, metavar="N")
    p.add_argument("--dfmpc", default="", help="dfmpc binary for the top-1 cross-check of --verify")
    p.add_argument("--tol", type=float, default=1e-3, help="max |logit difference| allowed by --verify")
    a = p.parse_args()
    if a.verify:
        if not a.data:
            raise SystemExit("--verify needs --data")
        sys.exit(cmd_verify(a))
    cmd_speed(a)


if __name__ == "__main__":
    main()
