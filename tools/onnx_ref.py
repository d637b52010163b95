"""A tiny, slow, independent NumPy interpreter for the ONNX op subset our fixtures use.

Used by tools/make_fixtures.py and tools/train_demo.py to check that each exported ONNX file
reproduces PyTorch's reference output (onnxruntime is not available on Debian 12). Computes in
float64. Raises NotImplementedError on anything it does not know, so a new op in an export is
noticed instead of silently mis-evaluated.

    /usr/bin/python3 tools/onnx_ref.py model.onnx input.f32 [expected_output.f32]
"""

import sys

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pad_spatial(x, pads, value=0.0):
    nd = x.ndim - 2
    width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
    return np.pad(x, width, mode="constant", constant_values=value)


def _auto_pad(a, in_shape, kernel, strides, dilations):
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    nd = len(kernel)
    if auto in ("NOTSET", ""):
        return list(a.get("pads", [0] * (2 * nd)))
    if auto == "VALID":
        return [0] * (2 * nd)
    pads = [0] * (2 * nd)
    for i in range(nd):
        out = -(-in_shape[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_shape[i])
        lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
        pads[i], pads[i + nd] = lo, total - lo
    return pads


def _windows(xp, kernel, strides, dilations, out_hw):
    """xp [N,C,Hp,Wp] -> [N,C,OH,OW,KH,KW] view."""
    n, c = xp.shape[:2]
    sN, sC, sH, sW = xp.strides
    shape = (n, c, out_hw[0], out_hw[1], kernel[0], kernel[1])
    st = (sN, sC, sH * strides[0], sW * strides[1], sH * dilations[0], sW * dilations[1])
    return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=st, writeable=False)


def _out_size(n, k, s, d, p0, p1, ceil=False):
    eff = (k - 1) * d + 1
    num = n + p0 + p1 - eff
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p0:  # last window must start inside the (left-padded) input
        o -= 1
    return o


def conv(x, w, b, a):
    if x.ndim != 4:
        raise NotImplementedError("only 2-D Conv")
    kernel = list(a.get("kernel_shape", w.shape[2:]))
    strides = list(a.get("strides", [1, 1]))
    dil = list(a.get("dilations", [1, 1]))
    group = a.get("group", 1)
    pads = _auto_pad(a, x.shape[2:], kernel, strides, dil)
    xp = np.ascontiguousarray(_pad_spatial(x, pads))
    oh = _out_size(x.shape[2], kernel[0], strides[0], dil[0], pads[0], pads[2])
    ow = _out_size(x.shape[3], kernel[1], strides[1], dil[1], pads[1], pads[3])
    win = _windows(xp, kernel, strides, dil, (oh, ow))  # N,C,OH,OW,KH,KW
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    outs = []
    for g in range(group):
        wg = win[:, g * cg:(g + 1) * cg]
        outs.append(np.einsum("nchwij,mcij->nmhw", wg, w[g * mg:(g + 1) * mg], optimize=True))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def pool(x, a, kind, count_include_pad=0):
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides", [1] * len(kernel)))
    dil = list(a.get("dilations", [1] * len(kernel)))
    ceil = bool(a.get("ceil_mode", 0))
    pads = _auto_pad(a, x.shape[2:], kernel, strides, dil)
    oh = _out_size(x.shape[2], kernel[0], strides[0], dil[0], pads[0], pads[2], ceil)
    ow = _out_size(x.shape[3], kernel[1], strides[1], dil[1], pads[1], pads[3], ceil)
    # extra right/bottom padding so that ceil-mode windows fit
    need_h = (oh - 1) * strides[0] + (kernel[0] - 1) * dil[0] + 1 - (x.shape[2] + pads[0])
    need_w = (ow - 1) * strides[1] + (kernel[1] - 1) * dil[1] + 1 - (x.shape[3] + pads[1])
    full = [pads[0], pads[1], max(need_h, pads[2]), max(need_w, pads[3])]
    if kind == "max":
        xp = np.ascontiguousarray(_pad_spatial(x, full, -np.inf))
        return _windows(xp, kernel, strides, dil, (oh, ow)).max(axis=(4, 5))
    xp = np.ascontiguousarray(_pad_spatial(x, full, 0.0))
    s = _windows(xp, kernel, strides, dil, (oh, ow)).sum(axis=(4, 5))
    ones = np.zeros((1, 1) + x.shape[2:])
    ones[...] = 1.0
    if count_include_pad:
        # explicit pads count, the ceil-mode overhang does not
        o = _pad_spatial(ones, pads, 1.0)
        o = np.ascontiguousarray(_pad_spatial(o, [0, 0, full[2] - pads[2], full[3] - pads[3]], 0.0))
    else:
        o = np.ascontiguousarray(_pad_spatial(ones, full, 0.0))
    cnt = _windows(o, kernel, strides, dil, (oh, ow)).sum(axis=(4, 5))
    return s / cnt


