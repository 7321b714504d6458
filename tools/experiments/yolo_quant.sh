#!/usr/bin/env bash
# Quantization of the fashion YOLOv3-MobileNetV3, unpruned and pruned, with AP
# and ONNX Runtime latency side by side: for each of the two float models, PTQ
# and 500 QAT steps at lr 1e-4, each with every conv int8 and with the
# reference's YOLOv3 setting `--not_quant_pattern yolo_output` (the three 1x1
# output convs float; suffix _yo), and the same 500 steps in float (QAT's
# control: what the extra steps alone give). The float and QAT models are
# exported at 320 px (the reference's input), verified in ONNX Runtime and
# timed on one thread.
#
#   bash tools/experiments/yolo_quant.sh FULL_WEIGHTS PRUNED_WEIGHTS
#
# FULL_WEIGHTS: a trained fashion YOLOv3 (`compress train -c
# configs/fashion/yolov3_mobilenet_v3.yml --eval`); PRUNED_WEIGHTS: a pruned and
# fine-tuned one (`compress prune -c configs/fashion/yolov3_mobilenet_v3_prune_distill.yml
# --eval -o pretrain_weights=...`). Runs go under OUT (default output/yolo_quant);
# a run whose model_final.pt exists is not run again. About 45 minutes on one thread.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
[ $# = 2 ] || usage "bash tools/experiments/yolo_quant.sh FULL_WEIGHTS PRUNED_WEIGHTS"
for f in "$1" "$2"; do need_file "$f" weights; done
OUT=${OUT:-output/yolo_quant}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CFG=configs/fashion/yolov3_mobilenet_v3_prune_distill.yml
T=(-o "threads=$OMP_NUM_THREADS")
mkdir -p "$OUT"
made() { [ -f "$OUT/$1/model_final.pt" ]; }

cp "$1" "$OUT/full.pt"
cp "$2" "$OUT/pruned.pt"
for m in full pruned; do
  W=(-o "pretrain_weights=$OUT/$m.pt")
  for yo in "" _yo; do
    skip=(-o "quant.not_quant_pattern=[]")  # the recipe keeps yolo_output float, as the reference
    [ -n "$yo" ] && skip=(--not_quant_pattern yolo_output)
    made "${m}_ptq$yo" || run "${m}_ptq$yo" quant -c $CFG "${T[@]}" --post "${skip[@]}" "${W[@]}" --run-dir "$OUT/${m}_ptq$yo"
    made "${m}_qat$yo" || run "${m}_qat$yo" quant -c $CFG "${T[@]}" "${skip[@]}" "${W[@]}" -o quant.max_iters=500 \
      -o quant.base_lr=0.0001 -o snapshot_iter=500 --run-dir "$OUT/${m}_qat$yo"
  done
  made "${m}_ctrl" || run "${m}_ctrl" train -c $CFG "${T[@]}" "${W[@]}" -o max_iters=500 -o LearningRate.base_lr=0.0001 \
    -o snapshot_iter=500 --run-dir "$OUT/${m}_ctrl"
done

printf '\n| model | AP | AP50 |\n| --- | --- | --- |\n'
for m in full full_ptq full_qat full_ptq_yo full_qat_yo full_ctrl pruned pruned_ptq pruned_qat pruned_ptq_yo pruned_qat_yo pruned_ctrl; do
  w="$OUT/$m/model_final.pt"
  [ -f "$OUT/$m.pt" ] && w="$OUT/$m.pt"
  run "eval_$m" eval -c $CFG "${T[@]}" -w "$w" --out "$OUT/$m.stats.json"
  ap=$(grep -oE '"AP": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  ap50=$(grep -oE '"AP50": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  awk -v m="$m" -v a="$ap" -v b="$ap50" 'BEGIN { printf "| %s | %.2f | %.2f |\n", m, 100 * a, 100 * b }'
done
echo
ONNX=()
for m in full full_qat full_qat_yo pruned pruned_qat pruned_qat_yo; do
  w="$OUT/$m/model_final.pt"
  [ -f "$OUT/$m.pt" ] && w="$OUT/$m.pt"
  run "export_$m" export -c $CFG "${T[@]}" -w "$w" --output "$OUT/$m.onnx" --input 320 --verify
  ONNX+=(--onnx "$OUT/$m.onnx")
done
build/compress --log-level warn bench onnx "${ONNX[@]}" --threads 1 --runs 50 --json "$OUT/latency.json"
