#!/usr/bin/env bash
# The main job on the bundled dataset: make fashion-det, look at it, measure the
# data pipeline, and evaluate with the COCO evaluator. Later stages (training,
# QAT, pruning, distillation, export) join this script as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
C=build/compress
OUT=output/demo
mkdir -p "$OUT"

if [ ! -f data/fashion_det/annotations/instances_val.json ]; then
  $C data fashion-det --out data/fashion_det --image-size 320 --train 4000 --val 500 --seed 0
fi
$C data preview --anno data/fashion_det/annotations/instances_val.json --image-dir data/fashion_det/val \
  --out "$OUT/fashion_det_val.png" --count 8
$C bench data -c configs/datasets/fashion_det.yml --batches 100 --json "$OUT/bench_data.json"
# The evaluator against the reference's public golden case (pycocotools numbers).
if [ -d ../shared/golden/coco_eval ]; then
  $C eval --gt ../shared/golden/coco_eval/public_a_gt.json --dets ../shared/golden/coco_eval/public_a_dets.json \
    --out "$OUT/golden_a_stats.json"
fi
echo "demo outputs in $OUT"
