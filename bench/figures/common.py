"""Helpers shared by the figure scripts (bench/figures.sh): run the dfmpc CLI, read ONNX
conv weights, run gnuplot. Needs Debian's python3 with numpy and onnx."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

MODELS = {"resnet20": "ResNet-20", "resnet56": "ResNet-56"}

# The CIFAR-10 normalisation the shared models were trained with.
EVAL_NORM = ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


def log(msg):
    print("[figures] " + msg, file=sys.stderr, flush=True)


def model_path(shared, model):
    return os.path.join(shared, "models", model + "_cifar10_bn.onnx")


def data_path(shared):
    return os.path.join(shared, "data", "cifar10-test-jpeg.bin")


def binary_id(path):
    """First 12 hex digits of the sha256 of a file (which dfmpc build produced a number)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def run_json(cmd):
    """Runs a dfmpc command with --json; returns (parsed report or None, stderr text)."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout).strip()
    return json.loads(proc.stdout), proc.stderr


def quantize(dfmpc, model, out, bits, method, stats, lambda1=None):
    # FP32 weights: the figures read them with numpy (conv_weights) and evaluate the file.
    cmd = [dfmpc, "quantize", model, "-o", out, "--bits", bits, "--method", method,
           "--stats", stats, "--weights", "float", "--json"]
    if lambda1 is not None:
        cmd += ["--lambda1", repr(float(lambda1))]
    return run_json(cmd)


def evaluate(dfmpc, model, data, limit, threads=1):
    """One thread by default: the machine is shared, and accuracy does not depend on it."""
    cmd = [dfmpc, "eval", model, "--data", data] + EVAL_NORM + [
        "--limit", str(limit), "--threads", str(threads), "--json"]
    report, err = run_json(cmd)
    if report is None:
        raise RuntimeError("dfmpc eval failed on %s: %s" % (model, err))
    return report


def conv_weights(path):
    """{Conv node name: weight array} (initializer named by the node's input[1])."""
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    return {n.name: inits[n.input[1]] for n in m.graph.node
            if n.op_type == "Conv" and n.input[1] in inits}


def png_terminal():
    """pngcairo when this gnuplot has it, else the libgd png terminal."""
    out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" if "pngcairo" in (out.stdout + out.stderr) else "png"


def terminal_line(width, height):
    term = png_terminal()
    if term == "pngcairo":
        return "set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,11'" % (
            width, height)
    return "set terminal png size %d,%d noenhanced font 'DejaVu Sans,10'" % (width, height)


def gnuplot(script):
    proc = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("gnuplot failed:\n" + proc.stderr + "\n--- script ---\n" + script)
    if proc.stderr.strip():
        log("gnuplot: " + proc.stderr.strip())


def gp_str(s):
    """A gnuplot double-quoted string literal; a backslash-n in s stays a line break."""
    return '"' + s.replace('"', '\\"') + '"'

