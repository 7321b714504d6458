#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (CPU) on raw float32 inputs, for
// `compress export --verify` and `compress bench --onnx`.
//
//   node tools/ort/run.js MODEL.onnx DIR [--threads N] [--repeat R] [--warmup W] [--profile]
//
// DIR/manifest.json: {"batches": [{"file": "in0.bin", "shape": [N, 3, H, W]}, ...]}
// Each batch feeds the model's first input. Outputs are written as
// DIR/out<i>_<name>.bin (float32, little endian) and DIR/outputs.json lists
// their shapes; with --repeat, each batch runs W + R times and the per-run
// milliseconds go to DIR/timing.json, and DIR/memory.json gets the session's
// creation time and this process's resident memory before it and at its peak
// (MiB; node's own peak before the session counts in the latter, a few MiB).
// With --profile, ONNX Runtime's profiler
// runs too and DIR/profile.json gets the kernel time per op type per timed run
// ([{op, ms, nodes}], slowest first). COMPRESS_ORT_SAVE_OPTIMIZED=FILE saves the
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
  // Exact int8 on x86 CPUs without VNNI (AVX2 only): ORT's u8 x s8 kernels
  // there sum products in pairs into saturating int16 (vpmaddubsw), so a
  // full-range int8 conv can be many steps off (measured: 3-10% of conv1's
  // codes, up to 26 steps). This option turns the weights into u8 on such CPUs
  // and changes nothing where VNNI exists. COMPRESS_ORT_X64_PRECISION=0 runs
  // ORT's default instead (to show the saturation).
  if (process.env.COMPRESS_ORT_X64_PRECISION !== '0') options.extra = {session: {x64quantprecision: '1'}};
  // The graph as ONNX Runtime runs it (which QDQ groups became int8 kernels).
  if (process.env.COMPRESS_ORT_SAVE_OPTIMIZED) options.optimizedModelFilePath = process.env.COMPRESS_ORT_SAVE_OPTIMIZED;
  const profile = process.argv.includes('--profile');
  if (profile) Object.assign(options, {enableProfiling: true, profileFilePrefix: path.join(dir, 'ort_profile')});
  const rss0 = process.memoryUsage().rss;
  const t_load = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, options);
  const load_ms = Number(process.hrtime.bigint() - t_load) / 1e6;
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
  if (repeat > 0) {
    fs.writeFileSync(path.join(dir, 'timing.json'), JSON.stringify(timing));
    const mib = 1024 * 1024;
    fs.writeFileSync(path.join(dir, 'memory.json'), JSON.stringify({
      load_ms, rss_before_mib: rss0 / mib, peak_rss_mib: process.resourceUsage().maxRSS * 1024 / mib,
    }));
  }
  if (profile) {
    await session.endProfiling();  // writes <profileFilePrefix>_<date>.json
    const file = fs.readdirSync(dir).find((f) => f.startsWith('ort_profile') && f.endsWith('.json'));
    if (!file) throw new Error('the profiler wrote no file');
    writeProfile(path.join(dir, file), dir, warmup);
  }
}

// Sums the profiler's per-node kernel times by op type over the timed runs of
// one batch, as `compress bench` feeds (each run is one "model_run" event; the
// first `warmup` runs are left out by keeping only events after they end).
function writeProfile(file, dir, warmup) {
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const runs = events.filter((e) => e.name === 'model_run');
  const start = warmup > 0 && runs.length > warmup ? runs[warmup - 1].ts + runs[warmup - 1].dur : -1;
  const timed = runs.filter((e) => e.ts > start).length;
  const byOp = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts <= start) continue;
    const op = (e.args && e.args.op_name) || 'unknown';
    const t = byOp.get(op) || {us: 0, count: 0};
    t.us += e.dur;
    t.count += 1;
    byOp.set(op, t);
  }
  const rows = [...byOp].map(([op, t]) => ({op, ms: t.us / 1000 / timed, nodes: Math.round(t.count / timed)}));
  rows.sort((a, b) => b.ms - a.ms);
  fs.writeFileSync(path.join(dir, 'profile.json'), JSON.stringify(rows));
}

main().catch((e) => {
  console.error(`onnxruntime: ${e.message}`);
  process.exit(1);
});
