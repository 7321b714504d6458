#!/usr/bin/env bash
# The reference's latency table, in its layout, measured on this machine:
# every row's model exported from its recipe and timed in ONNX Runtime and in
# the oneDNN runtime (compress/runtime) at 1 and 2 threads, median of RUNS,
# with the reference's Snapdragon 625 figures (Paddle-Lite, 1 thread) beside
# them for scale. The Quant rows, which the reference leaves empty, are filled.
#
#   bash tools/bench/latency_table.sh [RUNS]        (default 30; ~25 min on 2 cores)
#
# Rows: SSDLite-MobileNetV3 Large / Small (float, and int8 by PTQ), YOLOv3-
# MobileNetV3 (float, int8, pruned by the reference's head recipe, pruned + int8),
# Cascade R-CNN MobileNetV3-FPN at 320 and 640. The models are the fashion
# recipes (configs/fashion/: the reference's networks with 10 classes, so the
# class heads are narrower than COCO's 80), exported at 320 px (Cascade R-CNN
# also 640). Weights: 100 iterations of each recipe (Cascade R-CNN: its
# initialisation), calibrated on 2 batches of the bundled data for int8. The
# dense graphs' time does not depend on the weights' quality (untrained, some
# SSDLite head convs see only zeros, an output grid QDQ cannot express, hence
# the 100 iterations); Cascade R-CNN's depends on its proposal count, which
# untrained weights drive to the cap (post_nms_top_n), its worst case.
#
# Needs the bundled data (data/fashion_det; see README). Writes under OUT
# (default output/latency_table): the exported files, bench.json, table.md.
# PREPARE_ONLY=1 makes the files and stops before timing them.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
RUNS=${1:-30}
[[ "$RUNS" =~ ^[0-9]+$ ]] && [ "$RUNS" -ge 1 ] || usage "bash tools/bench/latency_table.sh [RUNS >= 1]"
[ -f data/fashion_det/annotations/instances_train.json ] ||
  die "data/fashion_det is missing: build/compress data fashion-det --out data/fashion_det --image-size 192 --train 4000 --val 500 --seed 0"
OUT=${OUT:-output/latency_table}
mkdir -p "$OUT"
export OMP_NUM_THREADS=2
C=configs/fashion
CAL=(-o quant.calib_batches=2 -o "quant.not_quant_pattern=[]")
# SSDLite at 320 px in both readers (its priors follow).
SSD320=(-o TrainReader.sample_transforms.ResizeImage.target_size=320
  -o EvalReader.sample_transforms.ResizeImage.target_size=320)

# float checkpoint: init NAME RECIPE ITERATIONS (the recipe's schedule cut short)
init() {
  [ -f "$OUT/$1/model_final.pt" ] ||
    run "init_$1" train -c "$2" -o "max_iters=$3" -o "snapshot_iter=$3" -o log_iter=50 --run-dir "$OUT/$1"
}
# int8 by PTQ: ptq NAME RECIPE FLOAT_WEIGHTS [OVERRIDES...]
ptq() {
  local name=$1 recipe=$2 w=$3
  shift 3
  [ -f "$OUT/$name/model_final.pt" ] ||
    run "ptq_$name" quant -c "$recipe" "$@" --post "${CAL[@]}" -o "pretrain_weights=$w" --run-dir "$OUT/$name"
}
# export NAME RECIPE WEIGHTS SIZE [OVERRIDES...]
onnx() {
  local name=$1 recipe=$2 w=$3 size=$4
  shift 4
  [ -f "$OUT/$name.onnx" ] || run "export_$name" export -c "$recipe" "$@" -w "$w" --output "$OUT/$name.onnx" --input "$size"
}

init ssd_large $C/ssdlite_mobilenet_v3_large.yml 100
init ssd_small $C/ssdlite_mobilenet_v3_small.yml 100
init yolo $C/yolov3_mobilenet_v3.yml 100
init cascade $C/cascade_rcnn_mobilenet_v3_large_fpn.yml 0
ptq ssd_large_int8 $C/ssdlite_mobilenet_v3_large.yml "$OUT/ssd_large/model_final.pt" "${SSD320[@]}"
ptq ssd_small_int8 $C/ssdlite_mobilenet_v3_small.yml "$OUT/ssd_small/model_final.pt" "${SSD320[@]}"
# The reference's head recipe (18 yolo_block convs at 0.75 / 0.875, FPGM), no fine-tuning.
[ -f "$OUT/yolo_prune/model_final.pt" ] ||
  run prune_yolo prune -c $C/yolov3_mobilenet_v3_prune_distill.yml -o "pretrain_weights=$OUT/yolo/model_final.pt" \
    -o prune.max_iters=0 -o max_iters=0 --run-dir "$OUT/yolo_prune"
