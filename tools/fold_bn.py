#!/usr/bin/python3
"""Folds every BatchNormalization that directly follows a Conv into the Conv's weights and bias.

    /usr/bin/python3 tools/fold_bn.py IN.onnx OUT.onnx

Used to make the BN-folded form of the demo model on which the defaults for BN-folded graphs
were chosen (docs/decisions.md section 6): W' = W gamma / sigma, b' = (b - mu) gamma / sigma + beta.
"""
import onnx, numpy as np, sys
from onnx import numpy_helper as nh
m = onnx.load(sys.argv[1]); g = m.graph
init = {t.name: t for t in g.initializer}
arr = lambda n: nh.to_array(init[n]).astype(np.float64)
cons = {}
for n in g.node:
    for i in n.input: cons.setdefault(i, []).append(n)
remove = []
for n in list(g.node):
    if n.op_type != "Conv": continue
    users = cons.get(n.output[0], [])
    if len(users) != 1 or users[0].op_type != "BatchNormalization": continue
    bn = users[0]
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    ga, be, mu, var = (arr(x) for x in bn.input[1:5])
    W = arr(n.input[1]); s = ga / np.sqrt(var + eps)
    b = arr(n.input[2]) if len(n.input) > 2 and n.input[2] else np.zeros(W.shape[0])
    Wf = W * s[:, None, None, None]; bf = (b - mu) * s + be
    init[n.input[1]].CopyFrom(nh.from_array(Wf.astype(np.float32), n.input[1]))
    bname = n.name + "_folded_bias"
    g.initializer.append(nh.from_array(bf.astype(np.float32), bname))
    while len(n.input) < 3: n.input.append("")
    n.input[2] = bname
    n.output[0] = bn.output[0]
    remove.append(bn)
for bn in remove: g.node.remove(bn)
onnx.save(m, sys.argv[2])
print("folded", len(remove))
