#!/usr/bin/env bash
# Data-parallel scaling on this machine, side by side: fashion SSDLite-Small
# training for STEPS steps with 1 process (2 threads) and with 2 processes
# (1 thread each, per-process batch halved so the global batch is the same).
# Prints images/s over all ranks and the share of each step spent in the
# gradient all-reduce (median over logging windows after the first).
# Usage: tools/bench/bench_dist.sh [STEPS=40]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
STEPS=${1:-40}
CFG=configs/fashion/ssdlite_mobilenet_v3_small.yml
OUT=output/bench/dist
rm -rf "$OUT"
mkdir -p "$OUT"
COMMON=(-c "$CFG" -o "max_iters=$STEPS" -o log_iter=5 -o snapshot_iter=100000 -o TrainReader.worker_num=1)
build/compress --log-level warn train "${COMMON[@]}" -o threads=2 -o TrainReader.batch_size=16 --run-dir "$OUT/p1"
tools/dist_train.sh --master_port 29611 2 build/compress --log-level warn train "${COMMON[@]}" -o threads=1 \
  -o TrainReader.batch_size=8 --run-dir "$OUT/p2"
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def load(run):
    rows = [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl") if '"train"' in l][1:]
    ips = statistics.median(r["images_per_s"] for r in rows)
    share = statistics.median(r.get("comm_share", 0.0) for r in rows)
    return ips, share
(i1, _), (i2, s2) = load("p1"), load("p2")
print(f"| processes | images/s (all ranks) | all-reduce share of a step |\n|---|---|---|")
print(f"| 1 (2 threads) | {i1:.1f} | - |\n| 2 (1 thread each) | {i2:.1f} | {100 * s2:.1f}% |")
print(f"scaling 2 processes / 1 process: {i2 / i1:.2f}x")
json.dump({"p1_images_per_s": i1, "p2_images_per_s": i2, "p2_comm_share": s2}, open(f"{out}/dist.json", "w"))
PY
