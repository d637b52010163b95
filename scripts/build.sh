#!/usr/bin/env bash
# Configures and builds dfmpc (Release) into build/ (or $DFMPC_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DFMPC_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
