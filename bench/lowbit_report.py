#!/usr/bin/env python3
"""Turns a bench/run_lowbit.sh run directory into the tables of docs/lowbit.md.

Usage: lowbit_report.py RUN_DIR DOC.md  (rewrites DOC between the run_lowbit markers)
"""
import glob
import json
import os
import re
import statistics
import sys

BEGIN, END = "<!-- run_lowbit:begin -->", "<!-- run_lowbit:end -->"
NAMES = {"resnet20": "ResNet-20", "resnet56": "ResNet-56"}


def read_time(path):
    """Peak RSS (KB), CPU seconds, CPU share and 1-minute load from /usr/bin/time -v output."""
    text = open(path).read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    cpu = int(re.search(r"Percent of CPU this job got: (\d+)%", text).group(1))
    load = float(re.search(r"^load ([\d.]+)", text, re.M).group(1))
    return {"rss_kb": rss, "cpu_s": user + system, "cpu_pct": cpu, "load": load}


def load(run, tag):
    j = json.load(open(os.path.join(run, tag + ".json")))
    j.update(read_time(os.path.join(run, tag + ".time")))
    return j


def mb(kb):
    return f"{kb / 1024:.1f} MB"


def kib(b):
    return f"{b / 1024:.0f} KiB"


def profile_rows(run, tag):
    """Top symbols of a perf report, grouped into what they are."""
    path = os.path.join(run, f"perf_{tag}.txt")
    if not os.path.exists(path):
        return None
    groups = {}
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2).rstrip(" -")  # perf pads with blanks and "-" columns
        if "row_tile" in sym:
            key = "low-bit conv: FMA micro-kernel (`row_tile`)"
        elif "decode_slice" in sym:
            key = "low-bit conv: decoding codes (`decode_slice`)"
        elif "pad_input" in sym:
            key = "low-bit conv: zero-padded input copy (`pad_input`)"
        elif "LowBitConvKernel::run" in sym:
            key = "low-bit conv: loop overhead (`LowBitConvKernel::run`)"
        elif "gemm_panel" in sym:
            key = "FP32 Winograd conv: GEMM over the 36 positions (`gemm_panel`)"
        elif "transform_weights" in sym:
            key = "FP32 Winograd conv: weight transform (kernel build, once per process)"
        elif "transform" in sym or "Winograd" in sym:
            key = "FP32 Winograd conv: input / output transforms"
        elif "dnnl" in sym.lower() or re.match(r"0x[0-9a-f]+$", sym):
            key = "oneDNN (stride-2 convs; JIT code shows as bare addresses)"
        elif "[k]" in line:
            key = "kernel (page faults, scheduling)"
        elif "blk::" in sym or "memmove" in sym or "memset" in sym or "memcpy" in sym:
            key = "layout ops, copies (slice/pad/pool, memcpy)"
        elif "gomp" in sym.lower() or "omp" in sym.lower():
            key = "OpenMP runtime"
        else:
            key = "other (data loading, normalisation, ...)"
        groups[key] = groups.get(key, 0.0) + pct
    return sorted(groups.items(), key=lambda kv: -kv[1])


