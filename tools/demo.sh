#!/usr/bin/env bash
# The main job on the bundled dataset: make fashion-det, pretrain the fashion
# SSDLite-MobileNetV3-Small recipe's backbone on Fashion-MNIST items, train and
# evaluate the detector from it, draw its detections and curves.
# Then QAT, ONNX export verified in ONNX Runtime, latency, pruning chosen by
# per-layer sensitivity, and the pruned model quantized. (The YOLOv3 prune-and-distill recipe needs hours of
# training here; its commands are in configs/fashion/README.md.)
# Set DEMO_ITERS to shorten the training (e.g. DEMO_ITERS=200 for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup/setup.sh
C=build/compress
CFG=configs/fashion/ssdlite_mobilenet_v3_small.yml
RUN=output/fashion/ssdlite_mobilenet_v3_small
OUT=output/demo
mkdir -p "$OUT"
ITERS=()
[ -n "${DEMO_ITERS:-}" ] && ITERS=(-o "max_iters=$DEMO_ITERS" -o "snapshot_iter=$DEMO_ITERS")

# 1. Data: 4000 train / 500 val images at 320 px, and a picture of them.
if [ ! -f data/fashion_det/annotations/instances_val.json ]; then
  $C data fashion-det --out data/fashion_det --image-size 320 --train 4000 --val 500 --seed 0
fi
$C data preview --anno data/fashion_det/annotations/instances_val.json --image-dir data/fashion_det/val \
  --out "$OUT/fashion_det_val.png" --count 8
# ...and what training feeds the model after its augmentations (expand, IoU crop,
# flip), and YOLOv3's mixed image pairs with each box's weight.
$C data preview -c "$CFG" --out "$OUT/ssdlite_small_train_batch.png" --count 8
$C data preview -c configs/fashion/yolov3_mobilenet_v3_mixup.yml --out "$OUT/yolov3_mixup_train_batch.png" --count 8
$C bench data -c configs/datasets/fashion_det.yml --batches 100 --json "$OUT/bench_data.json"

# 2. Pretrain the backbone as a Fashion-MNIST item classifier (this machine's
#    stand-in for the reference's ImageNet weights; its first crops and curves
#    are pictures too), then train SSDLite-MobileNetV3-Small from it (evaluating
#    at every snapshot), then evaluate the final weights.
PRE=()
[ -n "${DEMO_ITERS:-}" ] && PRE=(-o "pretrain.max_iters=$DEMO_ITERS" -o "pretrain.snapshot_iter=$DEMO_ITERS")
$C pretrain -c "$CFG" "${PRE[@]}"
cp "${RUN}_backbone/crops.png" "$OUT/pretrain_crops.png"
$C plot "${RUN}_backbone" --out "$OUT/pretrain_curves.png"
$C train -c "$CFG" --eval "${ITERS[@]}" -o "pretrain_weights=${RUN}_backbone/model_final.pt"
$C eval -c "$CFG" "${ITERS[@]}" -w "$RUN/model_final.pt" --out "$OUT/ssdlite_small_stats.json"

# 3. Pictures: detections on a validation image, and the loss/AP curves.
$C infer -c "$CFG" -w "$RUN/model_final.pt" --image data/fashion_det/val/000001.jpg --out "$OUT/ssdlite_small_det.png"
$C plot "$RUN" --out "$OUT/ssdlite_small_curves.png"

# 4. QAT with the reference's skip patterns (shortened with DEMO_ITERS), then both
#    models exported to ONNX, verified in ONNX Runtime, and timed side by side.
QITERS=()
[ -n "${DEMO_ITERS:-}" ] && QITERS=(-o "quant.max_iters=$DEMO_ITERS" -o "snapshot_iter=$DEMO_ITERS")
$C quant -c "$CFG" --not_quant_pattern res_conv1 se_block --eval "${QITERS[@]}" -o "pretrain_weights=$RUN/model_final.pt"
# Which convs int8 hurts most: the AP each recovers when it alone stays float
# (PTQ-calibrated, every other conv int8), as a JSON, a chart and a table.
# (A short smoke run analyses on the first 100 validation images.)
AOPTS=()
[ -n "${DEMO_ITERS:-}" ] && AOPTS=(-o EvalReader.dataset.sample_num=100)
$C quant -c "$CFG" --analyze "${AOPTS[@]}" -o "pretrain_weights=$RUN/model_final.pt" --run-dir "$OUT/quant_analysis"
$C export -c "$CFG" -w "$RUN/model_final.pt" --output "$OUT/ssdlite_small.onnx" --verify --with_postprocess
$C export -c "$CFG" -w "${RUN}_quant/model_final.pt" --output "$OUT/ssdlite_small_int8.onnx" --verify
$C bench onnx --onnx "$OUT/ssdlite_small.onnx" --onnx "$OUT/ssdlite_small_int8.onnx" -c "$CFG" \
  --weights "$RUN/model_final.pt" --weights "${RUN}_quant/model_final.pt" --threads 1 --json "$OUT/latency.json"
