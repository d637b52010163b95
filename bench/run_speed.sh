#!/usr/bin/env bash
# One command for the engine speed comparison written to docs/performance.md:
#
#   bash bench/run_speed.sh
#
# ResNet-20 / ResNet-56 (`_folded` and `_bn` ONNX files), batch 1, 32, 100, 2 threads; engines:
#   dfmpc         build/dfmpc eval --batch B --threads 2 --limit L --json (images_per_second counts
#                 only the inference calls), run by bench/speed_dfmpc.py in chunks of L images
#                 sized to fill about MEASURE_SECONDS
#   dfmpc-passive the same with OMP_WAIT_POLICY=passive (diagnostic: dfmpc's oneDNN uses GNU
#                 OpenMP, whose spin-waiting collapses when the 2 cores are oversubscribed)
#   dfmpc-1t      the same with --threads 1, at batch 1 only (diagnostic)
#   onnxruntime   node bench/ort/speed.mjs (onnxruntime-node, CPU EP, graph optimizations all)
#   torch-eager / torch-jit
#                 /usr/bin/python3 bench/speed_torch.py --modes eager,jit (Debian's torch 1.13; the
#                 ResNet built in torch with the ONNX weights, checked against ORT and dfmpc first)
#   opencv        bench/opencv_bench.cpp (cv::dnn::readNetFromONNX, OpenCV 4.6 from Debian), on a
#                 copy of the ONNX file with the Pad nodes' empty optional input dropped
#                 (bench/speed_opencv_fixup.py), since OpenCV 4.6 cannot import the original
#                 files; the original error is recorded too.
# Every measurement runs in its own process under /usr/bin/time -v (peak RSS); each round visits
# every (model, batch) and runs all engines on it back to back in an order that rotates between
# rounds, so ratios compare runs made seconds apart. Raw results: bench/results/tmp/speed/RUN/.
# Environment: DFMPC (build/dfmpc), MODELS ("resnet20 resnet56"), VARIANTS ("folded bn"),
#   BATCHES ("1 32 100"), ROUNDS (2), MEASURE_SECONDS (1.5), THREADS (2), VERIFY_IMAGES (100),
#   DOC (docs/performance.md),
#   MODELS_DIR / DATA (shared models and CIFAR-10 test file).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
pick_shared() { for d in /work/shared "$ROOT/../shared"; do [[ -e "$d/$1" ]] && { echo "$d/$1"; return; }; done; echo "/work/shared/$1"; }
DFMPC_SRC="${DFMPC:-$ROOT/build/dfmpc}"
MODELS_DIR="${MODELS_DIR:-$(pick_shared models)}"
DATA="${DATA:-$(pick_shared data/cifar10-test-jpeg.bin)}"
MODELS="${MODELS:-resnet20 resnet56}"
VARIANTS="${VARIANTS:-folded bn}"
BATCHES="${BATCHES:-1 32 100}"
ROUNDS="${ROUNDS:-2}"
MEASURE_SECONDS="${MEASURE_SECONDS:-1.5}"
VERIFY_IMAGES="${VERIFY_IMAGES:-100}"
THREADS="${THREADS:-2}"
DOC="${DOC:-$ROOT/docs/performance.md}"
PY=/usr/bin/python3
NORM=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)

RUN="$(date -u +%Y%m%d-%H%M%S)"
OUT="$ROOT/bench/results/tmp/speed/$RUN"
mkdir -p "$OUT/raw" "$OUT/models"
log() { echo "[$(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)] $*" >&2; }
T_START=$(date +%s)

# ---- prerequisites ----------------------------------------------------------------------------
[[ -x "$DFMPC_SRC" ]] || { echo "run_speed: $DFMPC_SRC missing: cmake --build build --target dfmpc -j2" >&2; exit 2; }
[[ -f "$DATA" ]] || { echo "run_speed: $DATA missing" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "run_speed: /usr/bin/time missing (apt-get install time)" >&2; exit 2; }
cp "$DFMPC_SRC" "$OUT/dfmpc"   # build/dfmpc may be rebuilt by others while this runs
DFMPC="$OUT/dfmpc"
if [[ ! -d bench/ort/node_modules/onnxruntime-node ]]; then
  log "npm install --ignore-scripts (bench/ort)"
  (cd bench/ort && npm install --ignore-scripts --no-audit --no-fund >&2)
