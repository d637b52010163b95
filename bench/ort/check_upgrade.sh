#!/usr/bin/env bash
# dfmpc's opset-21 upgrade against ONNX Runtime: small models at opsets 9 and 11 using the ops
# whose signature changed (bench/ort/make_old_opset_models.py) are rewritten by
# build/bench/upgrade_onnx and both versions run in ONNX Runtime on 100 random inputs.
# Prints one JSON line per model (max_abs_diff should be 0 or float rounding).
# Usage: bash bench/ort/check_upgrade.sh   (after building the upgrade_onnx target and
#        `npm install --ignore-scripts` in bench/ort)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOL="${UPGRADE_ONNX:-$ROOT/build/bench/upgrade_onnx}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for name in $(/usr/bin/python3 "$ROOT/bench/ort/make_old_opset_models.py" "$TMP"); do
  "$TOOL" "$TMP/$name.onnx" "$TMP/$name.op21.onnx"
  node "$ROOT/bench/ort/compare.mjs" "$TMP/$name.onnx" "$TMP/$name.op21.onnx" --random 100 --opt disabled
done
