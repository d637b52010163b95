#!/usr/bin/python3
"""Writes QDQ test fixtures in the layout ONNX Runtime's quantize_static produces.

A small CNN (Conv+bias as after BN folding, Relu, residual Add, strided 1x1 Conv,
GlobalAveragePool, Flatten, Gemm) with QuantizeLinear/DequantizeLinear pairs (UINT8 with zero
point, MinMax-calibrated on the fixture input) on activations, DequantizeLinear on per-channel
INT8 weights (axis 0) and on INT32 biases (scale = input scale * weight scale):

  tests/fixtures/qdq_small_int8.onnx   opset 13, IR 7
  tests/fixtures/qdq_small_int4.onnx   opset 21, IR 10: conv weights INT4 (conv2 UINT4 with
                                       zero point 8), written as raw proto fields because
                                       Debian's onnx 1.12 predates INT4 (data_type 22 / 21)
  tests/fixtures/qdq_small.input.f32   the input, [4, 3, 8, 8] float32
  tests/fixtures/qdq_bad_int4_short.onnx  the INT4 model with conv2's codes one byte short
                                       (a malformed model for the CLI's error test)

ONNX Runtime's logits (bench/ort/qdq_fixture_logits.mjs) go to qdq_small_<variant>.ort.f32.
Deterministic; needs only NumPy and python3-onnx.   Run: /usr/bin/python3 tools/make_qdq_fixture.py
"""
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
INT4, UINT4 = 22, 21  # TensorProto data types of ONNX 1.16 / opset 21


def conv2d(x, w, b, stride=1, pad=0):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return (y + b[None, :, None, None]).astype(np.float32)


def act_qparams(v):
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    scale = np.float32((hi - lo) / 255.0)
    return scale, np.uint8(np.clip(np.round(-lo / scale), 0, 255))


def fake_quant(v, scale, zp):
    q = np.clip(np.round(v / scale) + zp, 0, 255)
    return ((q - zp) * scale).astype(np.float32)


