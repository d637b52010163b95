#!/usr/bin/env bash
# Cross-checks dfmpc's inference engine against ONNX Runtime (CPU) on exported models.
#
# For ResNet-20 and ResNet-56 (the `_bn` files): the FP32 model, then `dfmpc quantize` at
# MP2/6, MP3/6, MP4/6, MP6/6 with --method none and --method dfmpc (--stats keep); each ONNX file
# is evaluated on the CIFAR-10 test file with `dfmpc eval --json` and with bench/ort/eval.mjs
# (same preprocessing, batches of 100, 2 threads). Writes bench/results/ort_accuracy.md and exits
# 1 if any |dfmpc top-1 - ORT top-1| exceeds MAX_DIFF (0.05 percentage points).
#
#   bash bench/check_ort_accuracy.sh [--resume]
# Environment: DFMPC (default build/dfmpc), MODELS_DIR (/work/shared/models or ../shared/models),
#   DATA (.../data/cifar10-test-jpeg.bin), MODELS ("resnet20 resnet56"), BITS ("2/6 3/6 4/6 6/6"),
#   LIMIT (0 = all 10,000 images), THREADS (1 per engine), PARALLEL (1: run dfmpc and ORT on a model
#   at the same time), MAX_DIFF (0.05), OUT (bench/results/ort_accuracy.md).
# Accuracy does not depend on the thread count; on a shared, oversubscribed 2-core machine two
# single-threaded processes finish far sooner than two 2-thread runs one after the other (each
# OpenMP / ORT barrier then waits for a second thread to be scheduled).
# --resume keeps the per-model results already in bench/results/tmp/ort_accuracy/ (same dfmpc
# binary only) instead of starting afresh. Needs node + `npm install --ignore-scripts` in bench/ort.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RESUME=0
[[ "${1:-}" == "--resume" ]] && RESUME=1

pick_shared() { for d in /work/shared "$ROOT/../shared"; do [[ -e "$d/$1" ]] && { echo "$d/$1"; return; }; done; echo "/work/shared/$1"; }
DFMPC_SRC="${DFMPC:-$ROOT/build/dfmpc}"
MODELS_DIR="${MODELS_DIR:-$(pick_shared models)}"
DATA="${DATA:-$(pick_shared data/cifar10-test-jpeg.bin)}"
MODELS="${MODELS:-resnet20 resnet56}"
BITS="${BITS:-2/6 3/6 4/6 6/6}"
LIMIT="${LIMIT:-0}"
THREADS="${THREADS:-1}"
PARALLEL="${PARALLEL:-1}"
MAX_DIFF="${MAX_DIFF:-0.05}"
OUT="${OUT:-$ROOT/bench/results/ort_accuracy.md}"
TMP="$ROOT/bench/results/tmp/ort_accuracy"
NORM=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)

[[ -x "$DFMPC_SRC" ]] || { echo "check_ort_accuracy: $DFMPC_SRC missing (cmake --build build --target dfmpc)" >&2; exit 2; }
[[ -f "$DATA" ]] || { echo "check_ort_accuracy: data file $DATA missing" >&2; exit 2; }
if [[ ! -d "$ROOT/bench/ort/node_modules/onnxruntime-node" ]]; then
  (cd "$ROOT/bench/ort" && npm install --ignore-scripts --no-audit --no-fund >&2)
fi

# Other people rebuild build/dfmpc while this runs for an hour or more: use a snapshot.
mkdir -p "$TMP"
SUM="$(sha256sum "$DFMPC_SRC" | cut -c1-16)"
if [[ $RESUME -eq 0 || ! -f "$TMP/dfmpc.sha" || "$(cat "$TMP/dfmpc.sha")" != "$SUM" ]]; then
  rm -rf "$TMP"; mkdir -p "$TMP"
  echo "$SUM" > "$TMP/dfmpc.sha"
fi
DFMPC="$TMP/dfmpc"
cp "$DFMPC_SRC" "$DFMPC"
ORT_VERSION="$(cd "$ROOT/bench/ort" && node -e "console.log(require('onnxruntime-node/package.json').version)")"
START="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
LIMIT_ARGS=(); ORT_LIMIT=()
if [[ "$LIMIT" != 0 ]]; then LIMIT_ARGS=(--limit "$LIMIT"); ORT_LIMIT=(--limit "$LIMIT"); fi

json_get() { /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d[sys.argv[1]])' "$1"; }

