#!/usr/bin/env bash
# Deployable output (issue 11): for ResNet-20/56 (BN kept and BN folded) at MP2/6, MP3/6, MP4/6
# and W6, `dfmpc quantize MODEL -o X.onnx --packed X.dfmpc` (the ONNX file is standard QDQ:
# INT4/INT8 weights + DequantizeLinear, opset 21), then top-1 on the CIFAR-10 test file by
# `dfmpc eval X.onnx`, `dfmpc eval X.dfmpc` and ONNX Runtime on X.onnx (bench/ort/eval.mjs).
# Writes docs/deploy.md: file bytes (QDQ ONNX, .dfmpc, FP32 source) and the three top-1s, and
# whether they agree to within MAX_DIFF (0.02 points). Exits 1 if any row disagrees.
#
#   nice -n 10 bash bench/deploy.sh
# Environment: DFMPC (default build/dfmpc), MODELS_DIR, DATA (as bench/check_ort_accuracy.sh),
#   MODELS ("resnet20 resnet56"), FORMS ("bn folded"), BITS ("2/6 3/6 4/6 6"), LIMIT (0 = all
#   10,000 images), THREADS (1 per engine; dfmpc and ORT run side by side), MAX_DIFF (0.02),
#   OUT (docs/deploy.md). Needs node + `npm install --ignore-scripts` in bench/ort.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pick_shared() { for d in /work/shared "$ROOT/../shared"; do [[ -e "$d/$1" ]] && { echo "$d/$1"; return; }; done; echo "/work/shared/$1"; }
DFMPC_SRC="${DFMPC:-$ROOT/build/dfmpc}"
MODELS_DIR="${MODELS_DIR:-$(pick_shared models)}"
DATA="${DATA:-$(pick_shared data/cifar10-test-jpeg.bin)}"
MODELS="${MODELS:-resnet20 resnet56}"
FORMS="${FORMS:-bn folded}"
BITS="${BITS:-2/6 3/6 4/6 6}"
LIMIT="${LIMIT:-0}"
THREADS="${THREADS:-1}"
MAX_DIFF="${MAX_DIFF:-0.02}"
OUT="${OUT:-$ROOT/docs/deploy.md}"
TMP="$ROOT/bench/results/tmp/deploy"
NORM=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)

[[ -x "$DFMPC_SRC" ]] || { echo "deploy: $DFMPC_SRC missing (cmake --build build --target dfmpc)" >&2; exit 2; }
[[ -f "$DATA" ]] || { echo "deploy: data file $DATA missing" >&2; exit 2; }
if [[ ! -d "$ROOT/bench/ort/node_modules/onnxruntime-node" ]]; then
  (cd "$ROOT/bench/ort" && npm install --ignore-scripts --no-audit --no-fund >&2)