def pack_nibbles(codes):
    flat = (codes.astype(np.int64).ravel() & 0xF).astype(np.uint8)
    if flat.size % 2:
        flat = np.append(flat, np.uint8(0))
    return (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()


def nibble_tensor(name, codes, signed):
    t = TensorProto()
    t.name = name
    t.dims.extend(codes.shape)
    t.data_type = INT4 if signed else UINT4
    t.raw_data = pack_nibbles(codes)
    return t


def main():
    rng = np.random.default_rng(20261204)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    w = {
        "conv1": (rng.standard_normal((7, 3, 3, 3)) * 0.3).astype(np.float32),  # 189 values: odd
        "conv2": (rng.standard_normal((7, 7, 3, 3)) * 0.15).astype(np.float32),  # 343: odd
        "conv3": (rng.standard_normal((6, 7, 1, 1)) * 0.4).astype(np.float32),
        "fc": (rng.standard_normal((10, 6)) * 0.5).astype(np.float32),
    }
    b = {k: (rng.standard_normal(v.shape[0]) * 0.1).astype(np.float32) for k, v in w.items()}
    for variant in ("int8", "int4"):
        write_variant(variant, x, w, b)
    x.tofile(os.path.join(ROOT, "qdq_small.input.f32"))


def write_variant(variant, x, w, b):
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def qdq(src, scale, zp):
        s, z = const(src + "_scale", np.array(scale, np.float32)), const(src + "_zero_point", np.array(zp, np.uint8))
        nodes.append(helper.make_node("QuantizeLinear", [src, s, z], [src + "_quantized"], src + "_QuantizeLinear"))
        nodes.append(helper.make_node("DequantizeLinear", [src + "_quantized", s, z], [src + "_dq"], src + "_DequantizeLinear"))
        return src + "_dq"

    def weight(name, arr, in_scale, bits_kind):
        """DequantizeLinear of per-channel codes (axis 0) and of the INT32 bias."""
        o = arr.shape[0]
        flat = np.abs(arr.reshape(o, -1)).max(axis=1)
        if bits_kind == "int8":
            scale = (flat / 127.0).astype(np.float32)
            codes = np.clip(np.round(arr / scale.reshape((o,) + (1,) * (arr.ndim - 1))), -127, 127).astype(np.int8)
            q = numpy_helper.from_array(codes, name + "_quantized")
            zero = numpy_helper.from_array(np.zeros(o, np.int8), name + "_zero_point")
        else:
            signed = bits_kind == "int4"
            scale = (flat / 7.0).astype(np.float32)
            zp = 0 if signed else 8
            codes = np.clip(np.round(arr / scale.reshape((o,) + (1,) * (arr.ndim - 1))) + zp,
                            -7 + zp, 7 + zp).astype(np.int64)
            q = nibble_tensor(name + "_quantized", codes, signed)
            zero = nibble_tensor(name + "_zero_point", np.full(o, zp), signed)
        inits.extend([q, zero])
        s = const(name + "_scale", scale)
        nodes.append(helper.make_node("DequantizeLinear", [q.name, s, zero.name], [name + "_dq"],
                                      name + "_DequantizeLinear", axis=0))
        bias_scale = (np.float32(in_scale) * scale).astype(np.float32)
        bias_codes = np.round(b[name] / bias_scale).astype(np.int32)
        bs = const(name + "_bias_scale", bias_scale)
        bias_inputs = [const(name + "_bias_quantized", bias_codes), bs]
        if name != "fc":  # quantize_static writes INT32 zero points; one bias without it
            bias_inputs.append(const(name + "_bias_zero_point", np.zeros(o, np.int32)))
        nodes.append(helper.make_node("DequantizeLinear", bias_inputs, [name + "_bias_dq"],
                                      name + "_bias_DequantizeLinear", axis=0))
        deq_w = (codes.astype(np.float32) - (0 if bits_kind != "uint4" else 8)) * scale.reshape((o,) + (1,) * (arr.ndim - 1))
        return name + "_dq", name + "_bias_dq", deq_w.astype(np.float32), (bias_codes * bias_scale).astype(np.float32)

    kinds = {"conv1": "int8", "conv2": "int8", "conv3": "int8", "fc": "int8"}
    if variant == "int4":
        kinds.update(conv1="int4", conv2="uint4", conv3="int4")
    # Calibrate activation ranges on the fixture input, simulating the quantized network
    # (as quantize_static's MinMax calibration sees the float one; close enough for a fixture).
    s_in, z_in = act_qparams(x)
    a0 = qdq("input", s_in, z_in)
    xq = fake_quant(x, s_in, z_in)
    w1, b1, fw1, fb1 = weight("conv1", w["conv1"], s_in, kinds["conv1"])
    nodes.append(helper.make_node("Conv", [a0, w1, b1], ["conv1_out"], "conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
    nodes.append(helper.make_node("Relu", ["conv1_out"], ["relu1_out"], "relu1"))
    r1 = np.maximum(conv2d(xq, fw1, fb1, pad=1), 0)
    s1, z1 = act_qparams(r1)
    a1 = qdq("relu1_out", s1, z1)
    r1q = fake_quant(r1, s1, z1)
    w2, b2, fw2, fb2 = weight("conv2", w["conv2"], s1, kinds["conv2"])
    nodes.append(helper.make_node("Conv", [a1, w2, b2], ["conv2_out"], "conv2", pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
    c2 = conv2d(r1q, fw2, fb2, pad=1)
    s2, z2 = act_qparams(c2)
    a2 = qdq("conv2_out", s2, z2)
    c2q = fake_quant(c2, s2, z2)
    nodes.append(helper.make_node("Add", [a2, a1], ["add_out"], "add"))
    ad = c2q + r1q
    s3, z3 = act_qparams(ad)
    a3 = qdq("add_out", s3, z3)
    nodes.append(helper.make_node("Relu", [a3], ["relu2_out"], "relu2"))
    r2 = np.maximum(fake_quant(ad, s3, z3), 0)
    s4, z4 = act_qparams(r2)
    a4 = qdq("relu2_out", s4, z4)
    r2q = fake_quant(r2, s4, z4)
    w3, b3, fw3, fb3 = weight("conv3", w["conv3"], s4, kinds["conv3"])
    nodes.append(helper.make_node("Conv", [a4, w3, b3], ["conv3_out"], "conv3", strides=[2, 2], kernel_shape=[1, 1]))
    c3 = conv2d(r2q, fw3, fb3, stride=2)
    s5, z5 = act_qparams(c3)
    a5 = qdq("conv3_out", s5, z5)
    nodes.append(helper.make_node("GlobalAveragePool", [a5], ["pool_out"], "pool"))
    pool = fake_quant(c3, s5, z5).mean(axis=(2, 3), keepdims=True)
    s6, z6 = act_qparams(pool)
    a6 = qdq("pool_out", s6, z6)
    nodes.append(helper.make_node("Flatten", [a6], ["flat_out"], "flatten", axis=1))
    wf, bf, _, _ = weight("fc", w["fc"], s6, kinds["fc"])
    nodes.append(helper.make_node("Gemm", ["flat_out", wf, bf], ["logits"], "fc", transB=1))

    graph = helper.make_graph(
        nodes, "qdq_small_" + variant,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    opset = 13 if variant == "int8" else 21
    model = helper.make_model(graph, producer_name="dfmpc tools/make_qdq_fixture.py",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset == 13 else 10
    path = os.path.join(ROOT, "qdq_small_%s.onnx" % variant)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print("wrote", path, os.path.getsize(path), "bytes")
    if variant == "int4":
        for t in model.graph.initializer:
            if t.name == "conv2_quantized":
                t.raw_data = t.raw_data[:-1]
        with open(os.path.join(ROOT, "qdq_bad_int4_short.onnx"), "wb") as f:
            f.write(model.SerializeToString())


if __name__ == "__main__":
    main()