fi
HAVE_TORCH=1; $PY -c "import torch, onnx" 2>/dev/null || { HAVE_TORCH=0; log "no torch/onnx for $PY: PyTorch skipped"; }
HAVE_OPENCV=1
if ! pkg-config --exists opencv4 2>/dev/null; then
  if [[ "$(id -u)" == 0 ]]; then
    log "apt-get install libopencv-dev"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libopencv-dev; } >&2 || true
  fi
fi
if pkg-config --exists opencv4 2>/dev/null; then
  g++ -O2 -std=c++17 bench/opencv_bench.cpp -o "$OUT/opencv_bench" $(pkg-config --cflags --libs opencv4) \
    || { HAVE_OPENCV=0; log "opencv_bench does not build: OpenCV skipped"; }
else HAVE_OPENCV=0; log "libopencv-dev missing: OpenCV skipped"; fi

{
  echo "run=$RUN"
  echo "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "nproc=$(nproc)"
  echo "mem=$(free -g | awk '/^Mem:/{print $2}') GiB"
  echo "os=$(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "kernel=$(uname -r)"
  echo "flags_avx512=$(grep -o -m1 'avx512f' /proc/cpuinfo || echo no)"
  echo "dfmpc_sha=$(sha256sum "$DFMPC" | cut -c1-16)"
  echo "dfmpc_version=$("$DFMPC" --version 2>&1 | head -1)"
  echo "ort_version=$(cd bench/ort && node -e "console.log(require('onnxruntime-node/package.json').version)")"
  echo "node_version=$(node --version)"
  [[ $HAVE_TORCH == 1 ]] && echo "torch_version=$($PY -c 'import torch; print(torch.__version__)')"
  [[ $HAVE_OPENCV == 1 ]] && echo "opencv_version=$(pkg-config --modversion opencv4)"
  echo "threads=$THREADS"
  echo "rounds=$ROUNDS"
  echo "measure_seconds=$MEASURE_SECONDS"
  echo "batches=$BATCHES"
  echo "load_start=$(cat /proc/loadavg)"
} > "$OUT/meta.txt"

# ---- per model file: OpenCV import check, correctness checks -------------------------------------
FILES=()
for m in $MODELS; do for v in $VARIANTS; do FILES+=("${m}_cifar10_$v"); done; done
for f in "${FILES[@]}"; do
  src="$MODELS_DIR/$f.onnx"
  [[ -f "$src" ]] || { echo "run_speed: $src missing" >&2; exit 2; }
  if [[ $HAVE_OPENCV == 1 ]]; then
    "$OUT/opencv_bench" "$src" --batch 1 --threads "$THREADS" --seconds 0 > "$OUT/raw/$f.opencv_import.json" 2> "$OUT/raw/$f.opencv_import.err" || true
    $PY bench/speed_opencv_fixup.py "$src" "$OUT/models/$f.opencv.onnx" >&2
    "$OUT/opencv_bench" "$OUT/models/$f.opencv.onnx" --batch 100 --threads "$THREADS" --data "$DATA" --limit "$VERIFY_IMAGES" \
      > "$OUT/raw/$f.opencv_check.json" 2>/dev/null || true
  fi
  if [[ $HAVE_TORCH == 1 ]]; then
    log "check $f: torch vs ONNX Runtime logits, torch vs dfmpc top-1 ($VERIFY_IMAGES images)"
    $PY bench/speed_torch.py "$src" --verify "$VERIFY_IMAGES" --data "$DATA" --dfmpc "$DFMPC" --jit > "$OUT/raw/$f.torch_check.json" || true
  fi
done