ROWS="$TMP/rows.tsv"
touch "$ROWS"
for model in $MODELS; do
  src="$MODELS_DIR/${model}_cifar10_bn.onnx"
  [[ -f "$src" ]] || { echo "check_ort_accuracy: $src missing" >&2; exit 2; }
  settings=("fp32")
  for b in $BITS; do for m in none dfmpc; do settings+=("MP$b $m"); done; done
  for s in "${settings[@]}"; do
    if grep -qF "$model	$s	" "$ROWS"; then echo "= $model $s (kept)"; continue; fi
    tag="${model}_$(echo "$s" | tr ' /' '__')"
    if [[ "$s" == fp32 ]]; then
      onnx="$src"
    else
      bits="${s#MP}"; bits="${bits%% *}"; method="${s##* }"
      onnx="$TMP/$tag.onnx"
      "$DFMPC" quantize "$src" -o "$onnx" --bits "$bits" --method "$method" --stats keep --weights float --json > "$TMP/$tag.quantize.json"
    fi
    "$DFMPC" eval "$onnx" --data "$DATA" "${NORM[@]}" --batch 100 --threads "$THREADS" "${LIMIT_ARGS[@]}" \
      --json > "$TMP/$tag.dfmpc.json" 2> "$TMP/$tag.dfmpc.err" &
    pid_d=$!
    if [[ "$PARALLEL" != 1 ]]; then wait "$pid_d" || { cat "$TMP/$tag.dfmpc.err" >&2; exit 2; }; fi
    node "$ROOT/bench/ort/eval.mjs" "$onnx" "$DATA" --batch 100 --threads "$THREADS" "${ORT_LIMIT[@]}" > "$TMP/$tag.ort.json" \
      || { echo "check_ort_accuracy: ORT eval of $onnx failed" >&2; exit 2; }
    if [[ "$PARALLEL" == 1 ]]; then wait "$pid_d" || { tail -5 "$TMP/$tag.dfmpc.err" >&2; exit 2; }; fi
    d="$(tail -1 "$TMP/$tag.dfmpc.json")"; o="$(tail -1 "$TMP/$tag.ort.json")"
    d1="$(json_get top1 <<<"$d")"; o1="$(json_get top1 <<<"$o")"
    d5="$(json_get top5 <<<"$d")"; o5="$(json_get top5 <<<"$o")"
    n1="$(json_get images <<<"$d")"; n2="$(json_get images <<<"$o")"
    [[ "$n1" == "$n2" ]] || { echo "check_ort_accuracy: image counts differ ($n1 vs $n2)" >&2; exit 2; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$s" "$d1" "$o1" "$d5" "$o5" "$n1" \
      "$(json_get images_per_second <<<"$d")" "$(json_get images_per_second <<<"$o")" >> "$ROWS"
    echo "+ $model $s: dfmpc top-1 $d1, ORT top-1 $o1 ($(date -u +%H:%M:%S))"
  done
done

# The table (rows of the requested models and settings only, in order).
/usr/bin/python3 - "$ROWS" "$OUT" "$MAX_DIFF" "$START" "$ORT_VERSION" "$SUM" "$MODELS" "$BITS" "$LIMIT" "$*" "$THREADS" "$PARALLEL" <<'PY'
import sys, datetime
rows_file, out, max_diff, start, ortv, sha, models, bits, limit, args, threads, parallel = sys.argv[1:13]
max_diff = float(max_diff)
rows = {}
for line in open(rows_file):
    m, s, d1, o1, d5, o5, n, dips, oips = line.rstrip("\n").split("\t")
    rows[(m, s)] = (float(d1), float(o1), float(d5), float(o5), int(n), float(dips), float(oips))
order = []
for m in models.split():
    order.append((m, "fp32"))
    for b in bits.split():
        for meth in ("none", "dfmpc"):
            order.append((m, f"MP{b} {meth}"))
worst, bad = 0.0, []
lines = ["| model | setting | dfmpc top-1 (%) | ORT top-1 (%) | difference (points) | top-5 difference | images |",
         "|---|---|---:|---:|---:|---:|---:|"]
for key in order:
    if key not in rows:
        continue
    d1, o1, d5, o5, n, _, _ = rows[key]
    diff = d1 - o1
    worst = max(worst, abs(diff))
    if abs(diff) > max_diff + 1e-9:
        bad.append(key)
    setting = {"fp32": "FP32"}.get(key[1], key[1].replace(" none", ", method none (Original)").replace(" dfmpc", ", method dfmpc"))
    lines.append(f"| ResNet-{key[0][6:]} | {setting} | {d1:.2f} | {o1:.2f} | {diff:+.2f} | {d5 - o5:+.2f} | {n} |")
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")
defaults = {"MODELS": "resnet20 resnet56", "BITS": "2/6 3/6 4/6 6/6", "LIMIT": "0", "THREADS": "1", "PARALLEL": "1"}
env = " ".join(f"{k}='{v}'" for k, v in (("MODELS", models), ("BITS", bits), ("LIMIT", limit),
                                          ("THREADS", threads), ("PARALLEL", parallel)) if v != defaults[k])
cmd = (env + " " if env else "") + "bash bench/check_ort_accuracy.sh" + (f" {args}" if args else "")
verdict = ("PASS" if not bad else "FAIL") + f": largest |difference| {worst:.2f} points (limit {max_diff:.2f})"
if bad:
    verdict += "; over the limit: " + ", ".join(f"{m} {s}" for m, s in bad)
text = f"""# dfmpc engine vs ONNX Runtime: top-1 on exported models

Command: `{cmd}` (started {start}, finished {now}).

- Data: CIFAR-10 test file `cifar10-test-jpeg.bin`, {'all images' if limit == '0' else 'first ' + limit + ' images'}, normalised (pixels/255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225).
- dfmpc: `dfmpc eval MODEL --batch 100 --threads {threads} --json` (snapshot of build/dfmpc, sha256 {sha}...).
- ONNX Runtime: onnxruntime-node {ortv}, CPU execution provider, {threads} intra-op thread(s), graph optimizations all, batches of 100 (`node bench/ort/eval.mjs MODEL DATA --threads {threads}`).
- Quantized models: `dfmpc quantize MODEL_bn.onnx -o OUT.onnx --bits B --method none|dfmpc --stats keep --weights float` (weights dequantized onto their grids, so ONNX Runtime runs the exact same FP32 graph).
- Machine: Debian 12, 2 cores, shared with other jobs while this ran (images/s are not compared here).

{chr(10).join(lines)}

**{verdict}**
"""
open(out, "w").write(text)
print(text)
sys.exit(1 if bad else 0)
PY
