#!/usr/bin/env node
// ONNX Runtime's output for a raw float32 input file, for the QDQ test fixtures
// (tools/make_qdq_fixture.py). Writes raw little-endian float32 and prints a JSON line.
// With --opt disabled (the default) every QuantizeLinear / DequantizeLinear runs as its own
// op, the ONNX semantics dfmpc implements; --opt all lets ORT fuse QDQ groups into integer
// kernels (QLinearConv ...), whose requantization rounds differently, reported for comparison.
// Usage: node bench/ort/qdq_fixture_logits.mjs MODEL INPUT.f32 N,C,H,W OUT.f32 [--opt disabled|all]
import fs from 'node:fs';
import ort from 'onnxruntime-node';

const args = process.argv.slice(2);
const optAt = args.indexOf('--opt');
const opt = optAt >= 0 ? args.splice(optAt, 2)[1] : 'disabled';
if (args.length !== 4 || !['disabled', 'all'].includes(opt)) {
  console.error('usage: qdq_fixture_logits.mjs MODEL INPUT.f32 N,C,H,W OUT.f32 [--opt disabled|all]');
  process.exit(2);
}
const [model, inputPath, shapeArg, outPath] = args;
const dims = shapeArg.split(',').map(Number);
const buf = fs.readFileSync(inputPath);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${inputPath}: ${data.length} floats, shape ${dims}`);
const session = await ort.InferenceSession.create(model, {
  graphOptimizationLevel: opt, intraOpNumThreads: 1, interOpNumThreads: 1,
});
const out = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) }))[session.outputNames[0]];
fs.writeFileSync(outPath, Buffer.from(new Float32Array(out.data).buffer));
const version = JSON.parse(fs.readFileSync(new URL('./node_modules/onnxruntime-node/package.json', import.meta.url))).version;
console.log(JSON.stringify({ model, ort: version, opt, dims: out.dims, out: outPath }));
