#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main job on the
# embedded demo: the project's own Fashion-MNIST ResNet (models/fmnist_resnet14.onnx) and
# Debian's Fashion-MNIST test set. It quantizes the model without data (the quantizer never
# sees an image) and reports FP32 vs Original (quantize only) vs DF-MPC accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
fm=/usr/share/datasets/fashion-mnist
model=models/fmnist_resnet14.onnx
data=(--format idx --data "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz"
      --mean 0.2860 --std 0.3530)
out=${DFMPC_DEMO_OUT:-build/demo}
mkdir -p "$out"

echo
echo "== 1. The demo model ($model)"
build/dfmpc inspect "$model" | tail -n 12
echo
echo "== 2. Quantize to MP2/6 without data (DF-MPC), ONNX + packed model"
build/dfmpc quantize "$model" -o "$out/fmnist_mp26.onnx" --packed "$out/fmnist_mp26.dfmpc" --bits 2/6 | tail -n 3
ls -l "$model" "$out/fmnist_mp26.dfmpc" | awk '{print "   ", $5, "bytes", $9}'
echo
echo "== 3. Accuracy on Fashion-MNIST t10k: FP32 vs Original vs DF-MPC"
build/dfmpc bench "$model" --suite demo "${data[@]}"
