#!/usr/bin/python3
"""Generate the small ONNX test models in tests/fixtures/ for the C++ importer/runtime tests.

    /usr/bin/python3 tools/make_fixtures.py [--out tests/fixtures]

Needs Debian's PyTorch 1.13 / torchvision 0.14 / onnx 1.12 (call /usr/bin/python3 explicitly).
Deterministic: every model is built from its own fixed seed.

For every model <name> it writes
    <name>_bn.onnx        opset 13, BatchNormalization nodes kept
                          (training=PRESERVE on an eval-mode model, do_constant_folding=False:
                          the raw exporter graph, including its Constant nodes)
    <name>_folded.onnx    opset 13, default eval export (training=EVAL, do_constant_folding=True):
                          BN that directly follows a Conv is folded into it
    <name>.input.f32      random input batch of 4, float32 little-endian raw, NCHW
    <name>.output.f32     PyTorch's output (eval mode) for that input, float32 raw, [4, classes]
    <name>.json           shapes, file list, op histograms, checks
and for resnet18_small and mobilenetv2_small also
    <name>_bn_op11.onnx, <name>_bn_op17.onnx   same export as <name>_bn.onnx at opset 11 / 17.

Each ONNX file is re-evaluated with the independent NumPy interpreter tools/onnx_ref.py and
must reproduce <name>.output.f32 (max abs diff is recorded in the json).
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_ref  # noqa: E402
from onnx_utils import describe_nodes, inline_identity_initializers, op_histogram  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 4
TOL = 1e-4  # max abs diff allowed between the NumPy re-evaluation and PyTorch


# ----------------------------------------------------------------------------------- models

class VGGSmall(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()

        def cbr(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*cbr(3, 8), *cbr(8, 8), nn.MaxPool2d(2),
                                      *cbr(8, 16), *cbr(16, 16), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(16 * 8 * 8, 32), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(32, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
            nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.conv(x)
        return x + y if self.use_res else y


class MobileNetV2Small(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU6(inplace=True))
        self.blocks = nn.Sequential(InvertedResidual(8, 8, 1, 4),     # residual add
                                    InvertedResidual(8, 16, 2, 4),    # stride 2, no add
                                    InvertedResidual(16, 16, 1, 4))   # residual add
        self.head = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32),
                                  nn.ReLU6(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return torch.cat([x, y], 1)


class DenseNetSmall(nn.Module):
    def __init__(self, num_classes=10, growth=8, stem=16, layers=3):
        super().__init__()
        self.stem = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
        c = stem
        b1 = []
        for _ in range(layers):
            b1.append(DenseLayer(c, growth))
            c += growth
        self.block1 = nn.Sequential(*b1)
        self.trans = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                   nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2))
        c //= 2
        b2 = []
        for _ in range(layers):
            b2.append(DenseLayer(c, growth))
            c += growth
        self.block2 = nn.Sequential(*b2)
        self.norm = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.block2(self.trans(self.block1(self.stem(x))))
        x = F.relu(self.norm(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class TVResNetSmall(nn.Module):
    """torchvision.models.resnet.ResNet layout (7x7/2 stem, BN, ReLU, MaxPool 3/2/1, 4 stages,
    1x1 strided conv+BN downsample, AdaptiveAvgPool, flatten, fc) with reduced widths.
    torchvision's ResNet hard-codes 64..512 channels (BasicBlock refuses width_per_group != 64),
    so the layout is rebuilt here with torchvision's own BasicBlock / Bottleneck modules."""

    def __init__(self, block, layers, widths=(8, 16, 32, 64), num_classes=10):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride,
                                           bias=False),
                                 nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class OptionAShortcut(nn.Module):
    """The 'option A' shortcut of the common CIFAR ResNets (e.g. akamaster/pytorch_resnet_cifar10):
    subsample spatially by 2 and zero-pad the channel dimension."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)


class CifarBlockA(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != planes:
            self.shortcut = OptionAShortcut(planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNetA(nn.Module):
    """CIFAR ResNet-(6n+2) with option-A shortcuts; n=1 -> ResNet-8."""

    def __init__(self, n=1, widths=(8, 16, 32), num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c, stages = widths[0], []
        for i, w in enumerate(widths):
            blocks = []
            for b in range(n):
                blocks.append(CifarBlockA(c, w, 2 if (i > 0 and b == 0) else 1))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.avg_pool2d(x, int(x.size()[3]))  # as in the shared CIFAR ResNets (static kernel)
        x = x.view(x.size(0), -1)         # -> Shape/Gather/Unsqueeze/Concat/Reshape chain
        return self.linear(x)


# name, constructor, input CHW, seed, extra opsets
MODELS = [
    ("vgg_small", VGGSmall, (3, 32, 32), 101, []),
    ("mobilenetv2_small", MobileNetV2Small, (3, 24, 24), 102, [11, 17]),
    ("densenet_small", DenseNetSmall, (3, 24, 24), 103, []),
    ("resnet18_small", lambda: TVResNetSmall(BasicBlock, [1, 1, 1, 1]), (3, 32, 32), 104, [11, 17]),
    ("resnet50_small", lambda: TVResNetSmall(Bottleneck, [1, 1, 1, 1], widths=(4, 8, 16, 32)),
     (3, 32, 32), 105, []),
    ("resnet_cifar_optionA", CifarResNetA, (3, 32, 32), 106, []),
]


# ----------------------------------------------------------------------------------- helpers

def randomise_bn(model, gen):
    """Non-trivial BN statistics/affine parameters so folding errors are visible."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)


