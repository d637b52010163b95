#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main job on the
# embedded demo (the project's own Fashion-MNIST ResNet and Debian's Fashion-MNIST test set).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
fm=/usr/share/datasets/fashion-mnist
data=(--format idx --data "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz"
      --mean 0.2860 --std 0.3530)
echo
echo "== FP32 accuracy of the demo model (models/fmnist_resnet14.onnx) on Fashion-MNIST t10k"
build/dfmpc eval models/fmnist_resnet14.onnx "${data[@]}"