ptq yolo_int8 $C/yolov3_mobilenet_v3.yml "$OUT/yolo/model_final.pt"
ptq yolo_prune_int8 $C/yolov3_mobilenet_v3_prune_distill.yml "$OUT/yolo_prune/model_final.pt"
# The named option quant.round_after_activation (h-swish / leaky ReLU part of
# the int8 conv, rounded after it): the same calibration, its own rows.
RAA=(-o quant.round_after_activation=true)
ptq ssd_large_int8_raa $C/ssdlite_mobilenet_v3_large.yml "$OUT/ssd_large/model_final.pt" "${SSD320[@]}" "${RAA[@]}"
ptq yolo_prune_int8_raa $C/yolov3_mobilenet_v3_prune_distill.yml "$OUT/yolo_prune/model_final.pt" "${RAA[@]}"

onnx ssd_large $C/ssdlite_mobilenet_v3_large.yml "$OUT/ssd_large/model_final.pt" 320 "${SSD320[@]}"
onnx ssd_large_int8 $C/ssdlite_mobilenet_v3_large.yml "$OUT/ssd_large_int8/model_final.pt" 320 "${SSD320[@]}"
onnx ssd_small $C/ssdlite_mobilenet_v3_small.yml "$OUT/ssd_small/model_final.pt" 320 "${SSD320[@]}"
onnx ssd_small_int8 $C/ssdlite_mobilenet_v3_small.yml "$OUT/ssd_small_int8/model_final.pt" 320 "${SSD320[@]}"
onnx yolo $C/yolov3_mobilenet_v3.yml "$OUT/yolo/model_final.pt" 320
onnx yolo_int8 $C/yolov3_mobilenet_v3.yml "$OUT/yolo_int8/model_final.pt" 320
onnx yolo_prune $C/yolov3_mobilenet_v3_prune_distill.yml "$OUT/yolo_prune/model_final.pt" 320
onnx yolo_prune_int8 $C/yolov3_mobilenet_v3_prune_distill.yml "$OUT/yolo_prune_int8/model_final.pt" 320
onnx ssd_large_int8_raa $C/ssdlite_mobilenet_v3_large.yml "$OUT/ssd_large_int8_raa/model_final.pt" 320 "${SSD320[@]}"
onnx yolo_prune_int8_raa $C/yolov3_mobilenet_v3_prune_distill.yml "$OUT/yolo_prune_int8_raa/model_final.pt" 320
onnx cascade_320 $C/cascade_rcnn_mobilenet_v3_large_fpn.yml "$OUT/cascade/model_final.pt" 320
onnx cascade_640 $C/cascade_rcnn_mobilenet_v3_large_fpn.yml "$OUT/cascade/model_final.pt" 640

# PREPARE_ONLY=1: stop here, with every file made (the timing can then wait
# for a quiet machine; a second run skips what exists and only times).
if [ "${PREPARE_ONLY:-0}" = 1 ]; then
  echo "files ready under $OUT; timing skipped (PREPARE_ONLY=1)"
  exit 0
fi

ROWS=(ssd_large ssd_large_int8 ssd_large_int8_raa ssd_small ssd_small_int8 yolo yolo_int8 yolo_prune yolo_prune_int8
  yolo_prune_int8_raa cascade_320 cascade_640)
ARGS=()
for r in "${ROWS[@]}"; do ARGS+=(--onnx "$OUT/$r.onnx"); done
run bench bench onnx "${ARGS[@]}" --runtime ort,onednn --threads 1,2 --runs "$RUNS" --rounds 5 --warmup 3 --json "$OUT/bench.json"