# Where ONNX Runtime spends the time, per op type (its profiler; separate runs,
# since profiling slows each node a little).
$C bench onnx --onnx "$OUT/ssdlite_small.onnx" --onnx "$OUT/ssdlite_small_int8.onnx" --threads 1 --profile \
  --json "$OUT/latency_profile.json"

# 5. Pruning: the sensitivity of the backbone's expand convs (JSON and a chart),
#    then, per layer, the largest ratio that keeps its AP loss under 5%, with
#    kept channels rounded to blocks of 8 (faster kernels; see docs/pruning.md),
#    fine-tuned, exported, verified and timed against the float model.
PITERS=(-o "prune.max_iters=${DEMO_ITERS:-500}" -o "snapshot_iter=${DEMO_ITERS:-500}")
$C sensitivity -c "$CFG" -o "pretrain_weights=$RUN/model_final.pt" --pruned_params 'backbone.blocks.*.expand.conv.weight' \
  --ratios 0.25,0.5,0.75 --output "$OUT/sensitivity.json" --plot "$OUT/sensitivity.png"
$C prune -c "$CFG" --sensitivities "$OUT/sensitivity.json" --max_loss 0.05 --eval "${PITERS[@]}" -o prune.round_to=8 \
  -o "pretrain_weights=$RUN/model_final.pt"
cp "${RUN}_prune/prune_report.png" "$OUT/prune_report.png"
$C export -c "$CFG" -w "${RUN}_prune/model_final.pt" --output "$OUT/ssdlite_small_pruned.onnx" --verify

# 6. Both, in PaddleSlim's order: the pruned model quantized (PTQ, calibration
#    only), exported, verified, and timed with the float and pruned models.
$C quant -c "$CFG" --post --eval -o "pretrain_weights=${RUN}_prune/model_final.pt" --run-dir "${RUN}_prune_ptq"
$C export -c "$CFG" -w "${RUN}_prune_ptq/model_final.pt" --output "$OUT/ssdlite_small_pruned_int8.onnx" --verify
$C bench onnx --onnx "$OUT/ssdlite_small.onnx" --onnx "$OUT/ssdlite_small_pruned.onnx" \
  --onnx "$OUT/ssdlite_small_pruned_int8.onnx" -c "$CFG" --weights "$RUN/model_final.pt" \
  --weights "${RUN}_prune/model_final.pt" --weights "${RUN}_prune_ptq/model_final.pt" --threads 1 \
  --json "$OUT/latency_pruned.json"
# Where each compression step lost AP: per category, the float, QAT, pruned and
# pruned-int8 models side by side (a table and a chart).
$C eval -c "$CFG" "${ITERS[@]}" --classwise --plot "$OUT/per_class_ap.png" --out "$OUT/per_class_ap.json" \
  -w "$RUN/model_final.pt" -w "${RUN}_quant/model_final.pt" -w "${RUN}_prune/model_final.pt" \
  -w "${RUN}_prune_ptq/model_final.pt"
# What the phone would see: the float, pruned and pruned-int8 models (the last
# as its ONNX file in ONNX Runtime) side by side on three val images.
$C infer -c "$CFG" -w "$RUN/model_final.pt" --compare "${RUN}_prune/model_final.pt" \
  --onnx "$OUT/ssdlite_small_pruned_int8.onnx" --draw-threshold 0.15 --out "$OUT/compare.png" \
  --image data/fashion_det/val/000001.jpg --image data/fashion_det/val/000002.jpg --image data/fashion_det/val/000003.jpg
echo "demo outputs in $OUT"