def export(model, x, path, opset, keep_bn):
    kwargs = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    if keep_bn:
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    else:
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    torch.onnx.export(model, x, path, **kwargs)
    m = onnx.load(path)
    n_inl = inline_identity_initializers(m)
    if n_inl:
        onnx.save(m, path)
    onnx.checker.check_model(m)
    return m, n_inl


def check_bn_presence(name, m, keep_bn):
    hist = op_histogram(m)
    n_bn = hist.get("BatchNormalization", 0)
    if keep_bn and n_bn == 0:
        raise RuntimeError(f"{name}: BatchNormalization expected but missing")
    return n_bn


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures"))
    ap.add_argument("--only", nargs="*", help="subset of model names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    summary = {}
    for name, ctor, chw, seed, extra_opsets in MODELS:
        if args.only and name not in args.only:
            continue
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = ctor()
        randomise_bn(model, gen)
        model.eval()
        x = torch.randn((BATCH,) + chw, generator=gen)
        with torch.no_grad():
            y = model(x)
        x.numpy().astype("<f4").tofile(os.path.join(args.out, f"{name}.input.f32"))
        y.numpy().astype("<f4").tofile(os.path.join(args.out, f"{name}.output.f32"))

        variants = [(f"{name}_bn", 13, True), (f"{name}_folded", 13, False)]
        variants += [(f"{name}_bn_op{o}", o, True) for o in extra_opsets]
        files = {}
        print(f"== {name}: input {list(x.shape)} -> output {list(y.shape)}, "
              f"{sum(p.numel() for p in model.parameters())} params", flush=True)
        for vname, opset, keep_bn in variants:
            path = os.path.join(args.out, vname + ".onnx")
            # export a batch-1 trace; the batch axis is dynamic
            m, n_inl = export(model, x[:1], path, opset, keep_bn)
            n_bn = check_bn_presence(vname, m, keep_bn)
            got = list(onnx_ref.run(m, {"input": x.numpy()}).values())[0]
            diff = float(np.abs(got - y.numpy().astype(np.float64)).max())
            hist = dict(op_histogram(m))
            if diff > TOL:
                raise RuntimeError(f"{vname}: NumPy re-evaluation differs from PyTorch by {diff}")
            size = os.path.getsize(path)
            files[vname] = {"file": vname + ".onnx", "opset": opset,
                            "batchnorm_kept": keep_bn, "batchnorm_nodes": n_bn,
                            "ops": hist, "bytes": size,
                            "identity_initializers_inlined": n_inl,
                            "numpy_ref_max_abs_diff": diff}
            print(f"  {vname}.onnx  opset {opset}  {size} B  max|diff| {diff:.2e}", flush=True)
            print(f"    ops: {', '.join(f'{k} x{v}' for k, v in hist.items())}", flush=True)
            for line in describe_nodes(m, {"Clip", "Pad", "Slice", "Reshape", "MaxPool",
                                           "AveragePool"}):
                print(f"      {line}", flush=True)
        meta = {
            "name": name,
            "input": {"name": "input", "file": f"{name}.input.f32", "shape": list(x.shape),
                      "dtype": "float32", "byte_order": "little", "layout": "NCHW"},
            "output": {"name": "logits", "file": f"{name}.output.f32", "shape": list(y.shape),
                       "dtype": "float32", "byte_order": "little",
                       "max_abs": float(y.abs().max())},
            "seed": seed,
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__, "onnx": onnx.__version__,
            "models": files,
        }
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        summary[name] = meta

    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"total size of {args.out}: {total} bytes", flush=True)


if __name__ == "__main__":
    main()
