#!/usr/bin/python3
"""Train the embedded demo model of dfmpc: a small CIFAR-style ResNet-14 on Fashion-MNIST.

Run with Debian's PyTorch (torch 1.13, onnx 1.12):

    /usr/bin/python3 tools/train_demo.py

Data: Debian package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz), read here
directly with gzip + numpy.

Splits: the first 55,000 training images are used for training, the LAST 5,000 training images
are held out as the validation split (used for reporting during training; nothing is selected on
the t10k test set, which is only evaluated once at the end for reporting).

Input normalisation (the C++ side must do the same):
    x = pixel / 255
    x = (x - 0.2860) / 0.3530
input layout NCHW float32, [N, 1, 28, 28].

Outputs:
    models/fmnist_resnet14.onnx   opset 13, input `input` [N,1,28,28] (dynamic N),
                                  output `logits` [N,10], BatchNormalization nodes kept.
    models/fmnist_resnet14.json   recipe facts and accuracies.
"""

import argparse
import gzip
import json
import os
import random
import sys
import time

# The machine is shared (2 cores, parallel C++ builds). With GNU OpenMP's default active wait,
# a thread that reaches a barrier spins while its partner is descheduled; under load that made
# a training step ~4x slower than with passive waiting. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_utils import inline_identity_initializers, op_histogram  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN = 0.2860
STD = 0.3530
NUM_VAL = 5000
ALLOWED_OPS = {"Conv", "BatchNormalization", "Relu", "Add", "GlobalAveragePool", "Flatten",
               "Gemm", "Reshape", "Constant"}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


# ----------------------------------------------------------------------------------- data

