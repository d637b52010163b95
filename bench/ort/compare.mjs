#!/usr/bin/env node
// Runs two ONNX models with ONNX Runtime on the same inputs and compares their logits: the
// QDQ export (`dfmpc quantize -o A.onnx`) against the FP32-weight export (`--weights float`),
// or an opset-upgraded model against its original. Inputs are the first --limit images of a
// CIFAR-10 binary file (same preprocessing as eval.mjs), or --random N uniform [-2, 2) inputs
// of the model's shape when no data file is given.
// --opt disabled runs both graphs as written (ORT's optimizations fold BatchNormalization into
// an FP32 conv weight but not into a DequantizeLinear output, so 'all' compares two
// differently rounded graphs; 'disabled' isolates the weights).
// --shape C,H,W: the input of random inputs (default 3,32,32). --fold-dq: see createSession().
// Usage: node bench/ort/compare.mjs A.onnx B.onnx [DATA] [--limit 500] [--random 0] [--batch 100] [--opt all] [--shape 3,32,32]
// Prints one JSON object: {max_abs_diff, top1_agree, top1_a, top1_b, images, ort}.
import { loadCifar, normalizeBatch, createSession, parseArgs, ort, version } from './common.mjs';

const { pos, opts } = parseArgs(process.argv.slice(2), { limit: 500, random: 0, batch: 100, threads: 2, seed: 1, opt: 'all', shape: '3,32,32', 'fold-dq': false });
if (pos.length < 2 || pos.length > 3 || (pos.length === 2 && !opts.random)) {
  console.error('usage: compare.mjs A.onnx B.onnx [DATA] [--limit N] [--random N] [--batch N]');
  process.exit(2);
}
const [pathA, pathB, dataPath] = pos;
const a = await createSession(pathA, opts.threads, opts.opt, opts['fold-dq']);
const b = await createSession(pathB, opts.threads, opts.opt, opts['fold-dq']);

let state = opts.seed >>> 0;  // xorshift32: reproducible random inputs
const uniform = () => {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
};

const data = dataPath ? loadCifar(dataPath, opts.limit) : null;
const count = data ? data.count : opts.random;
const batch = Math.max(1, opts.batch);
const chw = data ? [3, 32, 32] : String(opts.shape).split(',').map(Number);
const per = chw.reduce((p, d) => p * d, 1);
const input = new Float32Array(batch * per);
let maxDiff = 0, agree = 0, correctA = 0, correctB = 0, classes = 0;
const argmax = (v, off, n) => {
  let k = 0;
  for (let j = 1; j < n; ++j) if (v[off + j] > v[off + k]) k = j;
  return k;
};
for (let first = 0; first < count; first += batch) {
  const n = Math.min(batch, count - first);
  if (data) normalizeBatch(data, first, n, input);
  else for (let i = 0; i < n * per; ++i) input[i] = 4 * uniform() - 2;
  const x = new ort.Tensor('float32', input.subarray(0, n * per), [n, ...chw]);
  const ya = (await a.run({ [a.inputNames[0]]: x }))[a.outputNames[0]];
  const yb = (await b.run({ [b.inputNames[0]]: x }))[b.outputNames[0]];
  classes = ya.dims[1];
  for (let i = 0; i < ya.data.length; ++i) maxDiff = Math.max(maxDiff, Math.abs(ya.data[i] - yb.data[i]));
  for (let i = 0; i < n; ++i) {
    const ka = argmax(ya.data, i * classes, classes), kb = argmax(yb.data, i * classes, classes);
    agree += ka === kb;
    if (data) {
      correctA += ka === data.labels[first + i];
      correctB += kb === data.labels[first + i];
    }
  }
}
const out = { a: pathA, b: pathB, images: count, inputs: data ? 'cifar10' : 'random', max_abs_diff: maxDiff,
              top1_agree: agree / count, opt: opts.opt, fold_dq: opts['fold-dq'], ort: version() };
if (data) Object.assign(out, { top1_a: (100 * correctA) / count, top1_b: (100 * correctB) / count });
console.log(JSON.stringify(out));
