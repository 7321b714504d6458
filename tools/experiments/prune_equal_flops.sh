#!/usr/bin/env bash
# Sensitivity-chosen against uniform pruning of the fashion SSDLite-MobileNetV3-
# Small's expand convs at the same FLOPs, both fine-tuned the same 1,000 steps:
#   sensitivity: `prune --sensitivities S --pruned_flops TARGET` (per-layer ratios
#     from the measured AP losses, kept channels rounded to 8);
#   uniform: one ratio for all 11 expand convs, the one (in steps of 0.01) whose
#     FLOPs come closest to the sensitivity-chosen model's.
# Prints AP right after pruning and after fine-tuning, per seed.
#
#   bash tools/experiments/prune_equal_flops.sh [FLOAT_WEIGHTS] [TARGET] [SEEDS...]
#
# FLOAT_WEIGHTS defaults to output/fashion/ssdlite_mobilenet_v3_small/model_final.pt,
# TARGET to 0.3, SEEDS to 0. The sensitivity file is OUT/sensitivity.json (OUT
# defaults to output/prune_equal_flops); a rerun reuses its measurements, as does
# pointing SENS at tools/experiments/prune_then_quant.sh's. About 5 minutes per run on one thread.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
W=${1:-output/fashion/ssdlite_mobilenet_v3_small/model_final.pt}
TARGET=${2:-0.3}
shift $(( $# > 2 ? 2 : $# ))
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0)
OUT=${OUT:-output/prune_equal_flops}
ITERS=${ITERS:-1000}  # fine-tuning steps (a smoke run may take 2)
SENS=${SENS:-$OUT/sensitivity.json}
need_file "$W" "float weights"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CFG=configs/fashion/ssdlite_mobilenet_v3_small.yml
C=(build/compress)
COMMON=(-c $CFG -o "threads=$OMP_NUM_THREADS" -o "pretrain_weights=$W" -o prune.round_to=8)
LAYERS='backbone.blocks.*.expand.conv.weight'
mkdir -p "$OUT"
removed() {  # a prune_report.json -> the share of FLOPs removed
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['flops']; print(1 - r['after'] / r['before'])" "$1"
}

[ -f "$SENS" ] || run sensitivity sensitivity -c $CFG -o "threads=$OMP_NUM_THREADS" -o "pretrain_weights=$W" \
  --pruned_params "$LAYERS" --ratios 0.25,0.5,0.75 --output "$SENS"
# The FLOPs the budget gives, then the uniform ratio nearest to them (no fine-tuning: a second each).
run plan_sens prune "${COMMON[@]}" --sensitivities "$SENS" --pruned_flops "$TARGET" -o prune.max_iters=0 -o max_iters=0 \
  --run-dir "$OUT/plan_sens"
want=$(removed "$OUT/plan_sens/prune_report.json")
best=""; best_gap=1
for r in $(seq 0.05 0.01 0.90); do
  run plan_uniform prune "${COMMON[@]}" --pruned_params "$LAYERS" --pruned_ratios "$r" -o prune.max_iters=0 \
    -o max_iters=0 --run-dir "$OUT/plan_uniform"
  got=$(removed "$OUT/plan_uniform/prune_report.json")
  gap=$(python3 -c "print(abs($got - $want))")
  if python3 -c "import sys; sys.exit(0 if $gap < $best_gap else 1)"; then best=$r; best_gap=$gap; fi
done
echo "sensitivity: --pruned_flops $TARGET removes $(python3 -c "print(round(100 * $want, 1))")% of the FLOPs;" \
  "uniform ratio $best is the nearest (FLOPs $(python3 -c "print(round(100 * $best_gap, 2))") points apart)"

printf '\n| pruning | seed | FLOPs removed | params | AP right after | AP after %s steps |\n| --- | --- | --- | --- | --- | --- |\n' "$ITERS"
for seed in "${SEEDS[@]}"; do
  for kind in sensitivity uniform; do
    if [ $kind = sensitivity ]; then args=(--sensitivities "$SENS" --pruned_flops "$TARGET"); else
      args=(--pruned_params "$LAYERS" --pruned_ratios "$best"); fi
    dir="$OUT/${kind}_s$seed"
    run "${kind}_s$seed" prune "${COMMON[@]}" "${args[@]}" -o "prune.max_iters=$ITERS" -o "snapshot_iter=$ITERS" \
      -o "seed=$seed" --eval --run-dir "$dir"
    python3 - "$dir" "$kind" "$seed" <<'PY'
import json, sys
d, kind, seed = sys.argv[1:]
r = json.load(open(d + "/prune_report.json"))
s = json.load(open(d + "/prune_summary.json"))
f, p = r["flops"], r["params"]
print(f"| {kind} | {seed} | {100 * (1 - f['after'] / f['before']):.1f}% | {p['after'] / 1e6:.2f} M "
      f"| {100 * s['ap_pruned']:.2f} | {100 * s['ap_finetuned_best']:.2f} |")
PY
  done
done
