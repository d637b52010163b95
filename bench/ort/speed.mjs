#!/usr/bin/env node
// Inference throughput of an ONNX model with ONNX Runtime (CPU EP, all graph optimizations).
// Usage: node bench/ort/speed.mjs MODEL --batch B --threads 2 --seconds S [--data CIFAR.bin] [--warmup N]
// Runs session.run on one fixed batch (real normalised CIFAR images when --data is given,
// else deterministic pseudo-random values) for about S seconds after N warm-up runs, and prints
// one JSON object: {images_per_second, seconds, images, runs, cpu_seconds, peak_rss_mb, ...}
// (cpu_seconds: user + system CPU time of the whole process during the timed loop).
// Only session.run is timed (preprocessing excluded, like dfmpc eval's images_per_second).
import { loadCifar, normalizeBatch, createSession, parseArgs, ort, IMAGE, version } from './common.mjs';

const { pos, opts } = parseArgs(process.argv.slice(2), { batch: 1, threads: 2, seconds: 3, data: '', warmup: 2 });
if (pos.length !== 1) {
  console.error('usage: speed.mjs MODEL --batch B --threads N --seconds S [--data FILE] [--warmup N]');
  process.exit(2);
}
const model = pos[0];
const batch = Math.max(1, opts.batch);
const input = new Float32Array(batch * IMAGE);
if (opts.data) {
  const data = loadCifar(opts.data, batch);
  if (data.count < batch) throw new Error(`${opts.data} holds fewer than ${batch} images`);
  normalizeBatch(data, 0, batch, input);
} else {
  let s = 12345;
  for (let i = 0; i < input.length; ++i) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    input[i] = (s / 2 ** 32) * 4 - 2;
  }
}
const session = await createSession(model, opts.threads);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, [batch, 3, 32, 32]) };
for (let i = 0; i < opts.warmup; ++i) await session.run(feeds);

let runs = 0, seconds = 0;
const cpu0 = process.cpuUsage();
const budget = opts.seconds;
while (seconds < budget || runs < 2) {
  const t0 = process.hrtime.bigint();
  await session.run(feeds);
  seconds += Number(process.hrtime.bigint() - t0) / 1e9;
  ++runs;
}
const cpu = process.cpuUsage(cpu0);
const images = runs * batch;
console.log(JSON.stringify({
  engine: 'onnxruntime-node', version: version(), model, batch, threads: opts.threads,
  runs, images, seconds, images_per_second: images / seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6,
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
}));
