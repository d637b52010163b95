"""Small helpers shared by tools/train_demo.py and tools/make_fixtures.py (onnx 1.12)."""

import collections

import onnx
from onnx import numpy_helper


def op_histogram(model):
    """{op_type: count} over the main graph (ordered by first appearance)."""
    hist = collections.OrderedDict()
    for n in model.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return hist


def inline_identity_initializers(model):
    """torch.onnx.export (1.13) always deduplicates bit-identical parameters and re-creates the
    dropped ones as `Identity(initializer)` nodes. That happens whenever two BN layers have the
    same gamma/beta/mean/var (e.g. freshly initialised ones). Replace every such Identity by a
    copy of the initializer under the Identity's output name, so the graph only holds plain
    parameter initializers. Returns the number of nodes removed."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    graph_outputs = {o.name for o in g.output}
    keep, removed = [], 0
    for n in g.node:
        if (n.op_type == "Identity" and len(n.input) == 1 and n.input[0] in inits
                and n.output[0] not in graph_outputs):
            arr = numpy_helper.to_array(inits[n.input[0]])
            t = numpy_helper.from_array(arr.copy(), name=n.output[0])
            g.initializer.append(t)
            inits[t.name] = t
            removed += 1
        else:
            keep.append(n)
    if removed:
        del g.node[:]
        g.node.extend(keep)
    return removed


def initializer_names(model):
    return {t.name for t in model.graph.initializer}


def describe_nodes(model, op_types):
    """Short textual description of the nodes of the given op types (attributes + which inputs
    are initializers / Constant outputs), for the export report."""
    inits = initializer_names(model)
    consts = {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    lines = []
    for n in model.graph.node:
        if n.op_type not in op_types:
            continue
        attrs = []
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            attrs.append(f"{a.name}={v}")
        ins = []
        for i in n.input:
            kind = "init" if i in inits else "const" if i in consts else "" if i == "" else "dyn"
            ins.append(f"{i or '<none>'}:{kind}" if i else "<none>")
        lines.append(f"{n.op_type}({', '.join(ins)}) {' '.join(attrs)}".rstrip())
    return lines