def main():
    run, doc = sys.argv[1], sys.argv[2]
    meta = dict(line.rstrip("\n").split(" ", 1) for line in open(os.path.join(run, "meta.txt")))
    speeds = sorted(glob.glob(os.path.join(run, "speed_*_fp32_r*.json")))
    keys = sorted({re.match(r"speed_(.*)_b(\d+)_fp32_r\d+", os.path.basename(p)[:-5]).groups() for p in speeds},
                  key=lambda k: (k[0], int(k[1])))
    rounds = sorted({int(re.search(r"_r(\d+)\.json$", p).group(1)) for p in speeds})
    out = []
    loads = []
    out.append(f"Command: `bash bench/run_lowbit.sh` ({meta['start']}, {meta['wall_seconds']} s wall, "
               f"{len(rounds)} round(s), 2 threads, `OMP_WAIT_POLICY=passive` for both paths).\n")
    out.append(f"Machine: {meta['cpu']}, flags {meta['flags']}; binary {meta['dfmpc']}.")
    out.append(f"Load average at start `{meta['loadavg_start']}`, at end `{meta['loadavg_end']}`.\n")

    # Top-1 check.
    out.append("### Top-1: low-bit path vs FP32 path (same .dfmpc file, batch 100)\n")
    out.append("| model | images | FP32 path top-1 | low-bit path top-1 | identical | convs from packed codes |")
    out.append("|---|---:|---:|---:|---|---:|")
    for p in sorted(glob.glob(os.path.join(run, "check_*_fp32.json"))):
        tag = os.path.basename(p)[len("check_"):-len("_fp32.json")]
        a, b = load(run, f"check_{tag}_fp32"), load(run, f"check_{tag}_packed")
        m, bits = tag.split("_")
        same = "yes" if a["top1"] == b["top1"] and a["top5"] == b["top5"] else "**NO**"
        out.append(f"| {NAMES.get(m, m)} MP{bits.replace('-', '/')} | {a['images']} | {a['top1']:.2f} % | "
                   f"{b['top1']:.2f} % | {same} | {b['packed_convs']} |")
    out.append("")

    # Speed and memory.
    out.append("### Speed and memory (median over rounds; ratio = low-bit ÷ FP32, same round)\n")
    out.append("| model | batch | FP32 img/s | low-bit img/s | low-bit ÷ FP32 (median, min–max) | "
               "peak RSS FP32 | peak RSS low-bit | RSS saved | weight bytes held FP32 | low-bit | ÷ |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for tag, batch in keys:
        fp, lb, ratio, rss_f, rss_l = [], [], [], [], []
        wf = wl = 0
        for r in rounds:
            a = load(run, f"speed_{tag}_b{batch}_fp32_r{r}")
            b = load(run, f"speed_{tag}_b{batch}_packed_r{r}")
            fp.append(a["images_per_second"])
            lb.append(b["images_per_second"])
            ratio.append(b["images_per_second"] / a["images_per_second"])
            rss_f.append(a["rss_kb"])
            rss_l.append(b["rss_kb"])
            wf, wl = a["executor_weight_bytes"], b["executor_weight_bytes"]
            loads += [a["load"], b["load"]]
        m, bits = tag.split("_")
        rf, rl = statistics.median(rss_f), statistics.median(rss_l)
        out.append(f"| {NAMES.get(m, m)} MP{bits.replace('-', '/')} | {batch} | {statistics.median(fp):.0f} | "
                   f"{statistics.median(lb):.0f} | {statistics.median(ratio):.2f}× ({min(ratio):.2f}–{max(ratio):.2f}) | "
                   f"{mb(rf)} | {mb(rl)} | {mb(rf - rl)} | {kib(wf)} | {kib(wl)} | {wf / wl:.1f}× |")
    out.append("")
    if loads:
        out.append(f"1-minute load average during the speed runs: min {min(loads):.1f} / median "
                   f"{statistics.median(loads):.1f} / max {max(loads):.1f} on 2 cores.\n")

    # File sizes.
    out.append("### Model files\n")
    out.append("| model | FP32 ONNX (`quantize -o`) | packed `.dfmpc` |")
    out.append("|---|---:|---:|")
    for p in sorted(glob.glob(os.path.join(run, "models", "*.dfmpc"))):
        tag = os.path.basename(p)[:-6]
        m, bits = tag.split("_")
        onnx = os.path.getsize(p[:-6] + ".onnx")
        out.append(f"| {NAMES.get(m, m)} MP{bits.replace('-', '/')} | {kib(onnx)} | {kib(os.path.getsize(p))} |")
    out.append("")

    # Profiles.
    profs = sorted(glob.glob(os.path.join(run, "perf_*.txt")))
    if profs:
        out.append("### Profile (perf, cpu-clock sampling, 1 thread; share of all samples of the process)\n")
        for p in profs:
            tag = os.path.basename(p)[len("perf_"):-len(".txt")]
            rows = profile_rows(run, tag)
            j = json.load(open(p[:-4] + ".json"))
            out.append(f"`{tag}` ({j['images']} images, {j['images_per_second']:.0f} img/s on 1 thread):\n")
            out.append("| where | share |")
            out.append("|---|---:|")
            for k, v in rows:
                if v >= 0.1:
                    out.append(f"| {k} | {v:.1f} % |")
            out.append("")

    text = open(doc).read() if os.path.exists(doc) else f"{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    gen = f"<!-- generated by bench/lowbit_report.py from {os.path.relpath(run, os.path.dirname(os.path.dirname(os.path.abspath(doc))))}/; edit outside the markers -->"
    open(doc, "w").write(head + BEGIN + "\n" + gen + "\n" + "\n".join(out) + "\n" + END + tail)


if __name__ == "__main__":
    main()
