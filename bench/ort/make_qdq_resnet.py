#!/usr/bin/python3
"""A quantize_static-layout QDQ copy of a shared CIFAR ResNet (BN-folded form), to check
`dfmpc eval` against ONNX Runtime on activation-quantized models at scale: UINT8 QuantizeLinear->DequantizeLinear after the input and
every Relu / Add / GlobalAveragePool output (MinMax ranges over CALIB images of the CIFAR
file, computed with tools/onnx_ref.py), per-channel INT8 weights (axis 0) and INT32 biases
through DequantizeLinear; opset 13. The third-party model stays outside the repository: the
output goes where the caller says.

    /usr/bin/python3 bench/ort/make_qdq_resnet.py MODEL_folded.onnx CIFAR.bin OUT.onnx [CALIB=32]
    build/dfmpc eval OUT.onnx --data CIFAR.bin --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
    node bench/ort/eval.mjs OUT.onnx CIFAR.bin [--opt disabled]
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import onnx_ref  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def cifar(path, n):
    raw = np.fromfile(path, np.uint8, count=n * 3073).reshape(n, 3073)
    x = raw[:, 1:].reshape(n, 3, 32, 32).astype(np.float32) / np.float32(255)
    return (x - MEAN) / STD


def main():
    src, data, out = sys.argv[1:4]
    calib = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    m = onnx.load(src)
    g = m.graph
    inp = g.input[0].name
    targets = [inp] + [n.output[0] for n in g.node if n.op_type in ("Relu", "Add", "GlobalAveragePool")]
    probe = onnx.ModelProto()
    probe.CopyFrom(m)
    del probe.graph.output[:]
    for t in targets:
        probe.graph.output.append(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    vals = onnx_ref.run(probe, {inp: cifar(data, calib)})
    inits = {t.name: t for t in g.initializer}
    new_inits, nodes = [], []

    def qparams(v):
        lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
        s = np.float32((hi - lo) / 255.0) if hi > lo else np.float32(1.0)
        return s, np.uint8(np.clip(np.round(-lo / s), 0, 255))

    act_scale = {}
    renamed = {}
    for t in targets:
        s, z = qparams(vals[t])
        act_scale[t] = s
        new_inits += [numpy_helper.from_array(np.array(s, np.float32), t + "_scale"),
                      numpy_helper.from_array(np.array(z, np.uint8), t + "_zero_point")]
        renamed[t] = t + "_dq"

    def qdq_nodes(t):
        return [helper.make_node("QuantizeLinear", [t, t + "_scale", t + "_zero_point"], [t + "_q"], t + "_QuantizeLinear"),
                helper.make_node("DequantizeLinear", [t + "_q", t + "_scale", t + "_zero_point"], [t + "_dq"], t + "_DequantizeLinear")]

    # the scale of the (quantized) activation each layer reads, for its INT32 bias
    producer = {o: n for n in g.node for o in n.output}

    def input_scale(name):
        while name not in act_scale:
            n = producer[name]  # Slice / Pad / Flatten ... between: same scale
            name = n.input[0]
        return act_scale[name]

    nodes += qdq_nodes(inp)
    for n in g.node:
        node = onnx.NodeProto()
        node.CopyFrom(n)
        for k, i in enumerate(node.input):
            if i in renamed:
                node.input[k] = renamed[i]
        if n.op_type in ("Conv", "Gemm") and n.input[1] in inits:
            w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
            o = w.shape[0]
            ws = (np.abs(w.reshape(o, -1)).max(axis=1) / 127.0).astype(np.float32)
            ws[ws == 0] = 1.0
            codes = np.clip(np.round(w / ws.reshape((o,) + (1,) * (w.ndim - 1))), -127, 127).astype(np.int8)
            wn = n.input[1]
            new_inits += [numpy_helper.from_array(codes, wn + "_quantized"), numpy_helper.from_array(ws, wn + "_scale"),
                          numpy_helper.from_array(np.zeros(o, np.int8), wn + "_zero_point")]
            nodes.append(helper.make_node("DequantizeLinear", [wn + "_quantized", wn + "_scale", wn + "_zero_point"],
                                          [wn + "_dq"], wn + "_DequantizeLinear", axis=0))
            node.input[1] = wn + "_dq"
            if len(n.input) > 2 and n.input[2] in inits:
                b = numpy_helper.to_array(inits[n.input[2]]).astype(np.float32)
                bs = (np.float32(input_scale(n.input[0])) * ws).astype(np.float32)
                bn = n.input[2]
                new_inits += [numpy_helper.from_array(np.round(b / bs).astype(np.int32), bn + "_quantized"),
                              numpy_helper.from_array(bs, bn + "_scale"),
                              numpy_helper.from_array(np.zeros(o, np.int32), bn + "_zero_point")]
                nodes.append(helper.make_node("DequantizeLinear", [bn + "_quantized", bn + "_scale", bn + "_zero_point"],
                                              [bn + "_dq"], bn + "_DequantizeLinear", axis=0))
                node.input[2] = bn + "_dq"
        nodes.append(node)
        if n.output[0] in renamed and n.output[0] != inp:
            nodes += qdq_nodes(n.output[0])
    used = {i for n in nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    graph = helper.make_graph(nodes, g.name + "_qdq", list(g.input), list(g.output), keep + new_inits)
    model = helper.make_model(graph, producer_name="dfmpc bench/ort/make_qdq_resnet.py", opset_imports=list(m.opset_import))
    model.ir_version = m.ir_version
    onnx.save(model, out)
    print("wrote", out, os.path.getsize(out), "bytes;", len(targets), "activation Q/DQ pairs")


if __name__ == "__main__":
    main()
