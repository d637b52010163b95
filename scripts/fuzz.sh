#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang-14, ASan + UBSan) into build-fuzz/ and runs
# every target, one at a time at nice 10, for 1,000,000 executions or SECONDS (default 600),
# whichever comes first; then prints one summary line per target.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]      (targets: onnx_import packed idx cifar image)
# Corpora grow in build-fuzz/corpus/<target> across runs (seeded from fuzz/make_seeds.cpp and
# the test fixtures); a crashing input is saved as build-fuzz/findings/<target>/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(onnx_import packed idx cifar image)
runs=${DFMPC_FUZZ_RUNS:-1000000}
build=${DFMPC_FUZZ_BUILD_DIR:-build-fuzz}

missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "dfmpc: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDFMPC_FUZZ=ON -DDFMPC_NATIVE=ON >/dev/null
build_targets=(make_seeds)
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j2 --target "${build_targets[@]}"

seeds="$build/seeds"
rm -rf "$seeds"
"$build/fuzz/make_seeds" "$seeds" tests/fixtures/mobilenetv2_small_bn_op11.onnx tests/fixtures/mobilenetv2_small_folded.onnx \
  tests/fixtures/resnet_cifar_optionA_bn.onnx

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t" findings="$build/findings/$t" log="$build/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  echo "== fuzz_$t: up to $runs executions or ${seconds}s (log: $log)"
  start=$(date +%s)
  set +e
  nice -n 10 "$build/fuzz/fuzz_$t" -runs="$runs" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" "$seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ $rc -eq 0 ]; then result=ok; else result="FINDING (exit $rc): $(ls -t "$findings" | head -1)"; status=1; fi
  summary+=("$(printf '%-12s %10s execs %5ss  cov %-6s corpus %-5s %s' "$t" "${execs:-?}" "$elapsed" "${cov:-?}" \
    "$(ls "$corpus" | wc -l)" "$result")")
done
echo
echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), limit $runs executions / ${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit $status