def run(model, feeds):
    """Evaluate `model` (onnx.ModelProto) on feeds {name: ndarray}; returns {output: ndarray}."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    env = {}
    for t in model.graph.initializer:
        arr = numpy_helper.to_array(t)
        env[t.name] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    for k, v in feeds.items():
        env[k] = np.asarray(v, dtype=np.float64)

    def get(name):
        return None if name == "" else env[name]

    for node in model.graph.node:
        a = _attrs(node)
        ins = [get(i) for i in node.input]
        op = node.op_type
        if op == "Constant":
            if "value" not in a:
                raise NotImplementedError("Constant without tensor value")
            arr = numpy_helper.to_array(a["value"])
            out = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
        elif op == "Conv":
            out = conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise NotImplementedError("BatchNormalization training_mode=1")
            x, sc, bi, mu, var = ins[:5]
            eps = a.get("epsilon", 1e-5)
            shp = (1, -1) + (1,) * (x.ndim - 2)
            out = (x - mu.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * sc.reshape(shp) \
                + bi.reshape(shp)
        elif op == "Relu":
            out = np.maximum(ins[0], 0)
        elif op == "Clip":
            if opset < 11:
                lo, hi = a.get("min", -np.inf), a.get("max", np.inf)
            else:
                lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
                hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            out = np.clip(ins[0], lo, hi)
        elif op in ("Add", "Sub", "Mul", "Div"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op]
            if ins[0].dtype.kind in "iu" and ins[1].dtype.kind in "iu" and op == "Div":
                out = ins[0] // ins[1]
            else:
                out = f(ins[0], ins[1])
        elif op == "MaxPool":
            if len(node.output) > 1 and node.output[1]:
                raise NotImplementedError("MaxPool with Indices output")
            out = pool(ins[0], a, "max")
        elif op == "AveragePool":
            out = pool(ins[0], a, "avg", a.get("count_include_pad", 0))
        elif op == "GlobalAveragePool":
            out = ins[0].mean(axis=tuple(range(2, ins[0].ndim)), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            ax = ax + ins[0].ndim if ax < 0 else ax
            out = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            out = a.get("alpha", 1.0) * (A @ B)
            if len(ins) > 2 and ins[2] is not None:
                out = out + a.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            out = ins[0] @ ins[1]
        elif op == "Concat":
            out = np.concatenate(ins, axis=a["axis"])
        elif op == "Identity" or op == "Dropout":
            out = ins[0]
        elif op == "Shape":
            out = np.array(ins[0].shape, dtype=np.int64)
            if "start" in a or "end" in a:
                out = out[a.get("start", 0):a.get("end", len(out))]
        elif op == "Gather":
            out = np.take(ins[0], ins[1].astype(np.int64), axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            axes = list(a["axes"]) if opset < 13 else [int(v) for v in ins[1]]
            out = ins[0]
            nd = out.ndim + len(axes)
            for ax in sorted(v + nd if v < 0 else v for v in axes):
                out = np.expand_dims(out, ax)
        elif op == "Squeeze":
            axes = list(a.get("axes", [])) if opset < 13 else (
                [int(v) for v in ins[1]] if len(ins) > 1 else [])
            out = np.squeeze(ins[0], axis=tuple(axes) if axes else None)
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            shape = [ins[0].shape[i] if (s == 0 and not a.get("allowzero", 0)) else s
                     for i, s in enumerate(shape)]
            out = ins[0].reshape(shape)
        elif op == "Cast":
            to = a["to"]
            dt = onnx.helper.tensor_dtype_to_np_dtype(to) if hasattr(
                onnx.helper, "tensor_dtype_to_np_dtype") else onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[to]
            out = ins[0].astype(np.float64) if np.dtype(dt).kind == "f" else ins[0].astype(dt)
        elif op == "ConstantOfShape":
            val = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            out = np.full([int(v) for v in ins[0]], val.reshape(-1)[0],
                          dtype=np.float64 if val.dtype.kind == "f" else val.dtype)
        elif op == "Slice":
            if opset < 10:
                starts, ends = a["starts"], a["ends"]
                axes, steps = a.get("axes", list(range(len(starts)))), [1] * len(starts)
            else:
                starts, ends = [int(v) for v in ins[1]], [int(v) for v in ins[2]]
                axes = [int(v) for v in ins[3]] if len(ins) > 3 and ins[3] is not None \
                    else list(range(len(starts)))
                steps = [int(v) for v in ins[4]] if len(ins) > 4 and ins[4] is not None \
                    else [1] * len(starts)
            sl = [slice(None)] * ins[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                ax = ax + ins[0].ndim if ax < 0 else ax
                dim = ins[0].shape[ax]
                # clamp the int64 sentinels as the spec does
                s = max(min(s, dim), -dim - 1)
                e = max(min(e, dim), -dim - 1)
                if st < 0 and e < -dim:
                    e = None
                sl[ax] = slice(s, e, st)
            out = ins[0][tuple(sl)]
        elif op == "Pad":
            mode = a.get("mode", b"constant")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if opset < 11:
                pads, value = list(a["pads"]), a.get("value", 0.0)
            else:
                pads = [int(v) for v in ins[1]]
                value = float(ins[2].reshape(-1)[0]) if len(ins) > 2 and ins[2] is not None \
                    else 0.0
            nd = ins[0].ndim
            if any(p < 0 for p in pads):
                raise NotImplementedError("negative pads")
            width = [(pads[i], pads[i + nd]) for i in range(nd)]
            if mode == "constant":
                out = np.pad(ins[0], width, mode="constant", constant_values=value)
            elif mode == "reflect":
                out = np.pad(ins[0], width, mode="reflect")
            elif mode == "edge":
                out = np.pad(ins[0], width, mode="edge")
            else:
                raise NotImplementedError(f"Pad mode {mode}")
        elif op == "Transpose":
            out = np.transpose(ins[0], a.get("perm"))
        else:
            raise NotImplementedError(f"op {op} (opset {opset})")
        env[node.output[0]] = out
    return {o.name: env[o.name] for o in model.graph.output}


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    model = onnx.load(sys.argv[1])
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    x = np.fromfile(sys.argv[2], dtype="<f4").reshape([-1] + dims)
    y = list(run(model, {model.graph.input[0].name: x}).values())[0]
    print("output shape", y.shape)
    if len(sys.argv) > 3:
        ref = np.fromfile(sys.argv[3], dtype="<f4").reshape(y.shape)
        print("max |diff|", float(np.abs(y - ref).max()), " max |ref|", float(np.abs(ref).max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
