#!/usr/bin/env bash
# A detector recipe trained from a pretrained backbone against the same recipe
# from scratch, same schedule and seed:
#   1. `compress pretrain -c RECIPE` (the backbone as a Fashion-MNIST classifier);
#   2. `compress train -c RECIPE --eval -o pretrain_weights=<its model_final.pt>`;
#   3. `compress train -c RECIPE --eval` (skipped when SCRATCH names a finished run).
# Prints the backbone's top-1 and both runs' AP at every evaluation.
#
#   bash tools/experiments/pretrained_vs_scratch.sh [RECIPE]
#
# RECIPE defaults to configs/fashion/yolov3_mobilenet_v3.yml. OUT (default
# output/pretrained_vs_scratch/<recipe name>) holds the runs and their logs.
# PRE_ITERS and ITERS shorten pretraining and training (a smoke run: 2 each).
# With the fashion YOLOv3 recipe at one thread: about 25 min of pretraining and
# 40-60 min per training run.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
CFG=${1:-configs/fashion/yolov3_mobilenet_v3.yml}
need_file "$CFG" recipe
NAME=$(basename "$CFG" .yml)
OUT=${OUT:-output/pretrained_vs_scratch/$NAME}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
C=(build/compress)
COMMON=(-c "$CFG" -o "threads=$OMP_NUM_THREADS")
[ -z "${ITERS:-}" ] || COMMON+=(-o "max_iters=$ITERS" -o "snapshot_iter=$ITERS")
mkdir -p "$OUT"
PRE=()
[ -z "${PRE_ITERS:-}" ] || PRE=(-o "pretrain.max_iters=$PRE_ITERS" -o "pretrain.snapshot_iter=$PRE_ITERS")
[ -f "$OUT/backbone/model_final.pt" ] || run pretrain pretrain "${COMMON[@]}" "${PRE[@]}" --run-dir "$OUT/backbone"
run pretrained train "${COMMON[@]}" --eval -o "pretrain_weights=$OUT/backbone/model_final.pt" --run-dir "$OUT/pretrained"
SCRATCH=${SCRATCH:-$OUT/scratch}
[ -f "$SCRATCH/model_final.pt" ] || run scratch train "${COMMON[@]}" --eval --run-dir "$SCRATCH"

python3 - "$OUT/backbone/metrics.jsonl" "$OUT/pretrained/metrics.jsonl" "$SCRATCH/metrics.jsonl" <<'PY'
import json, sys
def records(path, kind):
    return [r for r in map(json.loads, filter(str.strip, open(path))) if r.get("kind") == kind]
top1 = records(sys.argv[1], "eval")
print(f"backbone: top-1 {100 * top1[-1]['top1']:.1f}% on {top1[-1]['items']} t10k items after {top1[-1]['iter']} steps")
pre, scratch = (dict((r["iter"], r) for r in records(p, "eval")) for p in sys.argv[2:4])
print("\n| iteration | AP from the pretrained backbone | AP from scratch | AP50 pretrained | AP50 scratch |")
print("| --- | --- | --- | --- | --- |")
for it in sorted(set(pre) | set(scratch)):
    cell = lambda d, k: f"{100 * d[it][k]:.2f}" if it in d else ""
    print(f"| {it} | {cell(pre, 'AP')} | {cell(scratch, 'AP')} | {cell(pre, 'AP50')} | {cell(scratch, 'AP50')} |")
PY
