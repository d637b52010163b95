#!/usr/bin/env bash
# The README's second command: install dependencies, build, run every test through CTest.
#   scripts/test.sh             Release build in build/ (or $DFMPC_BUILD_DIR)
#   scripts/test.sh --sanitize  the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#                               (-DDFMPC_SANITIZE=ON) in build-sanitize/; any finding fails its test
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--sanitize" ]; then
  scripts/install-deps.sh
  scripts/build.sh
  ctest --test-dir "${DFMPC_BUILD_DIR:-build}" --output-on-failure -j"$(nproc)"
  exit
fi

shift
# halt_on_error / abort_on_error: the first report ends the process with a failure, so ctest
# (and the CLI tests, which check exit codes) see it. The options are exported before the build
# because gtest_discover_tests runs every test binary at build time.
#
# detect_leaks=0: LeakSanitizer is off. oneDNN's OpenMP runtime (libgomp) keeps its worker
# threads' stacks and thread-local pools, and protobuf its descriptor tables, until process exit
# without freeing them; LSan reports those as leaks of uninstrumented libraries on every test.
# ASan still finds use-after-free, double free and out-of-bounds accesses, which is what matters
# for our code.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
build=${DFMPC_BUILD_DIR:-build-sanitize}
scripts/install-deps.sh
DFMPC_BUILD_DIR="$build" scripts/build.sh -DDFMPC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