# The table: one row per model, the reference's layout and phone figures.
python3 - "$OUT" <<'EOF' | tee "$OUT/table.md"
import json, sys
out = sys.argv[1]
rows = json.load(open(f"{out}/bench.json"))
ms = {(r["model"].split("/")[-1][:-5], r["engine"], r["threads"]): r for r in rows}
layout = [  # (file, the reference's row, its Snapdragon 625 ms at 1 thread)
    ("ssd_large", "SSDLite Large", "289"), ("ssd_large_int8", "SSDLite Large Quant", "-"),
    ("ssd_large_int8_raa", "SSDLite Large Quant, round after activation", "-"),
    ("ssd_small", "SSDLite Small", "123"), ("ssd_small_int8", "SSDLite Small Quant", "-"),
    ("yolo", "YOLOv3 baseline", "1082.5"), ("yolo_int8", "YOLOv3 baseline + int8", "-"),
    ("yolo_prune", "YOLOv3 prune", "253.98"),
    ("yolo_prune_int8", "YOLOv3 prune + int8", "-"),
    ("yolo_prune_int8_raa", "YOLOv3 prune + int8, round after activation", "-"),
    ("cascade_320", "Cascade R-CNN 320", "-"), ("cascade_640", "Cascade R-CNN 640", "-"),
]
print("| model | precision | ORT 1 thr. (ms) | ORT 2 thr. | oneDNN 1 thr. | oneDNN 2 thr. | oneDNN vs ORT (1 thr.) "
      "| load ORT / oneDNN (ms) | peak memory added ORT / oneDNN (MiB) | reference, Snapdragon 625, 1 thr. (ms) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for f, name, phone in layout:
    g = lambda e, t: ms[(f, e, t)]
    prec = "int8" if "int8" in f else "float"
    o1, o2, d1, d2 = g("onnxruntime", 1), g("onnxruntime", 2), g("onednn", 1), g("onednn", 2)
    print(f"| {name} | {prec} | {o1['median_ms']:.2f} | {o2['median_ms']:.2f} | {d1['median_ms']:.2f} | "
          f"{d2['median_ms']:.2f} | {d1['median_ms'] / o1['median_ms']:.2f}x | "
          f"{o1['load_ms']:.0f} / {d1['load_ms']:.0f} | {o1['peak_added_mib']:.0f} / {d1['peak_added_mib']:.0f} | {phone} |")
def r(a, b, e, t):
    return ms[(a, e, t)]["median_ms"] / ms[(b, e, t)]["median_ms"]
print()
def ms1(f, e, t=1):
    return ms[(f, e, t)]["median_ms"]
def fastest_float(f, t=1):
    return min(ms1(f, "onnxruntime", t), ms1(f, "onednn", t))
checks = [
    ("int8 SSDLite-Large (oneDNN) / ORT float", ms1("ssd_large_int8", "onednn") / ms1("ssd_large", "onnxruntime"), 0.45),
    ("int8 SSDLite-Large (oneDNN) / oneDNN float", ms1("ssd_large_int8", "onednn") / ms1("ssd_large", "onednn"), 0.40),
    ("int8 YOLOv3 (oneDNN) / fastest float", ms1("yolo_int8", "onednn") / fastest_float("yolo"), 0.50),
    ("int8 pruned YOLOv3 (oneDNN) / fastest pruned float", ms1("yolo_prune_int8", "onednn") / fastest_float("yolo_prune"), 0.50),
    ("round_after_activation: int8 SSDLite-Large (oneDNN) / ORT float",
     ms1("ssd_large_int8_raa", "onednn") / ms1("ssd_large", "onnxruntime"), 0.45),
    ("round_after_activation: int8 SSDLite-Large (oneDNN) / oneDNN float",
     ms1("ssd_large_int8_raa", "onednn") / ms1("ssd_large", "onednn"), 0.40),
    ("round_after_activation: int8 pruned YOLOv3 (oneDNN) / fastest pruned float",
     ms1("yolo_prune_int8_raa", "onednn") / fastest_float("yolo_prune"), 0.50),
]
print()
print("Targets (1 thread; ratio, target, met):")
print()
for name, v, target in checks:
    print(f"- {name}: {v:.2f}x (<= {target:.2f}) {'yes' if v <= target else 'NO'}")
for e, label in (("onednn", "oneDNN runtime"), ("onnxruntime", "ONNX Runtime")):
    slower = [f for f, _, _ in layout if ms1(f, e, 2) >= ms1(f, e, 1)]
    print(f"- {label}, 2 threads not faster than 1: " + (", ".join(slower) if slower else "none"))
more = [f for f, _, _ in layout if ms[(f, "onednn", 1)]["peak_added_mib"] > ms[(f, "onnxruntime", 1)]["peak_added_mib"]]
print("- oneDNN runtime adds more peak memory than ORT: " + (", ".join(more) if more else "none"))
EOF