def read_idx(path):
    """Read a (gzip-compressed) IDX file into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    dtype_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    if magic >> 16 != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: unsupported IDX magic {magic:#x}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size mismatch {arr.size} vs {dims}")
    return arr.reshape(dims)


def load_split(name):
    images = read_idx(os.path.join(DATA_DIR, f"{name}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{name}-labels-idx1-ubyte.gz"))
    assert images.shape[0] == labels.shape[0]
    return images, labels


def normalise(images_u8):
    """uint8 [N,28,28] -> float32 tensor [N,1,28,28], pixels/255 then (x-MEAN)/STD."""
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN) / STD


def augment(x, gen, pad=2):
    """Random crop with zero padding `pad` (in pixel space, i.e. pad value = normalised 0 pixel)
    plus random horizontal flip, vectorised over the batch."""
    n, c, h, w = x.shape
    bg = (0.0 - MEAN) / STD  # a black pixel after normalisation
    xp = F.pad(x, (pad, pad, pad, pad), value=bg)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # [n,h]
    cols = (dx[:, None] + torch.arange(w)[None, :])  # [n,w]
    flip = torch.rand(n, generator=gen) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    idx_n = torch.arange(n)[:, None, None]
    out = xp[:, 0][idx_n, rows[:, :, None], cols[:, None, :]]  # [n,h,w]
    return out.unsqueeze(1).contiguous()


# ----------------------------------------------------------------------------------- model

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNet14(nn.Module):
    """CIFAR-style ResNet for 1x28x28: stem 3x3/16, stages 16/32/64 with 2 basic blocks each
    (1 + 3*2*2 + 1 = 14 weight layers), GAP, linear 10."""

    def __init__(self, widths=(16, 32, 64), blocks=2, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            stage = []
            for b in range(blocks):
                stride = 2 if (i > 0 and b == 0) else 1
                stage.append(BasicBlock(cin, w, stride))
                cin = w
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # zero-init the last BN of each residual branch (standard trick, helps short schedules)
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        return self.fc(x)


# ----------------------------------------------------------------------------------- helpers

@torch.no_grad()
def evaluate(model, x, y, batch=1000):
    model.eval()
    top1 = top5 = 0
    loss = 0.0
    for i in range(0, x.shape[0], batch):
        logits = model(x[i:i + batch])
        t = y[i:i + batch]
        loss += F.cross_entropy(logits, t, reduction="sum").item()
        top = logits.topk(5, dim=1).indices
        top1 += (top[:, 0] == t).sum().item()
        top5 += (top == t[:, None]).any(dim=1).sum().item()
    n = x.shape[0]
    return top1 / n, top5 / n, loss / n


def export_onnx(model, path):
    import onnx
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, dummy, path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False)
    m = onnx.load(path)
    # torch deduplicates bit-identical parameters into Identity(initializer) nodes; undo that
    if inline_identity_initializers(m):
        onnx.save(m, path)
    onnx.checker.check_model(m)
    ops = dict(op_histogram(m))
    bad = set(ops) - ALLOWED_OPS
    if bad:
        raise RuntimeError(f"unexpected ops in exported graph: {sorted(bad)}")
    if ops.get("BatchNormalization", 0) == 0:
        raise RuntimeError("BatchNormalization nodes were folded away")
    for n in m.graph.node:
        if n.op_type == "BatchNormalization":
            if len(n.output) != 1:
                raise RuntimeError("BatchNormalization exported in training mode")
    return ops, m


# ----------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--time-batches", type=int, default=0,
                    help="only time this many training steps, print the estimated epoch time, exit")
    ap.add_argument("--blocks", type=int, default=2,
                    help="basic blocks per stage (2 = the demo ResNet-14; 4 = ResNet-26, the second "
                         "model the defaults are selected on, docs/decisions.md section 6)")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "fmnist_resnet14"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    tr_img, tr_lab = load_split("train")
    te_img, te_lab = load_split("t10k")
    x_all = normalise(tr_img)
    y_all = torch.from_numpy(tr_lab.astype(np.int64))
    x_train, y_train = x_all[:-NUM_VAL], y_all[:-NUM_VAL]
    x_val, y_val = x_all[-NUM_VAL:], y_all[-NUM_VAL:]
    x_test = normalise(te_img)
    y_test = torch.from_numpy(te_lab.astype(np.int64))
    print(f"train {tuple(x_train.shape)}  val {tuple(x_val.shape)}  test {tuple(x_test.shape)}",
          flush=True)

    model = ResNet14(blocks=args.blocks)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"ResNet{6 * args.blocks + 2}: {nparams} parameters, threads={torch.get_num_threads()}", flush=True)

    n_train = x_train.shape[0]
    steps_per_epoch = n_train // args.batch  # drop the last partial batch
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.wd)

    if args.time_batches:
        model.train()
        perm = torch.randperm(n_train, generator=gen)
        t0 = None
        for s in range(args.time_batches + 2):
            if s == 2:
                t0 = time.time()  # skip warm-up steps
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = augment(x_train[idx], gen)
            loss = F.cross_entropy(model(xb), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dt = (time.time() - t0) / args.time_batches
        print(f"{dt * 1000:.1f} ms/step -> ~{dt * steps_per_epoch:.0f} s/epoch "
              f"({steps_per_epoch} steps)", flush=True)
        return

    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.15, anneal_strategy="cos", cycle_momentum=False,
        div_factor=10.0, final_div_factor=100.0)

    history = []
    t_start = time.time()
    for epoch in range(args.epochs):
        model.train()
        t_ep = time.time()
        perm = torch.randperm(n_train, generator=gen)
        run_loss = run_correct = run_n = 0
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            xb = augment(x_train[idx], gen)
            yb = y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += loss.item() * yb.shape[0]
            run_correct += (logits.argmax(1) == yb).sum().item()
            run_n += yb.shape[0]
            if (s + 1) % 100 == 0:
                print(f"  epoch {epoch + 1} step {s + 1}/{steps_per_epoch}  "
                      f"loss {run_loss / run_n:.4f}  acc {100 * run_correct / run_n:.2f}%  "
                      f"{time.time() - t_ep:.0f}s", flush=True)
        train_time = time.time() - t_ep
        v1, v5, vloss = evaluate(model, x_val, y_val)
        rec = {"epoch": epoch + 1, "train_loss": run_loss / run_n, "train_acc": run_correct / run_n,
               "val_top1": v1, "val_loss": vloss, "lr_end": sched.get_last_lr()[0],
               "epoch_seconds": round(time.time() - t_ep, 1)}
        history.append(rec)
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {rec['train_loss']:.4f}  "
              f"train {100 * rec['train_acc']:.2f}%  val {100 * v1:.2f}% (loss {vloss:.4f})  "
              f"lr {rec['lr_end']:.4f}  {train_time:.0f}s train / {rec['epoch_seconds']:.0f}s total  "
              f"elapsed {time.time() - t_start:.0f}s", flush=True)
    total_train = time.time() - t_start

    # final metrics (test set used for reporting only)
    v1, v5, vloss = evaluate(model, x_val, y_val)
    t1, t5, tloss = evaluate(model, x_test, y_test)
    print(f"final: val top1 {100 * v1:.2f}%  top5 {100 * v5:.2f}%   "
          f"t10k top1 {100 * t1:.2f}%  top5 {100 * t5:.2f}%   training {total_train:.0f}s",
          flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    onnx_path = args.out + ".onnx"
    ops, _ = export_onnx(model, onnx_path)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes), ops: {ops}", flush=True)

    meta = {
        "model": os.path.basename(args.out),
        "file": os.path.basename(onnx_path),
        "architecture": "CIFAR-style ResNet-14: 3x3 stem conv 16 + BN + ReLU; 3 stages x 2 "
                        "BasicBlocks (16/32/64 ch, stride 2 + 1x1 conv+BN projection shortcut at "
                        "stages 2 and 3); global average pool; linear 10",
        "parameters": nparams,
        "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)",
        "classes": CLASSES,
        "input": {"name": "input", "shape": ["N", 1, 28, 28], "layout": "NCHW", "dtype": "float32"},
        "output": {"name": "logits", "shape": ["N", 10]},
        "preprocessing": {"scale": 1.0 / 255.0, "mean": MEAN, "std": STD,
                          "formula": "x = (pixel/255 - mean) / std"},
        "onnx_opset": 13,
        "onnx_ops": ops,
        "split": {"train": int(n_train), "val": NUM_VAL,
                  "val_definition": "last 5000 images of train-images-idx3-ubyte",
                  "test": int(x_test.shape[0])},
        "recipe": {"optimizer": "SGD", "momentum": 0.9, "nesterov": True, "lr_max": args.lr,
                   "schedule": "OneCycleLR (cosine, pct_start 0.15, div 10, final_div 100), per step",
                   "weight_decay": args.wd, "batch_size": args.batch, "epochs": args.epochs,
                   "augmentation": "random crop 28 with zero(black) padding 2, horizontal flip p=0.5",
                   "seed": args.seed, "threads": args.threads,
                   "torch": torch.__version__},
        "val_top1": round(v1, 4), "val_top5": round(v5, 4),
        "test_top1": round(t1, 4), "test_top5": round(t5, 4),
        "training_seconds": round(total_train, 1),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "history": history,
    }
    with open(args.out + ".json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}.json", flush=True)


if __name__ == "__main__":
    main()
