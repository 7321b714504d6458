#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) on raw float32 inputs, for
// `compress export --verify` and `compress bench --onnx`.
//
//   node tools/ort/run.js MODEL.onnx DIR [--threads N] [--repeat R] [--warmup W]
//
// DIR/manifest.json: {"batches": [{"file": "in0.bin", "shape": [N, 3, H, W]}, ...]}
// Each batch feeds the model's first input. Outputs are written as
// DIR/out<i>_<name>.bin (float32, little endian) and DIR/outputs.json lists
// their shapes; with --repeat, each batch runs W + R times and the per-run
// milliseconds go to DIR/timing.json. COMPRESS_ORT_SAVE_OPTIMIZED=FILE saves the
// optimized graph there.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function main() {
  const [model, dir] = process.argv.slice(2, 4);
  if (!model || !dir) throw new Error('usage: run.js MODEL.onnx DIR [--threads N] [--repeat R] [--warmup W]');
  const threads = arg('--threads', 1), repeat = arg('--repeat', 0), warmup = arg('--warmup', 0);
  const options = {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: process.env.COMPRESS_ORT_OPT || 'all',
  };
  // The graph as ONNX Runtime runs it (which QDQ groups became int8 kernels).
  if (process.env.COMPRESS_ORT_SAVE_OPTIMIZED) options.optimizedModelFilePath = process.env.COMPRESS_ORT_SAVE_OPTIMIZED;
  const session = await ort.InferenceSession.create(model, options);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const outputs = [], timing = [];
  for (let b = 0; b < manifest.batches.length; ++b) {
    const spec = manifest.batches[b];
    const buf = fs.readFileSync(path.join(dir, spec.file));
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, spec.shape)};
    let result;
    for (let r = 0; r < warmup + Math.max(repeat, 1); ++r) {
      const t0 = process.hrtime.bigint();
      result = await session.run(feeds);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (repeat > 0 && r >= warmup) timing.push(ms);
    }
    const shapes = {};
    for (const name of session.outputNames) {
      const t = result[name];
      fs.writeFileSync(path.join(dir, `out${b}_${name}.bin`), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      shapes[name] = t.dims;
    }
    outputs.push(shapes);
  }
  fs.writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify({outputs: session.outputNames, batches: outputs}));
  if (repeat > 0) fs.writeFileSync(path.join(dir, 'timing.json'), JSON.stringify(timing));
}

main().catch((e) => {
  console.error(`onnxruntime: ${e.message}`);
  process.exit(1);
});
