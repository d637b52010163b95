#!/usr/bin/env bash
# Quantization speed, one command; writes docs/quant-speed.md:
#
#   bash bench/quant_speed.sh
#
# Times load + quantize + write of ResNet-56 (the shared CIFAR-10 `_bn` file) and of a
# torchvision ResNet-50 (25.6M weights, BN kept; made by tools/make_resnet50_onnx.py into
# $WORK when absent, ~100 MB, never in the repository), for
#   dfmpc   build/dfmpc quantize MODEL -o OUT --json: wall time of the process, the in-process
#           quantize time ("seconds") and load / write ("io_seconds");
#   torch   /usr/bin/python3 bench/quant_speed_torch.py: the same steps in PyTorch (RTN per
#           output channel + a data-free BN update in torch ops + onnx.save); wall time of the
#           process (Python start-up and `import torch` included) and in-process seconds;
# in the settings
#   default       dfmpc's defaults (SQuant, joint+mmse statistics repair) | torch: RTN 2/6 + ratio
#   rtn keep      --quantizer rtn --stats keep: the same work in both tools | torch: RTN 2/6, keep
#   stats keep    --stats keep (weights only)                              | torch: RTN 2/6, keep
#   bits 6        --bits 6                                                  | torch: RTN 6 + ratio
# Every repetition runs every (model, setting) with both tools back to back, so ratios compare
# runs made seconds apart (the machine is shared). Medians over REPS repetitions.
# Environment: DFMPC (build/dfmpc), REPS (5), WORK (/tmp/dfmpc-quant-speed: ResNet-50 file,
#   outputs, raw results), MODELS_DIR (shared models), DOC (docs/quant-speed.md), BASELINE
#   (optional: another dfmpc binary, e.g. an older build, timed alongside as "baseline").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
pick_shared() { for d in /work/shared "$ROOT/../shared"; do [[ -e "$d/$1" ]] && { echo "$d/$1"; return; }; done; echo "/work/shared/$1"; }
DFMPC="${DFMPC:-$ROOT/build/dfmpc}"
REPS="${REPS:-5}"
WORK="${WORK:-/tmp/dfmpc-quant-speed}"
MODELS_DIR="${MODELS_DIR:-$(pick_shared models)}"
DOC="${DOC:-docs/quant-speed.md}"
BASELINE="${BASELINE:-}"
PY=/usr/bin/python3

[[ -x "$DFMPC" ]] || { echo "no dfmpc binary at $DFMPC (build it, or set DFMPC)" >&2; exit 1; }
mkdir -p "$WORK"
R56="$MODELS_DIR/resnet56_cifar10_bn.onnx"
R50="$WORK/resnet50_bn.onnx"
[[ -e "$R50" ]] || $PY tools/make_resnet50_onnx.py "$R50"
RAW="$WORK/raw.jsonl"
: > "$RAW"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

declare -A DFMPC_ARGS=([default]="" [rtn keep]="--quantizer rtn --stats keep" [stats keep]="--stats keep" [bits 6]="--bits 6")
declare -A TORCH_ARGS=([default]="--bits 2/6 --stats ratio" [rtn keep]="--bits 2/6 --stats keep"
                       [stats keep]="--bits 2/6 --stats keep" [bits 6]="--bits 6 --stats ratio")
SETTINGS=("default" "rtn keep" "stats keep" "bits 6")

now() { date +%s.%N; }
record() {  # tool model setting wall json
  $PY -c 'import json, sys; d = json.loads(sys.argv[5]); print(json.dumps({"tool": sys.argv[1], "model": sys.argv[2], "setting": sys.argv[3], "wall": float(sys.argv[4]), **d}))' "$@" >> "$RAW"
}

for rep in $(seq 1 "$REPS"); do
  for model in resnet56 resnet50; do
    path="$R56"; [[ $model == resnet50 ]] && path="$R50"
    for setting in "${SETTINGS[@]}"; do
      for tool in dfmpc ${BASELINE:+baseline}; do
        bin="$DFMPC"; [[ $tool == baseline ]] && bin="$BASELINE"
        t0=$(now)
        # shellcheck disable=SC2086
        out=$("$bin" quantize "$path" -o "$WORK/${tool}_$model.onnx" ${DFMPC_ARGS[$setting]} --json)
        t1=$(now)
        # (a baseline without "io_seconds" reports no load / write)
        js=$($PY -c 'import json, sys; d = json.loads(sys.stdin.read()); io = d.get("io_seconds", {"load": float("nan"), "write": float("nan")}); print(json.dumps({"load": io["load"], "quantize": d["seconds"], "write": io["write"]}))' <<< "$out")
        record "$tool" "$model" "$setting" "$(echo "$t1 - $t0" | bc)" "$js"
      done
      t0=$(now)
      # shellcheck disable=SC2086
      out=$($PY bench/quant_speed_torch.py "$path" "$WORK/torch_$model.onnx" ${TORCH_ARGS[$setting]})
      t1=$(now)
      record torch "$model" "$setting" "$(echo "$t1 - $t0" | bc)" "$out"
    done
  done
  echo "repetition $rep/$REPS done" >&2