# ---- measurements ------------------------------------------------------------------------------
INDEX="$OUT/index.tsv"
printf 'id\tround\tfile\tbatch\tengine\tload1\trc\n' > "$INDEX"
n=0
measure() {  # measure ROUND FILE BATCH ENGINE CMD... ; stdout -> raw/ID.json, time -v -> raw/ID.time
  local round=$1 f=$2 b=$3 engine=$4; shift 4
  n=$((n + 1))
  local id; id=$(printf '%04d' $n)
  local load1; load1=$(cut -d' ' -f1 /proc/loadavg)
  local rc=0
  /usr/bin/time -v -o "$OUT/raw/$id.time" "$@" > "$OUT/raw/$id.json" 2> "$OUT/raw/$id.err" || rc=$?
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$round" "$f" "$b" "$engine" "$load1" "$rc" >> "$INDEX"
  LAST="$OUT/raw/$id.json"
}
ips_of() { $PY -c 'import json,sys
try: print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]).get("images_per_second", 0))
except Exception: print(0)' "$1"; }
# dfmpc: bench/speed_dfmpc.py runs `dfmpc eval --limit L` in chunks within the time budget.
STATE="$OUT/dfmpc_state.json"
run_dfmpc() {  # ROUND FILE BATCH THREADS ENGINE [VAR=VALUE ...]
  local round=$1 f=$2 b=$3 t=$4 engine=$5; shift 5
  local envs=(); local kv
  for kv in "$@"; do envs+=(--env "$kv"); done
  measure "$round" "$f" "$b" "$engine" $PY bench/speed_dfmpc.py "$DFMPC" "$MODELS_DIR/$f.onnx" --data "$DATA" \
    --batch "$b" --threads "$t" --seconds "$MEASURE_SECONDS" --state "$STATE" --key "$f/$b/$engine" \
    --engine "$engine" "${envs[@]}"
}

ENGINES=(dfmpc onnxruntime torch opencv)
for ((r = 1; r <= ROUNDS; r++)); do
  for f in "${FILES[@]}"; do
    for b in $BATCHES; do
      log "round $r/$ROUNDS: $f batch $b"
      k=$(( (r - 1) % ${#ENGINES[@]} ))
      for ((i = 0; i < ${#ENGINES[@]}; i++)); do
        e=${ENGINES[$(( (i + k) % ${#ENGINES[@]} ))]}
        case $e in
          dfmpc)
            run_dfmpc "$r" "$f" "$b" "$THREADS" dfmpc
            run_dfmpc "$r" "$f" "$b" "$THREADS" dfmpc-passive OMP_WAIT_POLICY=passive
            [[ "$b" == 1 ]] && run_dfmpc "$r" "$f" "$b" 1 dfmpc-1t ;;
          onnxruntime)
            measure "$r" "$f" "$b" onnxruntime node bench/ort/speed.mjs "$MODELS_DIR/$f.onnx" --batch "$b" \
              --threads "$THREADS" --seconds "$MEASURE_SECONDS" --data "$DATA" ;;
          torch)
            [[ $HAVE_TORCH == 1 ]] && measure "$r" "$f" "$b" torch $PY bench/speed_torch.py "$MODELS_DIR/$f.onnx" \
              --batch "$b" --threads "$THREADS" --seconds "$MEASURE_SECONDS" --data "$DATA" --modes eager,jit ;;
          opencv)
            [[ $HAVE_OPENCV == 1 ]] && measure "$r" "$f" "$b" opencv "$OUT/opencv_bench" "$OUT/models/$f.opencv.onnx" \
              --batch "$b" --threads "$THREADS" --seconds "$MEASURE_SECONDS" --data "$DATA" ;;
        esac
      done
    done
  done
done
T_END=$(date +%s)
{
  echo "load_end=$(cat /proc/loadavg)"
  echo "wall_seconds=$((T_END - T_START))"
} >> "$OUT/meta.txt"
log "done in $((T_END - T_START)) s; writing $DOC"
$PY bench/speed_report.py "$OUT" --doc "$DOC" --command "bash bench/run_speed.sh"
