#!/usr/bin/python3
"""Writes small ONNX models at opsets 9 and 11 that use the ops whose signatures changed
before opset 21 (Slice / Pad / Clip / Squeeze / Unsqueeze attributes that became inputs,
Softmax's 2-D coercion, Dropout's ratio), each with input
`input` [N, 3, 32, 32] and output `logits` [N, C], for bench/ort/check_upgrade.sh.
Usage: /usr/bin/python3 bench/ort/make_old_opset_models.py OUT_DIR  (Debian's python3-onnx)"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save


def model(nodes, opset, inits=(), classes=3):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])
    g = helper.make_graph(nodes, "old_opset_%d" % opset, [x], [y], initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=7 if opset > 9 else 4)


def f32(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


N = helper.make_node
# Only ops dfmpc's importer accepts (the runtime's registry): the Reduce*, Split, Resize and
# Upsample conversions are unit-tested on the IR (tests/onnx/test_opset_upgrade.cpp) but
# cannot be imported from a file yet.
MODELS = {
    "op9_attrs": model([
        N("Slice", ["input"], ["s"], starts=[2], ends=[30], axes=[2]),
        N("Pad", ["s"], ["p"], pads=[0, 0, 1, 0, 0, 0, 1, 0], value=0.25),
        N("Clip", ["p"], ["c"], min=-0.5, max=0.8),
        N("Unsqueeze", ["c"], ["u"], axes=[0]),
        N("Squeeze", ["u"], ["q"], axes=[0]),
        N("Dropout", ["q"], ["d"], ratio=0.3),
        N("Softmax", ["d"], ["sm"], axis=1),
        N("GlobalAveragePool", ["sm"], ["g"]),
        N("Flatten", ["g"], ["logits"], axis=1),
    ], 9),
    "op11_softmax": model([
        N("Unsqueeze", ["input"], ["u"], axes=[1]),
        N("Squeeze", ["u"], ["q"], axes=[1]),
        N("Dropout", ["q"], ["d"], ratio=0.1),
        N("Softmax", ["d"], ["sm"], axis=2),
        N("Mul", ["sm", "input"], ["m"]),
        N("GlobalAveragePool", ["m"], ["g"]),
        N("Flatten", ["g"], ["f"], axis=1),
        N("Softmax", ["f"], ["logits"]),
    ], 11),
}

if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, m in MODELS.items():
        save(m, os.path.join(out, name + ".onnx"))
        print(name)
