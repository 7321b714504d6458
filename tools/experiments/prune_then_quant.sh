#!/usr/bin/env bash
# Pruning, then quantization, of the fashion SSDLite-MobileNetV3-Small, in
# PaddleSlim's order, with AP and ONNX Runtime latency side by side:
#   float; float + PTQ; float given the same 1,000 fine-tuning steps as the
#   pruned model (the fair baseline); pruned by sensitivity (6 expand convs,
#   --max_loss 0.05, kept channels rounded to 8) + 1,000 steps; that model
#   + PTQ; that model + 500 QAT steps at lr 1e-4.
# Every quantized file is verified in ONNX Runtime before it is timed.
#
#   bash tools/experiments/prune_then_quant.sh [FLOAT_WEIGHTS]
#
# FLOAT_WEIGHTS defaults to output/fashion/ssdlite_mobilenet_v3_small/model_final.pt
# (`compress train -c configs/fashion/ssdlite_mobilenet_v3_small.yml --eval`);
# runs go under OUT (default output/prune_then_quant). A rerun reuses the
# sensitivity measurements. About 20 minutes on one thread.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
W=${1:-output/fashion/ssdlite_mobilenet_v3_small/model_final.pt}
OUT=${OUT:-output/prune_then_quant}
need_file "$W" "float weights"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CFG=configs/fashion/ssdlite_mobilenet_v3_small.yml
C=(build/compress)
T=(-o "threads=$OMP_NUM_THREADS")
mkdir -p "$OUT"

run sensitivity sensitivity -c $CFG "${T[@]}" -o "pretrain_weights=$W" \
  --pruned_params 'backbone.blocks.*.expand.conv.weight' --ratios 0.25,0.5,0.75 --output "$OUT/sensitivity.json"
run pruned prune -c $CFG "${T[@]}" --sensitivities "$OUT/sensitivity.json" --max_loss 0.05 -o prune.round_to=8 \
  -o prune.max_iters=1000 -o snapshot_iter=1000 -o "pretrain_weights=$W" --run-dir "$OUT/pruned"
run float_ft train -c $CFG "${T[@]}" -o max_iters=1000 -o snapshot_iter=1000 -o "pretrain_weights=$W" \
  --run-dir "$OUT/float_ft"
run float_ptq quant -c $CFG "${T[@]}" --post -o "pretrain_weights=$W" --run-dir "$OUT/float_ptq"
run pruned_ptq quant -c $CFG "${T[@]}" --post -o "pretrain_weights=$OUT/pruned/model_final.pt" \
  --run-dir "$OUT/pruned_ptq"
run pruned_qat quant -c $CFG "${T[@]}" -o quant.max_iters=500 -o quant.base_lr=0.0001 -o snapshot_iter=500 \
  -o "pretrain_weights=$OUT/pruned/model_final.pt" --run-dir "$OUT/pruned_qat"

cp "$W" "$OUT/float.pt"
MODELS=(float float_ft float_ptq pruned pruned_ptq pruned_qat)
ONNX=()
printf '\n| model | AP | AP50 |\n| --- | --- | --- |\n'
for m in "${MODELS[@]}"; do
  w="$OUT/$m/model_final.pt"
  [ "$m" = float ] && w="$OUT/float.pt"
  run "eval_$m" eval -c $CFG "${T[@]}" -w "$w" --out "$OUT/$m.stats.json"
  run "export_$m" export -c $CFG "${T[@]}" -w "$w" --output "$OUT/$m.onnx" --verify
  ap=$(grep -oE '"AP": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  ap50=$(grep -oE '"AP50": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  awk -v m="$m" -v a="$ap" -v b="$ap50" 'BEGIN { printf "| %s | %.2f | %.2f |\n", m, 100 * a, 100 * b }'
  ONNX+=(--onnx "$OUT/$m.onnx")
done
echo
"${C[@]}" --log-level warn bench onnx "${ONNX[@]}" --threads 1 --runs 50 --json "$OUT/latency.json"
