#!/usr/bin/python3
"""Turns one bench/run_speed.sh run (bench/results/tmp/speed/RUN/) into the tables of
docs/performance.md. Only the part between the markers
    <!-- run_speed:begin -->  ...  <!-- run_speed:end -->
is replaced; text outside them (hand-written notes) is kept. Creates the file if missing.

    /usr/bin/python3 bench/speed_report.py RUN_DIR [--doc docs/performance.md] [--command CMD]
"""
import argparse
import json
import os
import re
import statistics
import sys

BEGIN, END = "<!-- run_speed:begin -->", "<!-- run_speed:end -->"
ENGINES = [  # key in the table, label
    ("dfmpc", "dfmpc"),
    ("onnxruntime", "ONNX Runtime"),
    ("pytorch-eager", "PyTorch eager"),
    ("pytorch-jit-frozen", "PyTorch JIT (frozen)"),
    ("opencv", "OpenCV DNN"),
    ("dfmpc-passive", "dfmpc, OMP_WAIT_POLICY=passive"),
    ("dfmpc-1t", "dfmpc, 1 thread"),
]
NAMES = {"resnet20": "ResNet-20", "resnet56": "ResNet-56"}


def last_json(path):
    """All JSON objects printed (one a line) in a file."""
    out = []
    try:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def time_v(path):
    t = {}
    try:
        for line in open(path):
            k, _, v = line.strip().rpartition(": ")
            if k == "Maximum resident set size (kbytes)":
                t["rss_mb"] = int(v) / 1024
            elif k == "User time (seconds)":
                t["user"] = float(v)
            elif k == "System time (seconds)":
                t["sys"] = float(v)
            elif k == "Percent of CPU this job got":
                t["cpu_pct"] = float(v.rstrip("%") or 0)
            elif k.startswith("Elapsed (wall clock) time"):
                parts = [float(p) for p in v.split(":")]
                s = 0.0
                for p in parts:
                    s = s * 60 + p
                t["wall"] = s
    except OSError:
        pass
    return t


