#!/usr/bin/env bash
# Pruned vs unpruned YOLOv3-MobileNetV3 (COCO recipe, 80 classes) at 320 px,
# side by side in one run: the reference's head list and ratios with FPGM,
# both exported to ONNX, timed in ONNX Runtime and in LibTorch (median of
# --runs after warm-up). Latency does not depend on the weights' values, so the
# models are randomly initialised (no COCO training here).
# Usage: tools/bench/bench_prune.sh [THREADS=1] [RUNS=20]
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
THREADS=${1:-1}
RUNS=${2:-20}
OUT=output/bench/prune
CFG=configs/yolov3_mobilenet_v3.yml
mkdir -p "$OUT"
P=""
R=""
for b in 0 1 2; do
  for l in 0.0 0.1 1.0 1.1 2 tip; do
    P+="${P:+,}yolo_block.$b.$l.conv.weights"
    if [ "$b" = 2 ]; then R+="${R:+,}0.875"; else R+="${R:+,}0.75"; fi
  done
done
C=(-c "$CFG" -o use_gpu=false -o max_iters=0 -o "threads=$THREADS")
# Ratio 0 prunes nothing: the unpruned model saved the same way.
build/compress --log-level warn prune "${C[@]}" --pruned_params yolo_block.0.0.0.conv.weights --pruned_ratios 0 \
  --run-dir "$OUT/full"
build/compress --log-level warn prune "${C[@]}" --pruned_params "$P" --pruned_ratios "$R" \
  --prune_criterion geometry_median --run-dir "$OUT/pruned" | tail -3
for m in full pruned; do
  build/compress --log-level warn export -c "$CFG" -o use_gpu=false -w "$OUT/$m/model_final.pt" --format onnx \
    --output "$OUT/$m.onnx" --input 320
done
build/compress --log-level warn bench onnx --onnx "$OUT/full.onnx" --onnx "$OUT/pruned.onnx" -c "$CFG" -o use_gpu=false \
  --weights "$OUT/full/model_final.pt" --weights "$OUT/pruned/model_final.pt" --threads "$THREADS" --runs "$RUNS" \
  --json "$OUT/latency.json"
