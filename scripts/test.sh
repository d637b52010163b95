#!/usr/bin/env bash
# The README's second command: install dependencies, build, run every test through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${DFMPC_BUILD_DIR:-build}" --output-on-failure -j"$(nproc)"
