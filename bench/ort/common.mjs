// Shared helpers for the ONNX Runtime (onnxruntime-node, CPU EP) comparison scripts.
import fs from 'node:fs';
import ort from 'onnxruntime-node';

export { ort };

export const MEAN = [0.485, 0.456, 0.406];
export const STD = [0.229, 0.224, 0.225];
const SIDE = 32;
const PLANE = SIDE * SIDE;
export const IMAGE = 3 * PLANE;          // floats / pixel bytes per image
const RECORD = 1 + IMAGE;                // CIFAR-10 record: label byte + RGB planes

// Reads a CIFAR-10 binary file (records of 1 label byte + 3072 bytes R,G,B planes 32x32).
export function loadCifar(path, limit = 0) {
  const buf = fs.readFileSync(path);
  if (buf.length % RECORD !== 0) throw new Error(`${path}: size ${buf.length} is not a multiple of ${RECORD}`);
  let count = buf.length / RECORD;
  if (limit > 0 && limit < count) count = limit;
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * IMAGE);
  for (let i = 0; i < count; ++i) {
    const rec = i * RECORD;
    labels[i] = buf[rec];
    if (labels[i] > 9) throw new Error(`${path}: record ${i} has label ${labels[i]}`);
    pixels.set(buf.subarray(rec + 1, rec + RECORD), i * IMAGE);
  }
  return { count, labels, pixels };
}

// Per-channel 256-entry tables of float32((float32(v/255) - mean) / std), which is what the
// float formula (pixels/255 - mean)/std gives in single precision (as dfmpc and torchvision do).
function normTables(mean = MEAN, std = STD) {
  const f = Math.fround;
  return [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; ++v) t[v] = f(f(f(v / 255) - f(mean[c])) / f(std[c]));
    return t;
  });
}
const TABLES = normTables();

// Normalises images [first, first+n) into out (Float32Array of at least n*3072), NCHW.
export function normalizeBatch(data, first, n, out) {
  let o = 0;
  let s = first * IMAGE;
  for (let i = 0; i < n; ++i) {
    for (let c = 0; c < 3; ++c) {
      const t = TABLES[c];
      for (let k = 0; k < PLANE; ++k) out[o++] = t[data.pixels[s++]];
    }
  }
}

// CPU execution provider, `threads` intra-op threads, graph optimizations `opt`
// (disabled | basic | extended | all). foldDq: session.disable_quant_qdq=1, which lets ORT's
// constant folding turn DequantizeLinear of an initializer into an FP32 weight at load (a
// weight-only QDQ model then runs as fast as its FP32 form; by default ORT keeps the
// DequantizeLinear nodes for QDQ fusions, and a weight-only model runs slower).
export async function createSession(model, threads = 2, opt = 'all', foldDq = false) {
  return ort.InferenceSession.create(model, {
    ...(foldDq ? { extra: { session: { disable_quant_qdq: '1' } } } : {}),
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opt,
  });
}

export function parseArgs(argv, spec) {
  const pos = [];
  const opts = { ...spec };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const k = a.slice(2);
      if (!(k in spec)) throw new Error(`unknown option ${a}`);
      if (typeof spec[k] === 'boolean') opts[k] = true;
      else {
        const v = argv[++i];
        if (v === undefined) throw new Error(`${a} needs a value`);
        opts[k] = typeof spec[k] === 'number' ? Number(v) : v;
      }
    } else pos.push(a);
  }
  return { pos, opts };
}

export function version() {
  return ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
}
