#!/usr/bin/env bash
# Low-bit execution (dfmpc eval --packed-weights) against the FP32 path (the same .dfmpc file
# dequantized at load) for packed ResNet-20 / ResNet-56 MP2/6 and MP3/6: images/s at batch 1
# and 100 with 2 threads, peak RSS (/usr/bin/time -v), parameter bytes held by the executor,
# top-1 agreement, and a perf profile. Rewrites the part of docs/lowbit.md between the
# run_lowbit markers; raw output stays in bench/results/tmp/lowbit/RUN/ (git-ignored).
#
#   bash bench/run_lowbit.sh
#
# Knobs (environment): DFMPC (binary, default build-lowbit/dfmpc), DFMPC_SHARED (../shared),
# ROUNDS (3), MODELS ("resnet20 resnet56"), BITS ("2/6 3/6"), THREADS (2),
# CHECK_LIMIT (images for the top-1 check, 10000), PROFILE (1 = run perf if present).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DFMPC="${DFMPC:-$ROOT/build-lowbit/dfmpc}"
SHARED="${DFMPC_SHARED:-$ROOT/../shared}"
ROUNDS="${ROUNDS:-3}"
MODELS="${MODELS:-resnet20 resnet56}"
BITS="${BITS:-2/6 3/6}"
THREADS="${THREADS:-2}"
CHECK_LIMIT="${CHECK_LIMIT:-10000}"
PROFILE="${PROFILE:-1}"
DATA="$SHARED/data/cifar10-test-jpeg.bin"
NORM=(--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)
# Same OpenMP policy for both paths: oneDNN's default spin-waiting collapses under the
# oversubscription of this shared machine (docs/performance.md); the low-bit kernel does not
# use OpenMP, so without this the comparison would measure the wait policy.
export OMP_WAIT_POLICY=passive

[[ -x "$DFMPC" ]] || { echo "no dfmpc binary at $DFMPC (build it or set DFMPC)" >&2; exit 1; }
[[ -f "$DATA" ]] || { echo "no CIFAR-10 data at $DATA (set DFMPC_SHARED)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is required (apt-get install time)" >&2; exit 1; }

RUN="$ROOT/bench/results/tmp/lowbit/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$RUN/models"
START=$(date +%s)
echo "run directory: $RUN"
{
  echo "start $(date -u '+%Y-%m-%d %H:%M:%S') UTC"
  echo "loadavg_start $(cat /proc/loadavg)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "flags avx2=$(grep -c -m1 -w avx2 /proc/cpuinfo) bmi2=$(grep -c -m1 -w bmi2 /proc/cpuinfo) avx512f=$(grep -c -m1 -w avx512f /proc/cpuinfo || true)"
  echo "dfmpc $DFMPC $(sha256sum "$DFMPC" | cut -c1-16)"
} > "$RUN/meta.txt"

# Images per measurement: about a few seconds each on a loaded machine.
limit_for() {  # model batch
  case "$1:$2" in
    resnet20:1) echo 300 ;; resnet20:*) echo 1000 ;;
    resnet56:1) echo 100 ;; *) echo 500 ;;
  esac
}

# One eval process under /usr/bin/time: $1 = output tag, rest = eval arguments.
measure() {
  local tag="$1"; shift
  /usr/bin/time -v -o "$RUN/$tag.time" "$DFMPC" eval "$@" --data "$DATA" "${NORM[@]}" --json \
    > "$RUN/$tag.json" 2> "$RUN/$tag.err"
  echo "load $(cut -d' ' -f1 /proc/loadavg)" >> "$RUN/$tag.time"
}

for m in $MODELS; do
  for b in $BITS; do
    tag="${m}_${b/\//-}"
    "$DFMPC" quantize "$SHARED/models/${m}_cifar10_bn.onnx" -o "$RUN/models/$tag.onnx" \
      --packed "$RUN/models/$tag.dfmpc" --bits "$b" --weights float > "$RUN/models/$tag.quantize.txt"
  done
done

echo "top-1 check on $CHECK_LIMIT images"
for m in $MODELS; do
  for b in $BITS; do
    tag="${m}_${b/\//-}"
    measure "check_${tag}_fp32" "$RUN/models/$tag.dfmpc" --batch 100 --threads "$THREADS" --limit "$CHECK_LIMIT"
    measure "check_${tag}_packed" "$RUN/models/$tag.dfmpc" --batch 100 --threads "$THREADS" --limit "$CHECK_LIMIT" --packed-weights
  done
done

echo "speed: $ROUNDS round(s)"
for r in $(seq 1 "$ROUNDS"); do
  for m in $MODELS; do
    for b in $BITS; do
      tag="${m}_${b/\//-}"
      for batch in 1 100; do
        lim=$(limit_for "$m" "$batch")
        # Alternate which path goes first, so a load change does not favour one.
        order="fp32 packed"; (( r % 2 == 0 )) && order="packed fp32"
        for path in $order; do
          flag=(); [[ $path == packed ]] && flag=(--packed-weights)
          measure "speed_${tag}_b${batch}_${path}_r$r" "$RUN/models/$tag.dfmpc" --batch "$batch" \
            --threads "$THREADS" --limit "$lim" "${flag[@]}"
        done
      done
    done
  done
  echo "  round $r done"
done

if [[ $PROFILE == 1 ]] && command -v perf > /dev/null; then
  echo "profile"
  m=$(echo $MODELS | awk '{print $NF}'); b=$(echo $BITS | awk '{print $1}'); tag="${m}_${b/\//-}"
  for batch in 1 100; do
    lim=$(limit_for "$m" "$batch")
    for path in fp32 packed; do
      flag=(); [[ $path == packed ]] && flag=(--packed-weights)
      perf record -q -e cpu-clock -o "$RUN/perf_${tag}_b${batch}_${path}.data" "$DFMPC" eval \
        "$RUN/models/$tag.dfmpc" --data "$DATA" "${NORM[@]}" --batch "$batch" --threads 1 --limit "$lim" \
        --json "${flag[@]}" > "$RUN/perf_${tag}_b${batch}_${path}.json" 2> /dev/null
      perf report -q -i "$RUN/perf_${tag}_b${batch}_${path}.data" --stdio --sort symbol 2> /dev/null \
        > "$RUN/perf_${tag}_b${batch}_${path}.txt"
      rm -f "$RUN/perf_${tag}_b${batch}_${path}.data"
    done
  done
fi

{
  echo "loadavg_end $(cat /proc/loadavg)"
  echo "wall_seconds $(( $(date +%s) - START ))"
} >> "$RUN/meta.txt"
python3 "$ROOT/bench/lowbit_report.py" "$RUN" "$ROOT/docs/lowbit.md"
echo "wrote docs/lowbit.md"
