#!/usr/bin/env node
// Writes ONNX Runtime's logits for the first N images of a CIFAR-10 binary file as raw
// little-endian float32 [N, classes] (same preprocessing as eval.mjs), for cross-checks such
// as bench/speed_torch.py --verify. Prints {"images": N, "classes": C, "out": FILE}.
// Usage: node bench/ort/logits.mjs MODEL DATA OUT.f32 [--limit N] [--threads 2]
import fs from 'node:fs';
import { loadCifar, normalizeBatch, createSession, parseArgs, ort, IMAGE } from './common.mjs';

const { pos, opts } = parseArgs(process.argv.slice(2), { limit: 100, threads: 2, batch: 100 });
if (pos.length !== 3) {
  console.error('usage: logits.mjs MODEL DATA OUT.f32 [--limit N] [--threads N]');
  process.exit(2);
}
const [model, dataPath, outPath] = pos;
const data = loadCifar(dataPath, opts.limit);
const session = await createSession(model, opts.threads);
const input = new Float32Array(opts.batch * IMAGE);
const chunks = [];
let classes = 0;
for (let first = 0; first < data.count; first += opts.batch) {
  const n = Math.min(opts.batch, data.count - first);
  normalizeBatch(data, first, n, input);
  const x = new ort.Tensor('float32', input.subarray(0, n * IMAGE), [n, 3, 32, 32]);
  const out = (await session.run({ [session.inputNames[0]]: x }))[session.outputNames[0]];
  classes = out.dims[1];
  chunks.push(Buffer.from(new Float32Array(out.data).buffer));
}
fs.writeFileSync(outPath, Buffer.concat(chunks));
console.log(JSON.stringify({ images: data.count, classes, out: outPath }));
