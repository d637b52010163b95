#!/usr/bin/env bash
# Draws the paper-figure analogues into docs/figures/ (PNG via gnuplot, data as .dat/.tsv);
# docs/figures.md shows and explains them.
#
#   bench/figures.sh                 # everything (Fig. 4: seconds; Fig. 3: 106 evals, ~40 min on 2 cores)
#   FIG3=0 bench/figures.sh          # Fig. 4 only
#   FIG3_PLOT_ONLY=1 bench/figures.sh   # redraw Fig. 3 from docs/figures/fig3_runs.tsv
#   FORCE=1 bench/figures.sh         # re-measure Fig. 3 rows that are already in the .tsv
#
# Fig. 4 analogue: weight histograms of the 6-bit (high) layers before (Q(W)) and after
#   (c_j * Q(W)[:, j]) DF-MPC compensation, MP2/6, with the FP32 weights;
#   fig4_<model>.png, fig4_<model>_{hist,hist_fp32,means}.dat (--stats keep), and the same
#   with suffix _joint+mmse for --stats joint+mmse when this dfmpc build offers it.
# Fig. 3 analogue: top-1 against lambda1 in {0, 0.1, ..., 1.0, 2.0}, MP3/6 and MP2/6,
#   --method dfmpc, with --method none and FP32 as horizontal lines; evaluated on the FIRST
#   $LIMIT (2,000) CIFAR-10 test images only: a picture of sensitivity, not a tuning step.
#   fig3_<stats>.png, fig3_<stats>_<model>.dat; every evaluation is a row of fig3_runs.tsv
#   and is not repeated on the next run. --stats keep always; --stats joint+mmse too when this
#   dfmpc build offers it (skipped with a message otherwise).
#
# Environment: DFMPC (binary, default build/dfmpc), DFMPC_SHARED (default ../shared, holding
# models/ and data/), PYTHON (default /usr/bin/python3, needs numpy + onnx), LIMIT (2000),
# MODELS (resnet20,resnet56), STATS (keep joint+mmse: the --stats values drawn).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dfmpc=${DFMPC:-$root/build/dfmpc}
shared=${DFMPC_SHARED:-$root/../shared}
python=${PYTHON:-/usr/bin/python3}
limit=${LIMIT:-2000}
models=${MODELS:-resnet20,resnet56}
out=$root/docs/figures
scripts=$root/bench/figures

[[ -x $dfmpc ]] || { echo "figures.sh: no dfmpc binary at $dfmpc (build it first)" >&2; exit 1; }
[[ -f $shared/data/cifar10-test-jpeg.bin ]] || {
  echo "figures.sh: $shared/data/cifar10-test-jpeg.bin not found (set DFMPC_SHARED)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "figures.sh: gnuplot not installed" >&2; exit 1; }
"$python" -c 'import numpy, onnx' 2>/dev/null || {
  echo "figures.sh: $python lacks numpy/onnx (Debian: apt-get install python3-numpy python3-onnx)" >&2
  exit 1; }
mkdir -p "$out"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in bench/figures/
# Run a private copy of the binary: the sweep takes long, and a rebuild of build/dfmpc
# meanwhile must neither break it nor mix two builds in one figure.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dfmpc" "$tmp/dfmpc"
common=(--dfmpc "$tmp/dfmpc" --shared "$shared" --out "$out")

skipped() {
  echo "figures.sh: $1 with --stats $2 skipped: this dfmpc does not offer it" >&2
}

# Fig. 4: needs only quantize (seconds).
for stats in ${STATS:-keep joint+mmse}; do
  for model in ${models//,/ }; do
    rc=0
    "$python" "$scripts/fig4_hist.py" "${common[@]}" --model "$model" --bits 2/6 \
      --stats "$stats" || rc=$?
    if [[ $rc == 3 ]]; then skipped "Fig. 4" "$stats"; break; fi
    [[ $rc == 0 ]] || exit "$rc"
  done
done

# Fig. 3: the sweep (each eval on $limit images; ResNet-56 takes ~3x ResNet-20).
[[ ${FIG3:-1} == 0 ]] && exit 0
extra=()
[[ ${FORCE:-0} == 1 ]] && extra+=(--force)
[[ ${FIG3_PLOT_ONLY:-0} == 1 ]] && extra+=(--plot-only)
for stats in ${STATS:-keep joint+mmse}; do
  rc=0
  "$python" "$scripts/fig3_lambda.py" "${common[@]}" --stats "$stats" --limit "$limit" \
    --models "$models" ${extra[@]+"${extra[@]}"} || rc=$?
  if [[ $rc == 3 ]]; then
    skipped "Fig. 3" "$stats"
  elif [[ $rc != 0 ]]; then
    exit "$rc"
  fi
done
echo "figures.sh: done; PNGs and data in $out" >&2
