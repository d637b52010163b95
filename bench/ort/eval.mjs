#!/usr/bin/env node
// Top-1 / top-5 accuracy of an ONNX model on a CIFAR-10 binary file with ONNX Runtime (CPU EP,
// 2 intra-op threads, all graph optimizations), batches of 100, same preprocessing as
// `dfmpc eval --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225`.
// Usage: node bench/ort/eval.mjs MODEL DATA [--limit N] [--batch 100] [--threads 2] [--opt all|disabled]
// (--opt disabled: no graph rewrites, e.g. QDQ groups stay float ops instead of integer kernels)
// Prints one JSON object: {top1, top5, images, seconds, ...}; seconds = time inside session.run.
import { loadCifar, normalizeBatch, createSession, parseArgs, ort, IMAGE, version } from './common.mjs';

const { pos, opts } = parseArgs(process.argv.slice(2), { limit: 0, batch: 100, threads: 2, opt: 'all' });
if (pos.length !== 2) {
  console.error('usage: eval.mjs MODEL DATA [--limit N] [--batch N] [--threads N]');
  process.exit(2);
}
const [model, dataPath] = pos;
const data = loadCifar(dataPath, opts.limit);
const session = await createSession(model, opts.threads, opts.opt);
const inName = session.inputNames[0];
const outName = session.outputNames[0];

const batch = Math.max(1, opts.batch);
const input = new Float32Array(batch * IMAGE);
let top1 = 0, top5 = 0, seconds = 0;
const t0all = process.hrtime.bigint();
for (let first = 0; first < data.count; first += batch) {
  const n = Math.min(batch, data.count - first);
  normalizeBatch(data, first, n, input);
  const x = new ort.Tensor('float32', input.subarray(0, n * IMAGE), [n, 3, 32, 32]);
  const t0 = process.hrtime.bigint();
  const out = (await session.run({ [inName]: x }))[outName];
  seconds += Number(process.hrtime.bigint() - t0) / 1e9;
  const classes = out.dims[1];
  if (out.dims.length !== 2 || out.dims[0] !== n) throw new Error(`unexpected output shape ${out.dims}`);
  const d = out.data;
  for (let i = 0; i < n; ++i) {
    const row = i * classes;
    const label = data.labels[first + i];
    const v = d[row + label];
    // Rank of the true class as dfmpc counts it (ties favour the label only when it comes first).
    let rank = 0;
    for (let c = 0; c < classes; ++c) {
      const w = d[row + c];
      if (w > v || (w === v && c < label)) ++rank;
    }
    if (rank === 0) ++top1;
    if (rank < 5) ++top5;
  }
}
const total = Number(process.hrtime.bigint() - t0all) / 1e9;
console.log(JSON.stringify({
  engine: 'onnxruntime-node', version: version(), model,
  top1: (100 * top1) / data.count, top5: (100 * top5) / data.count, images: data.count,
  seconds, images_per_second: data.count / seconds, total_seconds: total, batch, threads: opts.threads,
}));