fi
rm -rf "$TMP"; mkdir -p "$TMP"
DFMPC="$TMP/dfmpc"  # a snapshot: others rebuild build/dfmpc while this runs
cp "$DFMPC_SRC" "$DFMPC"
SUM="$(sha256sum "$DFMPC" | cut -c1-16)"
ORT_VERSION="$(cd "$ROOT/bench/ort" && node -e "console.log(require('onnxruntime-node/package.json').version)")"
START="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
LIMIT_ARGS=()
[[ "$LIMIT" != 0 ]] && LIMIT_ARGS=(--limit "$LIMIT")
top1() { /usr/bin/python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(d["top1"], d["images"])' "$1"; }

render() {  # docs/deploy.md from the rows so far (rewritten after every row)
  /usr/bin/python3 - "$ROWS" "$OUT" "$MAX_DIFF" "$START" "$ORT_VERSION" "$SUM" "$LIMIT" "$THREADS" <<'PY'
import sys, datetime
rows_file, out, max_diff, start, ortv, sha, limit, threads = sys.argv[1:9]
max_diff = float(max_diff)
lines = ["| model | form | bits | QDQ ONNX bytes | .dfmpc bytes | FP32 ONNX bytes | dfmpc eval .onnx | dfmpc eval .dfmpc | ONNX Runtime .onnx | agree (±%.2f) |" % max_diff,
         "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
bad = []
for line in open(rows_file):
    m, form, bits, ob, pb, fb, d1, d2, o1, n = line.rstrip("\n").split("\t")
    d1, d2, o1 = float(d1), float(d2), float(o1)
    spread = max(d1, d2, o1) - min(d1, d2, o1)
    ok = spread <= max_diff + 1e-9
    if not ok:
        bad.append(f"{m} {form} {bits}")
    label = "W" + bits if "/" not in bits else "MP" + bits
    lines.append(f"| ResNet-{m[6:]} | {'BN kept' if form == 'bn' else 'BN folded'} | {label} | {int(ob):,} | {int(pb):,} | {int(fb):,} | "
                 f"{d1:.2f} | {d2:.2f} | {o1:.2f} | {'yes' if ok else 'NO (spread %.2f)' % spread} |")
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")
images = "all 10,000 images" if limit == "0" else f"the first {limit} images (LIMIT={limit})"
cmd = ("LIMIT=%s " % limit if limit != "0" else "") + "nice -n 10 bash bench/deploy.sh"
text = f"""# Deployable output: QDQ ONNX files that ONNX Runtime runs

Command: `{cmd}` (started {start}, finished {now}).

Each row: `dfmpc quantize MODEL -o X.onnx --packed X.dfmpc --bits B` on the shared CIFAR-10
ResNets (default method: DF-MPC pairing, SQuant per channel, statistics repair). X.onnx holds
the quantized weights as INT4 (widths up to 4 bits) or INT8 initializers feeding
DequantizeLinear (opset 21); X.dfmpc holds the codes at their true widths. Top-1 (%) on the
CIFAR-10 test file, {images}, normalised (pixels/255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225):
`dfmpc eval X.onnx` and `dfmpc eval X.dfmpc` (batch 100, {threads} thread(s), dfmpc snapshot
sha256 {sha}...), and ONNX Runtime (onnxruntime-node {ortv}, CPU, all graph optimizations,
`node bench/ort/eval.mjs X.onnx DATA`). "agree" = the three top-1s within {max_diff:.2f} points.

{chr(10).join(lines)}

**{'PASS' if not bad else 'FAIL'}**{'' if not bad else ': ' + ', '.join(bad)}
"""
open(out, "w").write(text)
sys.exit(1 if bad else 0)
PY
}

ROWS="$TMP/rows.tsv"
: > "$ROWS"
for model in $MODELS; do
  for form in $FORMS; do
    src="$MODELS_DIR/${model}_cifar10_${form}.onnx"
    [[ -f "$src" ]] || { echo "deploy: $src missing" >&2; exit 2; }
    for bits in $BITS; do
      tag="${model}_${form}_${bits/\//_}"
      "$DFMPC" quantize "$src" -o "$TMP/$tag.onnx" --packed "$TMP/$tag.dfmpc" --bits "$bits" --json > "$TMP/$tag.quantize.json"
      "$DFMPC" eval "$TMP/$tag.onnx" --data "$DATA" "${NORM[@]}" --batch 100 --threads "$THREADS" "${LIMIT_ARGS[@]}" \
        --json > "$TMP/$tag.onnx.json" 2> "$TMP/$tag.onnx.err" &
      pid=$!
      node "$ROOT/bench/ort/eval.mjs" "$TMP/$tag.onnx" "$DATA" --batch 100 --threads "$THREADS" "${LIMIT_ARGS[@]}" \
        > "$TMP/$tag.ort.json" || { echo "deploy: ONNX Runtime could not run $TMP/$tag.onnx" >&2; exit 2; }
      wait "$pid" || { tail -3 "$TMP/$tag.onnx.err" >&2; exit 2; }
      "$DFMPC" eval "$TMP/$tag.dfmpc" --data "$DATA" "${NORM[@]}" --batch 100 --threads "$THREADS" "${LIMIT_ARGS[@]}" \
        --json > "$TMP/$tag.packed.json"
      read -r d_onnx n1 < <(top1 "$TMP/$tag.onnx.json")
      read -r d_packed n2 < <(top1 "$TMP/$tag.packed.json")
      read -r ort n3 < <(top1 "$TMP/$tag.ort.json")
      [[ "$n1" == "$n2" && "$n2" == "$n3" ]] || { echo "deploy: image counts differ ($n1 $n2 $n3)" >&2; exit 2; }
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$form" "$bits" "$(stat -c %s "$TMP/$tag.onnx")" \
        "$(stat -c %s "$TMP/$tag.dfmpc")" "$(stat -c %s "$src")" "$d_onnx" "$d_packed" "$ort" "$n1" >> "$ROWS"
      echo "+ $tag: $(stat -c %s "$TMP/$tag.onnx") bytes; top-1 dfmpc onnx $d_onnx, dfmpc packed $d_packed, ORT $ort ($(date -u +%H:%M:%S))"
      render || true
    done
  done
done
render
cat "$OUT"