def fmt_ips(v):
    if v is None:
        return "—"
    return f"{v:,.0f}" if v >= 100 else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--doc", default="docs/performance.md")
    ap.add_argument("--command", default="bash bench/run_speed.sh")
    a = ap.parse_args()
    run = a.run.rstrip("/")
    meta = {}
    for line in open(os.path.join(run, "meta.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        meta[k] = v

    # measurements: (round, file, batch, engine) -> dict
    meas = []
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(run, "index.tsv"))][1:]
    loads = []
    failures = []
    for mid, rnd, f, b, engine, load1, rc in rows:
        rnd, b = int(rnd), int(b)
        if rnd > 0:
            loads.append(float(load1))
        t = time_v(os.path.join(run, "raw", mid + ".time"))
        objs = last_json(os.path.join(run, "raw", mid + ".json"))
        if rc != "0" or not objs:
            err = ""
            try:
                err = open(os.path.join(run, "raw", mid + ".err")).read().strip().splitlines()[-1:]
                err = err[0] if err else ""
            except OSError:
                pass
            failures.append((f, b, engine, rc, (objs[-1].get("error") if objs else "") or err))
            continue
        for o in objs:
            e = o.get("engine", engine)
            if e == "onnxruntime-node":
                e = "onnxruntime"
            elif e == "opencv-dnn":
                e = "opencv"
            elif engine.startswith("dfmpc"):
                e = engine
            cpu_s = o.get("cpu_seconds")
            if cpu_s is None and t:  # dfmpc: whole process (upper bound: includes loading)
                cpu_s = t.get("user", 0) + t.get("sys", 0)
            meas.append(dict(round=rnd, file=f, batch=b, engine=e, ips=o.get("images_per_second"),
                             images=o.get("images"), seconds=o.get("seconds"), cpu_s=cpu_s,
                             rss=t.get("rss_mb"), cpu_pct=t.get("cpu_pct"), load=float(load1)))

    files = []
    for m in meas:
        if m["file"] not in files:
            files.append(m["file"])
    batches = sorted({m["batch"] for m in meas})
    rounds = sorted({m["round"] for m in meas if m["round"] > 0})

    def get(f, b, e, r):
        for m in meas:
            if (m["file"], m["batch"], m["engine"], m["round"]) == (f, b, e, r):
                return m
        return None

    present = [(k, l) for k, l in ENGINES if any(m["engine"] == k and m["round"] > 0 for m in meas)]
    out = []
    # --- throughput table
    hdr = "| model | file | batch | " + " | ".join(l + " img/s" + ("" if k == "dfmpc" else " (÷ dfmpc)")
                                                     for k, l in present) + " |"
    out.append(hdr)
    out.append("|---|---|---:|" + "---:|" * len(present))
    summary = {}  # engine -> list of ratios
    for f in files:
        model, _, variant = f.partition("_cifar10_")
        for b in batches:
            cells = []
            for k, _ in present:
                ips = med([(get(f, b, k, r) or {}).get("ips") for r in rounds])
                if k == "dfmpc":
                    cells.append(fmt_ips(ips))
                    continue
                ratios = []
                for r in rounds:
                    x, d = get(f, b, k, r), get(f, b, "dfmpc", r)
                    if x and d and x.get("ips") and d.get("ips"):
                        ratios.append(x["ips"] / d["ips"])
                rr = med(ratios)
                if rr is not None:
                    summary.setdefault(k, []).append((f, b, rr))
                cells.append("—" if ips is None else f"{fmt_ips(ips)} ({fmt_ratio(rr)})")
            if all(c == "—" for c in cells):
                continue
            out.append(f"| {NAMES.get(model, model)} | `{variant}` | {b} | " + " | ".join(cells) + " |")
    throughput = "\n".join(out)

    # --- memory table (peak RSS of the measuring process, /usr/bin/time -v, max over rounds)
    mem_engines = [(k, l) for k, l in present if k != "pytorch-jit-frozen"]
    out = ["| model | file | batch | " + " | ".join(("PyTorch (eager + JIT, one process)" if k == "pytorch-eager" else l)
                                               for k, l in mem_engines) + " |",
           "|---|---|---:|" + "---:|" * len(mem_engines)]
    for f in files:
        model, _, variant = f.partition("_cifar10_")
        for b in batches:
            cells = []
            for k, _ in mem_engines:
                v = [(get(f, b, k, r) or {}).get("rss") for r in rounds]
                v = [x for x in v if x]
                cells.append(f"{max(v):.0f} MB" if v else "—")
            if all(c == "—" for c in cells):
                continue
            out.append(f"| {NAMES.get(model, model)} | `{variant}` | {b} | " + " | ".join(cells) + " |")
    memory = "\n".join(out)

    # --- CPU share and CPU time per image (noise indicators)
    bmax = max(batches) if batches else 0
    out = [f"| engine | CPU share of its process (median, 200% = both cores) | CPU ms per image at batch {bmax} (median) |",
           "|---|---:|---:|"]
    for k, l in present:
        ms = [m for m in meas if m["engine"] == k and m["round"] > 0]
        share = med([m["cpu_pct"] for m in ms])
        per = med([1000 * m["cpu_s"] / m["images"] for m in ms if m["batch"] == bmax and m["cpu_s"] and m["images"]])
        out.append(f"| {l} | {share:.0f}% | {per:.2f} |" if share is not None and per is not None
                   else f"| {l} | {'—' if share is None else f'{share:.0f}%'} | — |")
    cpu = "\n".join(out)

    # --- checks
    checks = []
    for f in files:
        tc = last_json(os.path.join(run, "raw", f + ".torch_check.json"))
        if tc:
            c = tc[-1]
            checks.append(f"- `{f}`: PyTorch module vs ONNX Runtime on {c['images']} images: max |logit difference| "
                          f"{c['max_abs_diff_vs_ort']:.1e} (logits up to {c['max_abs_logit']:.0f}), arg-max agreement "
                          f"{100 * c['argmax_agreement_vs_ort']:.0f}%; JIT vs eager {c.get('max_abs_diff_jit_vs_eager', float('nan')):.1e}; "
                          f"top-1 PyTorch {c['torch_top1']:.2f}% vs dfmpc {c.get('dfmpc_top1', float('nan')):.2f}% "
                          f"-> {'OK' if c['ok'] else 'MISMATCH'}")
        oc = last_json(os.path.join(run, "raw", f + ".opencv_check.json"))
        if oc and "top1" in oc[-1]:
            ref = tc[-1].get("dfmpc_top1") if tc else None
            checks.append(f"- `{f}`: OpenCV DNN (fixed-up file) top-1 on the first {oc[-1]['images']} images "
                          f"{oc[-1]['top1']:.2f}%" + (f" (dfmpc {ref:.2f}%)" if ref is not None else ""))
    opencv_err = None
    for f in files:
        oi = last_json(os.path.join(run, "raw", f + ".opencv_import.json"))
        if oi and "error" in oi[-1]:
            opencv_err = (f, oi[-1]["error"].strip())
            break
    if opencv_err:
        checks.append(f"- OpenCV {meta.get('opencv_version', '')} cannot import the original files "
                      f"(`{opencv_err[0]}.onnx`, `readNetFromONNX`):\n\n  ```\n  "
                      + opencv_err[1].replace("\n", "\n  ") + "\n  ```\n\n  The OpenCV column uses a copy with the "
                      "empty optional third input of the two Pad nodes removed (`bench/speed_opencv_fixup.py`; "
                      "same computation).")
    for f, b, e, rc, err in failures:
        checks.append(f"- FAILED: `{f}` batch {b} {e} (exit {rc}): {err}")

    lmin, lmed, lmax = (min(loads), statistics.median(loads), max(loads)) if loads else (0, 0, 0)
    section = f"""{BEGIN}
<!-- generated by bench/speed_report.py from bench/results/tmp/speed/{meta.get('run')}/; edit outside the markers -->
Command: `{a.command}` ({meta.get('date')}, {meta.get('wall_seconds', '?')} s wall, {len(rounds)} round(s), about {meta.get('measure_seconds', '?')} s per measurement, {meta.get('threads', '?')} threads, batches {meta.get('batches', '?')}).

Machine: {meta.get('cpu')} ({meta.get('nproc')} vCPUs, AVX-512 {'yes' if meta.get('flags_avx512') == 'avx512f' else 'not exposed'}), {meta.get('mem')}, {meta.get('os')}, kernel {meta.get('kernel')}.
**Shared with other jobs during the run:** 1-minute load average before each measurement min {lmin:.1f} / median {lmed:.1f} / max {lmax:.1f} on 2 cores (start `{meta.get('load_start', '')}`, end `{meta.get('load_end', '')}`). Absolute images/s are therefore far below an idle machine's and noisy; the ratios (each engine ÷ dfmpc, same model and batch, same round, runs seconds apart, median over rounds) are the numbers to read.

Versions: dfmpc {meta.get('dfmpc_version', '').replace('dfmpc ', '')} (build/dfmpc sha256 {meta.get('dfmpc_sha')}...), onnxruntime-node {meta.get('ort_version')} (Node {meta.get('node_version')}), PyTorch {meta.get('torch_version', '—')} (Debian python3-torch), OpenCV {meta.get('opencv_version', '—')} (Debian libopencv-dev).

### Throughput (images/s, median over rounds; in brackets: engine ÷ dfmpc)

{throughput}

### Peak memory (maximum resident set size of the measuring process, `/usr/bin/time -v`)

{memory}

### How much CPU each engine got

{cpu}

### Checks made in the same run

{chr(10).join(checks) if checks else '- none'}
{END}"""

    doc = a.doc
    if os.path.exists(doc):
        text = open(doc).read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
        text = "# Performance\n\n" + section + "\n"
    open(doc, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