done

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
$PY - "$RAW" "$DOC" "$REPS" "$LOAD_BEFORE" "$LOAD_AFTER" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "${DFMPC#"$ROOT"/}" "${BASELINE#"$ROOT"/}" <<'EOF'
import collections, datetime, json, os, statistics, sys
raw, doc, reps, load_before, load_after, commit, dfmpc_bin, baseline_bin = sys.argv[1:9]
rows = [json.loads(l) for l in open(raw)]
runs = collections.defaultdict(list)
for r in rows:
    runs[(r["model"], r["setting"], r["tool"])].append(r)
def med(rs, key):
    return statistics.median(key(r) for r in rs)
inproc = lambda r: r["load"] + r["quantize"] + r["write"]
def ms(x):
    return f"{x * 1e3:.0f} ms" if x < 10 else f"{x:.1f} s"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
threads = next((r.get("threads") for r in rows if r["tool"] == "torch"), "?")
out = []
out.append("# Quantization speed: dfmpc quantize vs the same work in PyTorch\n")
out.append("Generated by `bash bench/quant_speed.sh` (do not edit by hand): load + quantize + write of "
           "ResNet-56 (`resnet56_cifar10_bn.onnx`, 0.85M weights) and of a torchvision ResNet-50 "
           "(25.6M weights, random weights with non-trivial BN statistics, BN kept, opset 13; "
           "`tools/make_resnet50_onnx.py`).\n")
out.append(f"- date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
           f"{os.cpu_count()} cores ({cpu}), shared: load average {load_before} before, {load_after} after")
out.append(f"- medians over {reps} repetitions; each repetition runs every (model, setting) with both tools "
           "back to back, so the ratios compare runs made seconds apart")
out.append("- **process**: wall time of the whole process (dfmpc re-executes itself once at start-up; the "
           "torch column includes Python start-up and `import torch`, about 1 s); **in-process**: load + "
           "quantize + write measured inside the process; **quantize**: the quantization alone (dfmpc's "
           "`\"seconds\"`, torch's quantize + statistics step)")
out.append(f"- dfmpc: `{dfmpc_bin} quantize MODEL -o OUT --json [setting]`; torch: "
           f"`/usr/bin/python3 bench/quant_speed_torch.py MODEL OUT [setting]` (PyTorch on {threads} thread(s), "
           "its OpenMP default here)")
out.append("- settings: *default* = dfmpc's defaults (SQuant per channel, joint+mmse statistics repair), torch "
           "RTN + ratio BN update; *rtn keep* = `--quantizer rtn --stats keep`, the same work in both tools; "
           "*stats keep* = weights only; *bits 6* = `--bits 6` (torch: RTN 6 bits + ratio)\n")
out.append("| model | setting | dfmpc process | dfmpc in-process | dfmpc quantize | torch process | torch in-process | torch quantize | in-process torch/dfmpc | quantize torch/dfmpc |")
out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
settings = ["default", "rtn keep", "stats keep", "bits 6"]
for model in ["resnet56", "resnet50"]:
    for s in settings:
        d, t = runs.get((model, s, "dfmpc")), runs.get((model, s, "torch"))
        if not d or not t:
            continue
        # Ratios per repetition (runs made seconds apart), then their median.
        r_in = statistics.median(inproc(b) / inproc(a) for a, b in zip(d, t))
        r_q = statistics.median(b["quantize"] / a["quantize"] for a, b in zip(d, t))
        out.append(f"| {model} | {s} | {ms(med(d, lambda r: r['wall']))} | {ms(med(d, inproc))} | "
                   f"{ms(med(d, lambda r: r['quantize']))} | {ms(med(t, lambda r: r['wall']))} | {ms(med(t, inproc))} | "
                   f"{ms(med(t, lambda r: r['quantize']))} | {r_in:.2f} | {r_q:.2f} |")
if baseline_bin:
    out.append(f"\nThe same dfmpc runs against a baseline binary (`{baseline_bin}`), timed in the same repetitions:\n")
    out.append("| model | setting | baseline process | dfmpc process | baseline quantize | dfmpc quantize | quantize baseline/dfmpc |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    for model in ["resnet56", "resnet50"]:
        for s in settings:
            d, b = runs.get((model, s, "dfmpc")), runs.get((model, s, "baseline"))
            if not d or not b:
                continue
            r_q = statistics.median(y["quantize"] / x["quantize"] for x, y in zip(d, b))
            out.append(f"| {model} | {s} | {ms(med(b, lambda r: r['wall']))} | {ms(med(d, lambda r: r['wall']))} | "
                       f"{ms(med(b, lambda r: r['quantize']))} | {ms(med(d, lambda r: r['quantize']))} | {r_q:.2f} |")
out.append("\nIn-process split (median load / quantize / write):\n")
out.append("| model | setting | dfmpc | torch |")
out.append("|---|---|---|---|")
for model in ["resnet56", "resnet50"]:
    for s in settings:
        d, t = runs.get((model, s, "dfmpc")), runs.get((model, s, "torch"))
        if not d or not t:
            continue
        split = lambda rs: " / ".join(ms(med(rs, lambda r, k=k: r[k])) for k in ("load", "quantize", "write"))
        out.append(f"| {model} | {s} | {split(d)} | {split(t)} |")
open(doc, "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
echo "wrote $DOC (raw: $RAW)" >&2
