#!/usr/bin/env bash
# Quantization of a trained fashion SSDLite-MobileNetV3 under the quantization
# plan (issue 25's rows), with AP, the per-layer verification and ONNX Runtime
# latency side by side. From one float model:
#   ptq_skip  PTQ (quant.calib_batches), res_conv1 and se_block float
#   ptq_all   PTQ, every conv int8
#   qat_skip  QAT (the recipe's quant.max_iters at quant.base_lr), res_conv1 and se_block float
#   qat_all   QAT, every conv int8
#   ctrl      the same steps in float at the same learning rate: what the extra
#             steps alone give (QAT's control)
# Every model is exported and verified layer by layer in ONNX Runtime and in the
# oneDNN runtime (`export --verify --runtime ort,onednn`); the verification
# tables go to $OUT/verify_*.md. Each file is then scored on the whole
# EvalReader in both engines (`eval --onnx`), and float, qat_skip and qat_all
# are timed on one thread at 320 px in both.
#
#   bash tools/experiments/ssdlite_quant.sh small|large FLOAT_WEIGHTS
#
# FLOAT_WEIGHTS: a trained fashion SSDLite of that size (`compress train -c
# configs/fashion/ssdlite_mobilenet_v3_SIZE.yml --eval [-o pretrain_weights=BACKBONE]`).
# Runs go under OUT (default output/ssdlite_quant_SIZE); a run whose
# model_final.pt exists is not run again. About 60 (Small) / 90 (Large) minutes
# on one thread.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
[ $# = 2 ] || usage "bash tools/experiments/ssdlite_quant.sh small|large FLOAT_WEIGHTS"
case "$1" in small | large) ;; *) usage "the size is 'small' or 'large', not '$1'" ;; esac
need_file "$2" "float weights"
OUT=${OUT:-output/ssdlite_quant_$1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
CFG=configs/fashion/ssdlite_mobilenet_v3_$1.yml
T=(-o "threads=$OMP_NUM_THREADS")
SKIP=(--not_quant_pattern res_conv1 se_block)
ALL=(-o "quant.not_quant_pattern=[]")
mkdir -p "$OUT"
made() { [ -f "$OUT/$1/model_final.pt" ]; }
# The recipe's QAT length and learning rate, for the float control.
qat_iters=$(build/compress config show -c $CFG | awk '/^quant:/ { q = 1 } q && /max_iters:/ { print $2; exit }')
qat_lr=$(build/compress config show -c $CFG | awk '/^quant:/ { q = 1 } q && /base_lr:/ { print $2; exit }')
[ -n "$qat_iters" ] && [ -n "$qat_lr" ] || die "cannot read quant.max_iters / quant.base_lr from $CFG"

cp "$2" "$OUT/float.pt"
W=(-o "pretrain_weights=$OUT/float.pt")
made ptq_skip || run ptq_skip quant -c $CFG "${T[@]}" --post "${SKIP[@]}" "${W[@]}" --run-dir "$OUT/ptq_skip"
made ptq_all || run ptq_all quant -c $CFG "${T[@]}" --post "${ALL[@]}" "${W[@]}" --run-dir "$OUT/ptq_all"
made qat_skip || run qat_skip quant -c $CFG "${T[@]}" "${SKIP[@]}" "${W[@]}" -o "snapshot_iter=$qat_iters" \
  --run-dir "$OUT/qat_skip"
made qat_all || run qat_all quant -c $CFG "${T[@]}" "${ALL[@]}" "${W[@]}" -o "snapshot_iter=$qat_iters" \
  --run-dir "$OUT/qat_all"
made ctrl || run ctrl train -c $CFG "${T[@]}" "${W[@]}" -o "max_iters=$qat_iters" -o "LearningRate.base_lr=$qat_lr" \
  -o "snapshot_iter=$qat_iters" --run-dir "$OUT/ctrl"

weights() { if [ "$1" = float ]; then echo "$OUT/float.pt"; else echo "$OUT/$1/model_final.pt"; fi; }
printf '\n| model | AP | AP50 |\n| --- | --- | --- |\n'
for m in float ptq_skip ptq_all qat_skip qat_all ctrl; do
  run "eval_$m" eval -c $CFG "${T[@]}" -w "$(weights $m)" --out "$OUT/$m.stats.json"
  ap=$(grep -oE '"AP": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  ap50=$(grep -oE '"AP50": [0-9.e-]+' "$OUT/$m.stats.json" | sed 's/.*: //')
  awk -v m="$m" -v a="$ap" -v b="$ap50" 'BEGIN { printf "| %s | %.2f | %.2f |\n", m, 100 * a, 100 * b }'
done
ONNX=()
for m in float ptq_skip ptq_all qat_skip qat_all; do
  run "export_$m" export -c $CFG "${T[@]}" -w "$(weights $m)" --output "$OUT/$m.onnx" --verify --runtime ort,onednn
  # The verification's Markdown tables (the per-layer summary and its worst rows).
  grep -E '^\|' "$OUT/export_$m.log" > "$OUT/verify_$m.md" || true
  echo
  echo "## $m: export --verify"
  cat "$OUT/verify_$m.md"
  case $m in float | qat_skip | qat_all)
    run "export320_$m" export -c $CFG "${T[@]}" -w "$(weights $m)" --output "$OUT/${m}_320.onnx" --input 320
    ONNX+=(--onnx "$OUT/${m}_320.onnx") ;;
  esac
done
printf '\n| file | engine | AP (whole EvalReader) |\n| --- | --- | --- |\n'
for m in float ptq_skip ptq_all qat_skip qat_all; do
  for rt in ort onednn; do
    run "eval_onnx_${m}_$rt" eval -c $CFG "${T[@]}" --onnx "$OUT/$m.onnx" --runtime $rt --out "$OUT/$m.$rt.stats.json"
    ap=$(grep -oE '"AP": [0-9.e-]+' "$OUT/$m.$rt.stats.json" | sed 's/.*: //')
    awk -v m="$m" -v r="$rt" -v a="$ap" 'BEGIN { printf "| %s | %s | %.2f |\n", m, r, 100 * a }'
  done
done
echo
build/compress --log-level warn bench onnx "${ONNX[@]}" --runtime ort,onednn --threads 1,2 --runs 50 \
  --json "$OUT/latency.json"
