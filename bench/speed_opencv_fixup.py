#!/usr/bin/python3
"""Rewrites a CIFAR ResNet ONNX file so that OpenCV 4.6's DNN importer accepts it.

OpenCV 4.6.0 rejects the option-A shortcut's Pad node that PyTorch exports
(`Pad(x, pads, '')`: the optional constant_value input is present but empty) with
"Blob  not found in const blobs in function 'getBlob'". This script changes nothing the
model computes:
it drops trailing empty optional inputs of Pad nodes (constant_value then defaults to 0,
which is what the empty input meant). OpenCV 4.6 then folds the computed `pads` input itself.
Usage: /usr/bin/python3 bench/speed_opencv_fixup.py IN.onnx OUT.onnx
"""
import sys

import onnx


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    src, dst = sys.argv[1], sys.argv[2]
    m = onnx.load(src)
    g = m.graph
    changed = 0
    for n in g.node:
        if n.op_type != "Pad":
            continue
        while len(n.input) > 1 and n.input[-1] == "":
            n.input.pop()
            changed += 1
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    print(f"{dst}: {changed} Pad input(s) rewritten, {len(g.node)} nodes")


if __name__ == "__main__":
    main()
