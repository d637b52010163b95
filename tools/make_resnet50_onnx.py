#!/usr/bin/python3
"""Write a torchvision ResNet-50 (random weights, ~25.6M parameters) as ONNX opset 13 with its
BatchNormalization nodes kept, for the quantization speed benchmark (bench/quant_speed.sh).

    /usr/bin/python3 tools/make_resnet50_onnx.py OUT.onnx [--seed 0]

Needs Debian's PyTorch 1.13 / torchvision 0.14 / onnx 1.12 (call /usr/bin/python3 explicitly).
Deterministic for a given seed. The file is ~100 MB: write it outside the repository.

The BN running statistics are set to non-trivial values (mean ~ N(0, 0.1^2), var in
[0.5, 2]), gamma in [0.5, 1.5] and beta ~ N(0, 0.1^2), so the statistics repair has real work
to do and no two BN layers share bit-identical parameters (the exporter would deduplicate
them into Identity nodes).
"""

import argparse
import os
import sys

import onnx
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_utils import inline_identity_initializers, op_histogram  # noqa: E402


def randomise_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = 0.1 * torch.randn(c, generator=gen)
            m.running_mean = 0.1 * torch.randn(c, generator=gen)
            m.running_var = 0.5 + 1.5 * torch.rand(c, generator=gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output .onnx path (outside the repository)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = torchvision.models.resnet50(weights=None)
    randomise_batchnorm(model, gen)
    model.eval()
    x = torch.randn(1, 3, 224, 224, generator=gen)
    torch.onnx.export(model, x, args.out, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m = onnx.load(args.out)
    if inline_identity_initializers(m):
        onnx.save(m, args.out)
    onnx.checker.check_model(m)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {params} parameters, {os.path.getsize(args.out) / 1e6:.1f} MB, "
          f"ops {dict(op_histogram(m))}")


if __name__ == "__main__":
    main()
