#!/usr/bin/python3
"""Times dfmpc's engine for bench/run_speed.sh with `dfmpc eval --limit L --json` runs, whose
images_per_second counts only the inference calls (normalisation and loading excluded; the
first, warm-up batch of each run included).

How long a given L takes is unpredictable on a shared machine (at batch 1 with 2 OpenMP
threads it varied 100x here), so this runs dfmpc in chunks within a wall-clock budget: a first
chunk of one batch (or the size remembered in --state from an earlier round), then one chunk
sized from the speed just seen to fill the rest of the budget, and so on. Prints one JSON line
with images, seconds, images_per_second summed over the chunks (the one-batch probe chunk is
left out when a later chunk exists), the children's CPU seconds and largest max RSS.

    /usr/bin/python3 bench/speed_dfmpc.py DFMPC MODEL --data F --batch B --threads T --seconds S
        [--env OMP_WAIT_POLICY=passive] [--state FILE --key KEY] [--engine NAME]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

NORM = ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


def run_chunk(a, limit, env):
    cmd = [a.dfmpc, "eval", a.model, "--data", a.data, *NORM, "--batch", str(a.batch), "--threads",
           str(a.threads), "--limit", str(limit), "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}")
    d = json.loads(out.strip().splitlines()[-1])
    return d, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dfmpc")
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--state", default="")
    ap.add_argument("--key", default="")
    ap.add_argument("--engine", default="dfmpc")
    ap.add_argument("--max-images", type=int, default=10000)
    a = ap.parse_args()
    env = dict(os.environ)
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    b = a.batch
    cap = max(b, a.max_images // b * b)
    state = {}
    if a.state and os.path.exists(a.state):
        state = json.load(open(a.state))
    known = state.get(a.key)

    chunks = []
    t0 = time.monotonic()
    limit = b if not known else max(b, min(cap, math.ceil(known * a.seconds / b) * b))
    probe = not known
    while True:
        d, cpu, rss = run_chunk(a, limit, env)
        chunks.append(dict(images=d["images"], seconds=d["seconds"], cpu=cpu, rss=rss, probe=probe))
        ips = d["images"] / d["seconds"] if d["seconds"] > 0 else 0
        left = a.seconds - (time.monotonic() - t0)
        if left <= 0.05 * a.seconds or ips <= 0:
            break
        limit = max(b, min(cap, math.ceil(ips * left / b) * b))
        probe = False
    used = [c for c in chunks if not c["probe"]] or chunks
    images = sum(c["images"] for c in used)
    seconds = sum(c["seconds"] for c in used)
    ips = images / seconds if seconds > 0 else 0.0
    if a.state and a.key and ips > 0:
        state = json.load(open(a.state)) if os.path.exists(a.state) else {}
        state[a.key] = ips
        json.dump(state, open(a.state, "w"))
    print(json.dumps({
        "engine": a.engine, "model": a.model, "batch": b, "threads": a.threads, "env": a.env,
        "images": images, "seconds": seconds, "images_per_second": ips, "chunks": len(chunks),
        "chunk_images": [c["images"] for c in chunks], "cpu_seconds": sum(c["cpu"] for c in used),
        "cpu_seconds_note": "whole dfmpc processes (loading included)",
        "peak_rss_mb": max(c["rss"] for c in chunks), "wall_seconds": time.monotonic() - t0,
    }))


if __name__ == "__main__":
    sys.exit(main())
